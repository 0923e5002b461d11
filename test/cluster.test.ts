import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../src/bus/bus.js';
import { REDIS_BACKENDS, startRedisBackend, type RedisBackend } from './helpers/bus-backends.js';
import { courierFetch, courierWsUrl, openCourier } from './helpers/courier.js';
import { gql, token, wsClient } from './helpers/herald.js';
import { connectNotiflux, notifluxWsUrl } from './helpers/notiflux.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './helpers/postgres.js';
import { redisAvailable } from './helpers/redis.js';
import { until } from './helpers/until.js';
import { openSse, type SseStream } from './helpers/sse.js';
import { subscribe, type Subscription } from './helpers/subscription.js';

/**
 * Three gateway processes on one Redis (or on a Redis Cluster) and one PostgreSQL act as one: what
 * is published on any instance reaches subscribers on every instance exactly once, and what is
 * declared on one is seen by all. Each run has its own REDIS_PREFIX and its own database.
 */
const canRun = (await redisAvailable()) && (await postgresSkipReason()) === undefined;

const SIGNING_SECRET = 'cluster-signing-secret-0123456789abcdef';
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { topic payload } }';
const ON_BROADCASTS = 'subscription { broadcasts { payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

describe.runIf(canRun).each(REDIS_BACKENDS)('three instances on $name and one PostgreSQL', ({ kind }) => {
  let backend: RedisBackend;
  let database: TestDatabase;
  let a: HeraldProcess;
  let b: HeraldProcess;
  let c: HeraldProcess;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    backend = await startRedisBackend(kind, 'cluster');
    const env = { ...backend.env, DATABASE_URL: database.url, SIGNING_SECRET };
    // Started together: their migrations race on the empty database, as a rolling deploy's would.
    [a, b, c] = await Promise.all([startHeraldProcess(env), startHeraldProcess(env), startHeraldProcess(env)]);
    await Promise.all([a, b, c].map((instance) => until(async () => (await fetch(`${instance.baseUrl}/ready`)).status === 200, 'ready')));
  }, 60_000);
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    // Each is undefined when beforeAll failed before it.
    /* eslint-disable @typescript-eslint/no-unnecessary-condition */
    await Promise.all([a, b, c].map((instance) => instance?.stop()));
    await backend?.stop();
    await database?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  /** Waits until `instances` Redis subscriptions exist on a channel: each listening instance subscribes once. */
  const listening = (channel: Channel, instances: number) =>
    until(async () => (await backend.subscribers(channel)) === instances, `${instances} instances on ${channel.kind}`);

  const wsSubscribe = async (instance: HeraldProcess, bearer: string, query: string, variables?: Record<string, unknown>): Promise<Subscription<any>> => {
    const client = wsClient(instance.wsUrl, { connectionParams: { token: bearer } });
    cleanups.push(() => client.dispose());
    return subscribe(client, query, variables);
  };

  const sseSubscribe = async (instance: HeraldProcess, bearer: string, query: string, variables?: Record<string, unknown>): Promise<SseStream> => {
    const stream = await openSse(instance.httpUrl, bearer, query, variables);
    cleanups.push(() => stream.abort.abort());
    return stream;
  };

  const publishOn = async (instance: HeraldProcess, audience: string, topic: string, payload: unknown): Promise<void> => {
    const response = await gql(instance.httpUrl, await token({ audience, scopes: ['publish'] }), PUBLISH, { topic, payload });
    expect(response.errors).toBeUndefined();
  };

  /** The `next` payloads of an SSE stream, until `count` arrived. */
  const ssePayloads = async (stream: SseStream, count: number, pick: (data: any) => unknown): Promise<unknown[]> => {
    const got: unknown[] = [];
    while (got.length < count) {
      const event = await stream.next();
      if (event === null) throw new Error(`SSE stream ended after ${got.length} events`);
      if (event.event === 'next') got.push(pick(event.data.data));
    }
    return got;
  };

  const wsPayloads = async (subscription: Subscription<any>, count: number, pick: (data: any) => unknown): Promise<unknown[]> => {
    const got: unknown[] = [];
    while (got.length < count) got.push(pick((await subscription.next()).data));
    return got;
  };

  it('a message published on C reaches a graphql-ws subscriber on A and an SSE subscriber on B, once each', async () => {
    const subscriber = await token({ audience: 'acme' });
    const onA = await wsSubscribe(a, subscriber, ON_TOPIC, { name: 'orders/1' });
    const onB = await sseSubscribe(b, subscriber, ON_TOPIC, { name: 'orders/1' });
    await listening({ kind: 'topic', audience: 'acme', topic: 'orders/1' }, 2);

    await publishOn(c, 'acme', 'orders/1', { n: 1 });
    // A sentinel behind it: anything delivered twice would arrive before it.
    await publishOn(c, 'acme', 'orders/1', 'sentinel');
    const pick = (data: any) => data.topic.payload;
    expect(await wsPayloads(onA, 2, pick)).toEqual([{ n: 1 }, 'sentinel']);
    expect(await ssePayloads(onB, 2, pick)).toEqual([{ n: 1 }, 'sentinel']);
    expect(onA.received).toHaveLength(2);
  });

  it('a broadcast from C reaches both, once each', async () => {
    const subscriber = await token({ audience: 'acme' });
    const onA = await wsSubscribe(a, subscriber, ON_BROADCASTS);
    const onB = await sseSubscribe(b, subscriber, ON_BROADCASTS);
    await listening({ kind: 'broadcasts', audience: 'acme' }, 2);

    const broadcaster = await token({ audience: 'acme', scopes: ['publish'] });
    for (const payload of ['maintenance at 22:00', 'sentinel']) {
      const response = await gql(c.httpUrl, broadcaster, 'mutation ($payload: JSON!) { broadcast(payload: $payload) { id } }', { payload });
      expect(response.errors).toBeUndefined();
    }
    const pick = (data: any) => data.broadcasts.payload;
    expect(await wsPayloads(onA, 2, pick)).toEqual(['maintenance at 22:00', 'sentinel']);
    expect(await ssePayloads(onB, 2, pick)).toEqual(['maintenance at 22:00', 'sentinel']);
  });

  it('pattern subscriptions on A and B match topics published on C', async () => {
    const subscriber = await token({ audience: 'patterns' });
    const onA = await wsSubscribe(a, subscriber, ON_TOPIC, { name: 'orders/*' });
    const onB = await sseSubscribe(b, subscriber, ON_TOPIC, { name: '**' });
    await listening({ kind: 'patterns', audience: 'patterns' }, 2);

    await publishOn(c, 'patterns', 'orders/7', 1);
    await publishOn(c, 'patterns', 'invoices/2024/3', 2);
    await publishOn(c, 'patterns', 'orders/8', 3);
    const pick = (data: any) => `${data.topic.topic}=${data.topic.payload}`;
    expect(await wsPayloads(onA, 2, pick)).toEqual(['orders/7=1', 'orders/8=3']);
    expect(await ssePayloads(onB, 3, pick)).toEqual(['orders/7=1', 'invoices/2024/3=2', 'orders/8=3']);
  });

  it('two audiences with the same topic name stay apart across instances', async () => {
    const onA = await wsSubscribe(a, await token({ audience: 'tenant-1' }), ON_TOPIC, { name: 'news' });
    const onB = await wsSubscribe(b, await token({ audience: 'tenant-2' }), ON_TOPIC, { name: 'news' });
    await listening({ kind: 'topic', audience: 'tenant-1', topic: 'news' }, 1);
    await listening({ kind: 'topic', audience: 'tenant-2', topic: 'news' }, 1);

    await publishOn(c, 'tenant-1', 'news', 'for tenant 1');
    await publishOn(c, 'tenant-2', 'news', 'for tenant 2');
    const pick = (data: any) => data.topic.payload;
    expect(await wsPayloads(onA, 1, pick)).toEqual(['for tenant 1']);
    expect(await wsPayloads(onB, 1, pick)).toEqual(['for tenant 2']);
    // Each has had its own; a cross-delivery would have arrived before the other's own message.
    expect(onA.received).toHaveLength(1);
    expect(onB.received).toHaveLength(1);
  });

  it('a topic created through A is listed by B and C', async () => {
    const manager = await token({ audience: 'shared-store', scopes: ['manage'] });
    const created = await gql(a.httpUrl, manager, 'mutation { createTopic(name: "made-on-a") { name } }');
    expect(created.errors).toBeUndefined();
    for (const instance of [b, c]) {
      const listed = await gql(instance.httpUrl, manager, '{ topics { name } audience { name } }');
      expect(listed.data).toEqual({ topics: [{ name: 'made-on-a' }], audience: { name: 'shared-store' } });
    }
  });

  it('a signSubscription URL minted on A works on B', async () => {
    const manager = await token({ audience: 'signed', scopes: ['manage', 'subscribe'] });
    const signed = await gql(a.httpUrl, manager, 'mutation { signSubscription(topics: ["alerts/*"]) { token url } }');
    expect(signed.errors).toBeUndefined();
    const { url, token: signedToken } = signed.data!.signSubscription as { url: string; token: string };
    expect(url).toBe(`${a.wsUrl}?token=${signedToken}`);

    // The same URL, pointed at B as a load balancer might.
    const client = wsClient(url.replace(a.wsUrl, b.wsUrl));
    cleanups.push(() => client.dispose());
    const onB = subscribe(client, ON_TOPIC, { name: 'alerts/*' });
    await listening({ kind: 'patterns', audience: 'signed' }, 1);
    await publishOn(c, 'signed', 'alerts/fire', 'evacuate');
    expect(await wsPayloads(onB, 1, (data: any) => data.topic.payload)).toEqual(['evacuate']);
  });

  it('Topic.subscriberCount on C counts the subscriptions open on A and B', async () => {
    const manager = await token({ audience: 'counted', scopes: ['manage'] });
    expect((await gql(c.httpUrl, manager, 'mutation { createTopic(name: "gauges/1") { name } }')).errors).toBeUndefined();
    const count = async () => (await gql(c.httpUrl, manager, '{ topic(name: "gauges/1") { subscriberCount } }')).data?.topic?.subscriberCount;
    expect(await count()).toBe(0);

    const subscriber = await token({ audience: 'counted' });
    await wsSubscribe(a, subscriber, ON_TOPIC, { name: 'gauges/1' });
    await wsSubscribe(a, subscriber, ON_TOPIC, { name: 'gauges/1' });
    await sseSubscribe(b, subscriber, ON_TOPIC, { name: 'gauges/*' });
    await sseSubscribe(b, subscriber, ON_TOPIC, { name: 'other' });
    await listening({ kind: 'topic', audience: 'counted', topic: 'gauges/1' }, 1);
    await listening({ kind: 'patterns', audience: 'counted' }, 1);
    await until(async () => (await count()) === 3, 'the count to include the pattern subscription on B');
    expect(await count()).toBe(3);
  });

  it('an instance unsubscribes from a Redis channel when its last local subscriber leaves', async () => {
    const subscriber = await token({ audience: 'leaving' });
    const channel: Channel = { kind: 'topic', audience: 'leaving', topic: 'room' };
    const first = wsClient(a.wsUrl, { connectionParams: { token: subscriber } });
    const second = wsClient(a.wsUrl, { connectionParams: { token: subscriber } });
    cleanups.push(
      () => first.dispose(),
      () => second.dispose(),
    );
    subscribe(first, ON_TOPIC, { name: 'room' });
    subscribe(second, ON_TOPIC, { name: 'room' });
    const counted = async () =>
      (await gql(c.httpUrl, await token({ audience: 'leaving', scopes: ['manage'] }), '{ topic(name: "room") { subscriberCount } }')).data;
    expect(
      (await gql(c.httpUrl, await token({ audience: 'leaving', scopes: ['manage'] }), 'mutation { createTopic(name: "room") { name } }')).errors,
    ).toBeUndefined();
    await until(async () => (await counted())?.topic?.subscriberCount === 2, 'both subscriptions counted');
    // Two subscribers on A, one Redis subscription.
    await listening(channel, 1);
    await first.dispose();
    await until(async () => (await counted())?.topic?.subscriberCount === 1, 'one left');
    expect(await backend.subscribers(channel)).toBe(1);
    await second.dispose();
    await listening(channel, 0);
  });

  it('a courier socket on A and a notiflux socket on B receive a POST /v1/hook publish made on C', async () => {
    const courier = await openCourier(courierWsUrl(a.baseUrl, await token({ audience: 'legacy', scopes: ['subscribe'] })));
    const notiflux = await connectNotiflux(notifluxWsUrl(b));
    cleanups.push(
      () => courier.close(),
      () => notiflux.close(),
    );
    courier.send({ action: 'subscribe', topic: 'jobs' });
    // notiflux tokens carry no aud: they belong to the default audience, so the publisher uses it too.
    notiflux.send(`/subscribe jobs ${await token({ scopes: ['subscribe'], topics: ['jobs'] })}`);
    await listening({ kind: 'topic', audience: 'legacy', topic: 'jobs' }, 1);
    await listening({ kind: 'topic', audience: 'default', topic: 'jobs' }, 1);

    for (const audience of ['legacy', 'default']) {
      const hooked = await courierFetch(c.baseUrl, 'POST', '/v1/hook', {
        token: await token({ audience, scopes: ['publish'] }),
        body: { action: 'publish', topic: 'jobs', message: { audience } },
      });
      expect(hooked.status).toBe(200);
    }
    expect(await courier.next()).toEqual({ audience: 'legacy' });
    expect(await notiflux.next()).toBe('{"audience":"default"}');
  });

  it('no instance logged an error', () => {
    for (const instance of [a, b, c]) expect(instance.stderr()).not.toMatch(/"level":(50|60)/);
  });
});
