import { ApolloClient, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, subscriptionExchange } from '@urql/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CursorExpired, HeraldClientOptions } from 'herald/client';
import { anchorsIn, openHarness, type Harness } from './helpers/client-line.js';
import { startHerald, untilReady, waitForSubscribers, wsClient, token, type TestHerald } from './helpers/herald.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { subscribe } from './helpers/subscription.js';
import { until } from './helpers/until.js';

/**
 * The two ways a herald/client subscription could silently miss messages, closed: a cut before its
 * first message (Herald anchors every fresh subscription at its stream's head, and the client resumes
 * from that anchor), and the window while onCursorExpired re-reads state (the refusal carries
 * `extensions.latest`, and the client continues from there). Real servers, real sockets, real
 * Apollo and urql, on the in-process bus and on Redis.
 */
const withRedis = await redisAvailable();

const TOPIC = 'subscription($name: String!) { topic(name: $name) { id payload } }';
const BROADCASTS = 'subscription { broadcasts { id payload } }';
const PATTERN = 'subscription { topic(name: "p/*") { id topic payload } }';

type Payloads = Record<string, { id: string; payload: number } | undefined>;
const payloadOf = (data: unknown): number => Object.values(data as Payloads)[0]!.payload;

const buses: Array<[string, Record<string, string>]> = [['in-process bus', {}]];
if (withRedis) buses.push(['Redis bus', { REDIS_URL, REDIS_PREFIX: uniquePrefix('client-anchor') }]);

/** Waits until the client's sockets have received `count` anchors in all. */
const anchored = (h: Harness, count = 1): Promise<void> => until(() => anchorsIn(h.sockets.frames).length >= count, `${count} anchor(s)`);

/** Cuts the client off and keeps it off until `release`, once Herald has let go of its subscription to `topic`. */
async function cutAndHold(herald: TestHerald, h: Harness, audience: string, topic: string | null): Promise<void> {
  h.line.hold();
  h.line.cut();
  await waitForSubscribers(herald.app, audience, topic, 0);
}

describe.each(buses)('anchored subscriptions, %s', (_label, env) => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald(env);
    await untilReady(herald);
  });
  afterAll(() => herald.stop());

  it('a topic subscription cut before its first message gets what was published while it was down', async () => {
    const audience = 'anchor-topic';
    const h = await openHarness(herald, audience);
    const got: number[] = [];
    const errors: unknown[] = [];
    const dispose = h.client.subscribe(
      { query: TOPIC, variables: { name: 'orders' } },
      { next: (r) => got.push(payloadOf(r.data)), error: (e) => errors.push(e), complete: () => {} },
    );
    await anchored(h);
    // The anchor is the stream's head: for a topic nobody published to yet, offset 0 of a new epoch.
    expect(anchorsIn(h.sockets.frames)[0]).toMatch(/^[0-9A-Z]{18}-000000000000$/);
    await cutAndHold(herald, h, audience, 'orders');
    const first = await h.publish('orders', 1);
    expect(first.slice(0, 18)).toBe(anchorsIn(h.sockets.frames)[0]!.slice(0, 18));
    await h.publish('orders', 2);
    h.line.release();
    await until(() => got.length === 2, 'the two missed messages');
    await waitForSubscribers(herald.app, audience, 'orders');
    await h.publish('orders', 3);
    await until(() => got.length === 3, 'the live message');
    expect(got).toEqual([1, 2, 3]);
    expect(errors).toEqual([]);
    // The retry resumed from the anchor, so it was not anchored again.
    expect(anchorsIn(h.sockets.frames)).toHaveLength(1);
    dispose();
    await h.close();
  });

  it('an anchor on a topic with history is its newest id; broadcasts are anchored like a topic', async () => {
    const audience = 'anchor-broadcasts';
    const h = await openHarness(herald, audience);
    const newest = await h.broadcast(0);
    const got: number[] = [];
    const dispose = h.client.subscribe({ query: BROADCASTS }, { next: (r) => got.push(payloadOf(r.data)), error: () => {}, complete: () => {} });
    await anchored(h);
    expect(anchorsIn(h.sockets.frames)).toEqual([newest]);
    await cutAndHold(herald, h, audience, null);
    await h.broadcast(1);
    h.line.release();
    await until(() => got.length === 1, 'the missed broadcast');
    await waitForSubscribers(herald.app, audience, null);
    await h.broadcast(2);
    await until(() => got.length === 2, 'the live broadcast');
    expect(got).toEqual([1, 2]);
    dispose();
    await h.close();
  });

  it('the anchor never reaches an Apollo Client or urql sink, nor a plain graphql-ws client', async () => {
    // GraphQLWsLink reads the global WebSocket to classify errors; Node 20 has none (README says so).
    const global = globalThis as { WebSocket?: unknown };
    const had = 'WebSocket' in global;
    global.WebSocket ??= WebSocket;
    try {
      const audience = 'anchor-sinks';
      const h = await openHarness(herald, audience);
      const apolloResults: unknown[] = [];
      const apollo = new ApolloClient({ link: new GraphQLWsLink(h.client), cache: new InMemoryCache() });
      const viaApollo = apollo.subscribe({ query: parse(TOPIC), variables: { name: 'sinks' } }).subscribe({
        next: (result) => apolloResults.push(result),
        error: (error: unknown) => apolloResults.push(error),
      });
      const urqlResults: unknown[] = [];
      const urql = new UrqlClient({
        url: herald.httpUrl,
        exchanges: [
          subscriptionExchange({
            forwardSubscription: (request) => ({
              subscribe: (sink) => ({ unsubscribe: h.client.subscribe({ ...request, query: request.query ?? '' }, sink) }),
            }),
          }),
        ],
      });
      const viaUrql = urql.subscription(parse(TOPIC), { name: 'sinks' }).subscribe((result) => urqlResults.push(result));
      const plain = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience, scopes: ['subscribe'] }) } });
      const viaPlain = subscribe(plain, TOPIC, { name: 'sinks' });
      await anchored(h, 2);
      await waitForSubscribers(herald.app, audience, 'sinks', 3);
      const id = await h.publish('sinks', 1);
      await until(() => apolloResults.length > 0 && urqlResults.length > 0 && viaPlain.received.length > 0, 'the message everywhere');
      expect(apolloResults).toEqual([{ data: { topic: { __typename: 'Message', id, payload: 1 } } }]);
      expect(urqlResults).toHaveLength(1);
      expect(urqlResults[0]).toMatchObject({ data: { topic: { id, payload: 1 } }, error: undefined });
      // Without heraldResume, no anchor: the first result is the message.
      expect(viaPlain.received).toEqual([{ data: { topic: { id, payload: 1 } } }]);
      viaApollo.unsubscribe();
      viaUrql.unsubscribe();
      viaPlain.dispose();
      await plain.dispose();
      await h.close();
    } finally {
      if (!had) delete global.WebSocket;
    }
  });

  it('a pattern subscription cut before its first message tells onCursorExpired, then goes on live', async () => {
    const audience = 'anchor-pattern';
    const expired: CursorExpired[] = [];
    const h = await openHarness(herald, audience, { onCursorExpired: (e) => void expired.push(e) });
    const got: number[] = [];
    const errors: unknown[] = [];
    const dispose = h.client.subscribe({ query: PATTERN }, { next: (r) => got.push(payloadOf(r.data)), error: (e) => errors.push(e), complete: () => {} });
    await anchored(h);
    await cutAndHold(herald, h, audience, 'p/a');
    await h.publish('p/a', 1);
    h.line.release();
    await until(() => expired.length === 1, 'onCursorExpired');
    const refusal = expired[0]!.errors[0]!;
    expect(refusal.extensions).toMatchObject({ code: 'CURSOR_EXPIRED' });
    expect(refusal.extensions).not.toHaveProperty('latest');
    expect(refusal.message).toMatch(/pattern/);
    // Subscribed again, anchored anew (where no resume succeeds), then live.
    await anchored(h, 2);
    await waitForSubscribers(herald.app, audience, 'p/a');
    await h.publish('p/b', 2);
    await until(() => got.length === 1, 'the live message');
    expect(got).toEqual([2]);
    expect(errors).toEqual([]);
    dispose();
    await h.close();
  });
});

describe.each(buses)('onCursorExpired with extensions.latest (HISTORY_SIZE 3), %s', (_label, env) => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ ...env, HISTORY_SIZE: '3', ...(env.REDIS_PREFIX !== undefined && { REDIS_PREFIX: `${env.REDIS_PREFIX}-size3` }) });
    await untilReady(herald);
  });
  afterAll(() => herald.stop());

  it('continues from latest after the callback: nothing published while the app re-read is lost', async () => {
    const audience = 'latest-topic';
    const expired: CursorExpired[] = [];
    const options: Partial<HeraldClientOptions> = {
      // A slow re-read: while it runs, three more messages are published (the callback awaits them).
      async onCursorExpired(e) {
        expired.push(e);
        for (let n = 7; n <= 9; n++) await h.publish('orders', n);
      },
    };
    const h = await openHarness(herald, audience, options);
    const got: number[] = [];
    const errors: unknown[] = [];
    const dispose = h.client.subscribe(
      { query: TOPIC, variables: { name: 'orders' } },
      { next: (r) => got.push(payloadOf(r.data)), error: (e) => errors.push(e), complete: () => {} },
    );
    await anchored(h);
    await h.publish('orders', 1);
    await until(() => got.length === 1, 'the first message');
    await cutAndHold(herald, h, audience, 'orders');
    // More than HISTORY_SIZE keeps: the resume after 1 cannot be filled.
    let newest = '';
    for (let n = 2; n <= 6; n++) newest = await h.publish('orders', n);
    h.line.release();
    await until(() => got.length === 4, 'the messages published during the callback, replayed');
    await waitForSubscribers(herald.app, audience, 'orders');
    await h.publish('orders', 10);
    await until(() => got.length === 5, 'the live message');
    expect(got).toEqual([1, 7, 8, 9, 10]);
    expect(errors).toEqual([]);
    expect(expired).toHaveLength(1);
    expect(expired[0]!.errors[0]!.extensions).toMatchObject({ code: 'CURSOR_EXPIRED', latest: newest });
    dispose();
    await h.close();
  });

  it('a pattern cut after a message tells onCursorExpired (no latest), then goes on live', async () => {
    const audience = 'latest-pattern';
    const expired: CursorExpired[] = [];
    const h = await openHarness(herald, audience, { onCursorExpired: (e) => void expired.push(e) });
    const got: number[] = [];
    const dispose = h.client.subscribe({ query: PATTERN }, { next: (r) => got.push(payloadOf(r.data)), error: () => {}, complete: () => {} });
    await anchored(h);
    await waitForSubscribers(herald.app, audience, 'p/a');
    await h.publish('p/a', 1);
    await until(() => got.length === 1, 'the first message');
    h.line.cut();
    await until(() => expired.length === 1, 'onCursorExpired');
    expect(expired[0]!.errors[0]!.extensions).toEqual({ code: 'CURSOR_EXPIRED' });
    await anchored(h, 2);
    await waitForSubscribers(herald.app, audience, 'p/a');
    await h.publish('p/a', 2);
    await until(() => got.length === 2, 'the live message');
    expect(got).toEqual([1, 2]);
    dispose();
    await h.close();
  });
});
