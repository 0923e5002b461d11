import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { openSse } from './helpers/sse.js';

/**
 * GraphQL over SSE as graphql-yoga serves it ("distinct connections" mode): POST /graphql with
 * `Accept: text/event-stream`; the response is a stream of `event: next` / `data: <ExecutionResult>`
 * blocks, ended by `event: complete`. No client library, so the wire format itself is under test.
 */

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id topic audience payload publishedAt publisher } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id topic publishedAt } }';

describe('GraphQL over SSE', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  const publisherFor = (audience: string) => token({ audience, subject: 'backend', scopes: ['publish'] });

  const publish = async (bearer: string, topic: string, payload: unknown) => {
    const response = await gql(herald.httpUrl, bearer, PUBLISH, { topic, payload });
    expect(response.errors).toBeUndefined();
    return response.data!.publish as { id: string; topic: string; publishedAt: string };
  };

  it('delivers a message published over HTTP as an `event: next` carrying the ExecutionResult', async () => {
    const audience = 'sse-deliver';
    const publisher = await publisherFor(audience);
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'orders/9' });
    expect(stream.status).toBe(200);
    expect(stream.contentType).toBe('text/event-stream');
    await waitForSubscribers(herald.app, audience, 'orders/9');

    const first = await publish(publisher, 'orders/9', { status: 'packed' });
    const second = await publish(publisher, 'orders/9', [1, 'two', null]);
    expect(await stream.next()).toEqual({
      event: 'next',
      data: {
        data: {
          topic: {
            id: first.id,
            topic: 'orders/9',
            audience,
            payload: { status: 'packed' },
            publishedAt: first.publishedAt,
            publisher: 'backend',
          },
        },
      },
    });
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { id: second.id, payload: [1, 'two', null] } } } });

    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 'orders/9', 0);
  });

  it('answers a subscription without a token with 401 and one UNAUTHENTICATED error event, then complete', async () => {
    const stream = await openSse(herald.httpUrl, undefined, ON_TOPIC, { name: 'orders/9' });
    expect(stream.status).toBe(401);
    expect(stream.contentType).toBe('text/event-stream');
    expect(await stream.rest()).toEqual([
      { event: 'next', data: { errors: [{ message: 'a bearer token is required', extensions: { code: 'UNAUTHENTICATED' } }] } },
      { event: 'complete', data: '' },
    ]);
  });

  it('answers a subscription with an invalid token with 401 and UNAUTHENTICATED', async () => {
    const stream = await openSse(herald.httpUrl, 'not-a-jwt', ON_TOPIC, { name: 'orders/9' });
    expect(stream.status).toBe(401);
    const events = await stream.rest();
    expect(events.map((event) => event.event)).toEqual(['next', 'complete']);
    expect(events[0]!.data.errors).toHaveLength(1);
    expect(events[0]!.data.errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('refuses a subscription outside the token topics with 403 and FORBIDDEN', async () => {
    const bearer = await token({ audience: 'sse-forbidden', scopes: ['subscribe'], topics: ['mine/*'] });
    const stream = await openSse(herald.httpUrl, bearer, ON_TOPIC, { name: 'theirs/1' });
    expect(stream.status).toBe(403);
    const events = await stream.rest();
    expect(events.map((event) => event.event)).toEqual(['next', 'complete']);
    expect(events[0]!.data.errors).toEqual([expect.objectContaining({ path: ['topic'], extensions: { code: 'FORBIDDEN' } })]);
  });

  it('removes the subscription when the client aborts the request', async () => {
    const audience = 'sse-abort';
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'ticks' });
    const other = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'ticks' });
    await waitForSubscribers(herald.app, audience, 'ticks', 2);

    stream.abort.abort();
    await expect(stream.next()).rejects.toThrow(/abort/i);
    await waitForSubscribers(herald.app, audience, 'ticks', 1);

    // The other stream on the same topic is untouched.
    await publish(await publisherFor(audience), 'ticks', 1);
    expect(await other.next()).toMatchObject({ event: 'next', data: { data: { topic: { payload: 1 } } } });
    other.abort.abort();
    await waitForSubscribers(herald.app, audience, 'ticks', 0);
  });

  it('matches a pattern subscription: * within one segment only', async () => {
    const audience = 'sse-pattern';
    const publisher = await publisherFor(audience);
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'metrics/*' });
    await waitForSubscribers(herald.app, audience, 'metrics/cpu');

    await publish(publisher, 'metrics/host-1/cpu', 'too deep'); // not matched by metrics/*
    await publish(publisher, 'other/cpu', 'other prefix'); // not matched
    const cpu = await publish(publisher, 'metrics/cpu', 0.93);
    const mem = await publish(publisher, 'metrics/mem', 0.41);

    // Delivery is in publish order, so the first event being metrics/cpu shows the others were skipped.
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { id: cpu.id, topic: 'metrics/cpu', payload: 0.93 } } } });
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { id: mem.id, topic: 'metrics/mem', payload: 0.41 } } } });
    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 'metrics/cpu', 0);
  });

  it('filters a wide pattern to the token topics limit', async () => {
    const audience = 'sse-limited';
    const publisher = await publisherFor(audience);
    const bearer = await token({ audience, scopes: ['subscribe'], topics: ['teamA/*'] });
    const stream = await openSse(herald.httpUrl, bearer, ON_TOPIC, { name: '**' });
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 'teamA/news');

    await publish(publisher, 'teamB/news', 'not for you');
    const allowed = await publish(publisher, 'teamA/news', 'for you');
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { id: allowed.id, topic: 'teamA/news' } } } });
    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 'teamA/news', 0);
  });

  // BUG (src/topics/topic-pattern.ts, escapeRegExp): '-' is escaped, and '\\-' is a syntax error in a RegExp
  // with the 'u' flag, so compilePattern throws for every pattern containing '-'. The next two tests fail
  // until it is fixed: a subscription to 'sensor-*' ends with INTERNAL_SERVER_ERROR, and a token whose
  // topics claim holds 'team-a/*' fails in verifyToken on every request (500 over HTTP/SSE, 4403 over WS).
  it("delivers on a subscription pattern containing '-'", async () => {
    const audience = 'sse-dash-pattern';
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'sensor-*' });
    expect(stream.status).toBe(200);
    const firstEvent = stream.next();
    // The stream reports its failure as its first event; without the bug the subscriber registers first.
    const outcome = await Promise.race([waitForSubscribers(herald.app, audience, 'sensor-1').then(() => 'registered'), firstEvent]);
    expect(outcome).toBe('registered');
    const sent = await publish(await publisherFor(audience), 'sensor-1', 21.5);
    expect(await firstEvent).toMatchObject({ event: 'next', data: { data: { topic: { id: sent.id, topic: 'sensor-1', payload: 21.5 } } } });
    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 'sensor-1', 0);
  });

  it("accepts a token whose topics claim holds a pattern containing '-'", async () => {
    const audience = 'sse-dash-claim';
    const bearer = await token({ audience, scopes: ['subscribe'], topics: ['team-a/*'] });
    const stream = await openSse(herald.httpUrl, bearer, ON_TOPIC, { name: 'team-a/news' });
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 'team-a/news');
    const sent = await publish(await publisherFor(audience), 'team-a/news', 'hello');
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { id: sent.id, payload: 'hello' } } } });
    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 'team-a/news', 0);
  });

  it('ends the stream with an UNAUTHENTICATED "token expired" event, then `event: complete`, when the token expires', async () => {
    const audience = 'sse-expiry';
    // exp has one-second resolution: a 2 s token stays valid for at least one second after minting.
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'], ttlSeconds: 2 }), ON_TOPIC, { name: 'soon' });
    expect(stream.status).toBe(200);
    const events = await stream.rest();
    expect(events).toMatchObject([
      { event: 'next', data: { errors: [{ message: expect.stringMatching(/^token expired/), extensions: { code: 'UNAUTHENTICATED' } }] } },
      { event: 'complete', data: '' },
    ]);
    expect(events).toHaveLength(2);
    await waitForSubscribers(herald.app, audience, 'soon', 0);
  });
});

describe('GraphQL over SSE at shutdown', () => {
  it('ends open streams with `event: complete` when the server stops', async () => {
    const herald = await startHerald();
    const audience = 'sse-shutdown';
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), ON_TOPIC, { name: 'bye' });
    await waitForSubscribers(herald.app, audience, 'bye');
    const stopped = herald.stop();
    expect(await stream.rest()).toEqual([{ event: 'complete', data: '' }]);
    await stopped;
    expect(herald.app.fanout.size).toBe(0);
  });
});
