import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { courierWsUrl, openCourier } from './helpers/courier.js';
import { mintToken } from '../src/auth/mint-token.js';
import { gql, startHerald, TEST_SECRET, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { connectNotiflux, notifluxWsUrl } from './helpers/notiflux.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './helpers/postgres.js';
import { openSse } from './helpers/sse.js';
import { subscribe } from './helpers/subscription.js';
import { holdTopicLookups, type TopicLookupGate } from './helpers/topic-lookup-gate.js';
import { until } from './helpers/until.js';

/**
 * A subscribe whose REQUIRE_DECLARED_TOPICS lookup is still running when its client goes away,
 * completes or unsubscribes must leave nothing in the fan-out registry, on every surface. The
 * lookups are held in PostgreSQL (a lock on `topics`), so the race is decided, not hoped for.
 *
 * "Nothing is left" is read after a sentinel subscription has registered: its own lookup queued
 * behind the held one, and what follows a lookup is synchronous, so by then the held subscribe has
 * finished whatever it was going to do.
 */

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const AUDIENCE = 'races';
const MAX_SUBSCRIPTIONS = 2;

const skip = await postgresSkipReason();

describe.skipIf(skip !== undefined)('subscribes still checking declared topics when their client leaves', () => {
  let database: TestDatabase;
  let herald: TestHerald;
  let manager: string;
  let subscriber: string;
  let gate: TopicLookupGate | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startHerald({
      DATABASE_URL: database.url,
      REQUIRE_DECLARED_TOPICS: 'true',
      MAX_SUBSCRIPTIONS_PER_CONNECTION: String(MAX_SUBSCRIPTIONS),
    });
    manager = await token({ audience: AUDIENCE, scopes: ['publish', 'manage'] });
    subscriber = await token({ audience: AUDIENCE, scopes: ['subscribe'] });
    for (const name of ['held', 'sentinel', 'held/a', 'held/b', 'held/c']) {
      const declared = await gql(herald.httpUrl, manager, 'mutation ($name: String!) { createTopic(name: $name) { name } }', { name });
      expect(declared.errors).toBeUndefined();
    }
  });
  // A failed test must not leave the next ones waiting on its lock.
  afterEach(() => gate?.release());
  afterAll(async () => {
    await herald.stop();
    await database.drop();
  });

  const hold = async (): Promise<TopicLookupGate> => (gate = await holdTopicLookups(database.url));

  /** Registers a sentinel graphql-ws subscription (its lookup runs after every held one) and removes it again. */
  async function sentinel(): Promise<void> {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const sub = subscribe(client, ON_TOPIC, { name: 'sentinel' });
    await waitForSubscribers(herald.app, AUDIENCE, 'sentinel', 1);
    sub.dispose();
    await client.dispose();
    await waitForSubscribers(herald.app, AUDIENCE, 'sentinel', 0);
  }

  it('graphql-ws: a subscription completed by its client during the check is never registered', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    // Keeps the connection open: the lazy client closes its socket when its last subscription goes.
    const other = subscribe(client, ON_TOPIC, { name: 'held/c' });
    await waitForSubscribers(herald.app, AUDIENCE, 'held/c', 1);
    const held = await hold();
    const sub = subscribe(client, ON_TOPIC, { name: 'held' });
    await held.waiting(1);
    sub.dispose();
    await held.release();
    await sentinel();
    expect(herald.app.fanout.subscriberCount(AUDIENCE, 'held')).toBe(0);
    other.dispose();
    await client.dispose();
    await waitForSubscribers(herald.app, AUDIENCE, 'held/c', 0);
  });

  it('graphql-ws: a subscription whose socket closed during the check is never registered', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const held = await hold();
    subscribe(client, ON_TOPIC, { name: 'held' });
    await held.waiting(1);
    await client.dispose();
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });

  it('graphql-ws: subscribes held in the check count toward MAX_SUBSCRIPTIONS_PER_CONNECTION', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const held = await hold();
    const subs = ['held/a', 'held/b', 'held/c'].map((name) => subscribe(client, ON_TOPIC, { name }));
    await held.waiting(MAX_SUBSCRIPTIONS);
    // The third is refused while the first two are still being checked.
    const refused = await subs[2]!.ended;
    expect(refused.error).toEqual([expect.objectContaining({ extensions: { code: 'RATE_LIMITED' } })]);
    await held.release();
    await waitForSubscribers(herald.app, AUDIENCE, 'held/a', 1);
    await waitForSubscribers(herald.app, AUDIENCE, 'held/b', 1);
    expect(herald.app.fanout.subscriberCount(AUDIENCE, 'held/c')).toBe(0);
    await client.dispose();
    await waitForSubscribers(herald.app, AUDIENCE, 'held/a', 0);
    await waitForSubscribers(herald.app, AUDIENCE, 'held/b', 0);
  });

  it('SSE: a request aborted during the check registers nothing', async () => {
    const held = await hold();
    const abort = new AbortController();
    const response = fetch(herald.httpUrl, {
      method: 'POST',
      signal: abort.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${subscriber}` },
      body: JSON.stringify({ query: ON_TOPIC, variables: { name: 'held' } }),
    });
    await held.waiting(1);
    abort.abort();
    await expect(response).rejects.toThrow(/abort/i);
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });

  it('SSE: a stream the client leaves right after the check is released', async () => {
    const held = await hold();
    const stream = openSse(herald.httpUrl, subscriber, ON_TOPIC, { name: 'held' });
    await held.waiting(1);
    await held.release();
    const open = await stream;
    await waitForSubscribers(herald.app, AUDIENCE, 'held', 1);
    open.abort.abort();
    await waitForSubscribers(herald.app, AUDIENCE, 'held', 0);
  });

  it('courier: a subscribe whose socket closed during the check is never registered', async () => {
    const socket = await openCourier(courierWsUrl(herald.baseUrl, subscriber));
    // The socket's broadcasts entry is in place once its `broadcasts` count says so.
    await waitForSubscribers(herald.app, AUDIENCE, null, 1);
    const held = await hold();
    socket.send({ action: 'subscribe', topic: 'held' });
    await held.waiting(1);
    await socket.close();
    await waitForSubscribers(herald.app, AUDIENCE, null, 0);
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });

  it('courier: an unsubscribe sent during the check ends the subscription', async () => {
    const socket = await openCourier(courierWsUrl(herald.baseUrl, subscriber));
    await waitForSubscribers(herald.app, AUDIENCE, null, 1);
    const held = await hold();
    socket.send({ action: 'subscribe', topic: 'held' });
    await held.waiting(1);
    socket.send({ action: 'unsubscribe', topic: 'held' });
    await held.release();
    // A publish reaching the socket would be the next frame; an error frame for a bad action is.
    socket.send({ action: 'nope' });
    expect(await socket.next()).toMatchObject({ code: expect.any(String) });
    expect(herald.app.fanout.subscriberCount(AUDIENCE, 'held')).toBe(0);
    const published = await gql(herald.httpUrl, manager, PUBLISH, { topic: 'held', payload: 1 });
    expect(published.errors).toBeUndefined();
    socket.send({ action: 'nope' });
    expect(await socket.next()).toMatchObject({ code: expect.any(String) });
    await socket.close();
  });

  it('notiflux: a /subscribe whose socket closed during the check is never registered', async () => {
    const client = await connectNotiflux(notifluxWsUrl(herald));
    const held = await hold();
    client.send(`/subscribe held ${subscriber}`);
    await held.waiting(1);
    await client.close();
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });

  it('notiflux: an /unsubscribe sent during the check ends the subscription', async () => {
    const client = await connectNotiflux(notifluxWsUrl(herald));
    const held = await hold();
    client.send(`/subscribe held ${subscriber}`);
    await held.waiting(1);
    client.send('/unsubscribe held');
    client.send('/not-a-command');
    await held.release();
    expect(await client.next()).toBe('Unknown command');
    expect(herald.app.fanout.subscriberCount(AUDIENCE, 'held')).toBe(0);
    await client.close();
  });

  /** A subscribe token that expires within 1 to 2 seconds (exp is in whole seconds). */
  const shortLived = () => mintToken({ secret: TEST_SECRET }, { audience: AUDIENCE, scopes: ['subscribe'], ttlSeconds: 2 });
  /** Waits for the credential's end itself: nothing in the gateway announces it for a subscribe that has not opened yet. */
  const passed = (expiresAt: Date) => until(() => Date.now() > expiresAt.getTime(), 'the token to expire');

  it('graphql-ws: a token that expires during the check closes the socket with 4401 and nothing is registered', async () => {
    const held = await hold();
    const { token: expiring } = await shortLived();
    let closed: { code: number; reason: string } | undefined;
    const closedOnce = new Promise<void>((resolve) => {
      const client = wsClient(herald.wsUrl, {
        connectionParams: { token: expiring },
        on: { closed: (event) => ((closed = event as { code: number; reason: string }), resolve()) },
      });
      subscribe(client, ON_TOPIC, { name: 'held' });
    });
    await held.waiting(1);
    await closedOnce;
    expect(closed).toMatchObject({ code: 4401, reason: 'token expired' });
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });

  it('SSE: a token that expires during the check ends the stream with UNAUTHENTICATED and registers nothing', async () => {
    const { token: expiring, expiresAt } = await shortLived();
    const held = await hold();
    const stream = openSse(herald.httpUrl, expiring, ON_TOPIC, { name: 'held' });
    await held.waiting(1);
    await passed(expiresAt);
    await held.release();
    const events = await (await stream).rest();
    expect(events).toMatchObject([{ event: 'next', data: { errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] } }, { event: 'complete' }]);
    expect(herald.app.fanout.size).toBe(0);
  });

  it('notiflux: a token that expires during the check ends the subscription with an error reply, and nothing is registered', async () => {
    const { token: expiring, expiresAt } = await shortLived();
    const client = await connectNotiflux(notifluxWsUrl(herald));
    const held = await hold();
    client.send(`/subscribe held ${expiring}`);
    await held.waiting(1);
    await passed(expiresAt);
    await held.release();
    expect(await client.next()).toMatch(/held.*expired/);
    client.send('/not-a-command');
    expect(await client.next()).toBe('Unknown command');
    expect(herald.app.fanout.size).toBe(0);
    await client.close();
  });

  it('courier: a socket token that expires during the check closes the socket with 4401 and nothing is registered', async () => {
    const { token: expiring } = await shortLived();
    const socket = await openCourier(courierWsUrl(herald.baseUrl, expiring));
    await waitForSubscribers(herald.app, AUDIENCE, null, 1);
    const held = await hold();
    socket.send({ action: 'subscribe', topic: 'held' });
    await held.waiting(1);
    expect(await socket.closed).toEqual({ code: 4401, reason: 'token expired' });
    await waitForSubscribers(herald.app, AUDIENCE, null, 0);
    await held.release();
    await sentinel();
    expect(herald.app.fanout.size).toBe(0);
  });
});
