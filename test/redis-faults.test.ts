import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createRedisBus } from '../src/bus/redis-bus.js';
import { controlRequestChannel, redisChannelName } from '../src/bus/redis-channels.js';
import { loadConfig } from '../src/config.js';
import { HeraldError } from '../src/errors.js';
import { Redis } from 'ioredis';
import { errorCode, gql, TEST_SECRET, token, waitForSubscribers, wsClient } from './helpers/herald.js';
import { courierToken } from './helpers/courier.js';
import { numsub, redisAvailable, startPrivateRedis, uniquePrefix, type PrivateRedis } from './helpers/redis.js';
import { until } from './helpers/until.js';
import { subscribe } from './helpers/subscription.js';

/**
 * Redis going away and coming back, on a redis-server of this test's own (the shared one stays up
 * for the other suites). The gateway must stay up, say UNAVAILABLE while Redis is gone, keep its
 * sockets open, and deliver again on the same subscriptions once Redis is back.
 */
const canRun = await redisAvailable();

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const SUBSCRIBE = 'subscription ($name: String!) { topic(name: $name) { payload } }';

/** A Herald whose logs are kept for assertions. */
async function startLoggedHerald(redisUrl: string, prefix: string, databaseUrl = ':memory:') {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: '0', DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
  const app = await createApp(config, { logger: pino({ level: 'info' }, sink) });
  const baseUrl = await app.start();
  return { app, baseUrl, lines, messages: (text: string) => lines.filter((line) => line.msg.includes(text)) };
}

const readyStatus = async (baseUrl: string): Promise<number> => (await fetch(`${baseUrl}/ready`)).status;

describe.runIf(canRun)('Redis faults', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(() => redis.stop());

  it('keeps sockets open through an outage, answers UNAVAILABLE meanwhile, and delivers again after', async () => {
    const prefix = uniquePrefix('fault');
    const herald = await startLoggedHerald(redis.url, prefix);
    const admin = new Redis(redis.url, { retryStrategy: () => 200 });
    admin.on('error', () => {});
    const client = wsClient(`${herald.baseUrl.replace(/^http/, 'ws')}/graphql`, { connectionParams: { token: await token({ audience: 'acme' }) } });
    let closed = false;
    client.on('closed', () => (closed = true));
    try {
      const publisher = await token({ audience: 'acme', scopes: ['publish'] });
      await until(async () => (await readyStatus(herald.baseUrl)) === 200, '/ready');
      const stream = subscribe(client, SUBSCRIBE, { name: 'orders' });
      await waitForSubscribers(herald.app, 'acme', 'orders');
      const channel = redisChannelName(prefix, { kind: 'topic', audience: 'acme', topic: 'orders' });
      await until(async () => (await numsub(admin, [channel]))[0] === 1, 'the SUBSCRIBE');

      expect((await gql(`${herald.baseUrl}/graphql`, publisher, PUBLISH, { topic: 'orders', payload: 'before' })).errors).toBeUndefined();
      expect((await stream.next()).data).toEqual({ topic: { payload: 'before' } });

      await redis.stop();
      await until(async () => (await readyStatus(herald.baseUrl)) === 503, '/ready to fail');
      const refused = await gql(`${herald.baseUrl}/graphql`, publisher, PUBLISH, { topic: 'orders', payload: 'lost' });
      expect(refused.status).toBe(503);
      expect(errorCode(refused)).toBe('UNAVAILABLE');
      expect(refused.errors?.[0]?.message).toMatch(/Redis/);
      // Queries that need no bus still answer.
      expect((await gql(`${herald.baseUrl}/graphql`, publisher, '{ viewer { audience } }')).data).toEqual({ viewer: { audience: 'acme' } });

      await redis.start();
      await until(async () => (await readyStatus(herald.baseUrl)) === 200, '/ready again');
      // ioredis re-subscribes on reconnect; Redis counting it is the acknowledgement we can wait on.
      await until(async () => (await numsub(admin, [channel]))[0] === 1, 'the SUBSCRIBE again');
      expect((await gql(`${herald.baseUrl}/graphql`, publisher, PUBLISH, { topic: 'orders', payload: 'after' })).errors).toBeUndefined();
      expect((await stream.next()).data).toEqual({ topic: { payload: 'after' } });
      expect(stream.received.map((result) => result.data)).toEqual([{ topic: { payload: 'before' } }, { topic: { payload: 'after' } }]);
      expect(closed).toBe(false);

      // One line per transition, however many reconnect attempts failed in between.
      expect(herald.messages('redis bus lost')).toHaveLength(1);
      expect(herald.messages('redis bus back')).toHaveLength(1);
    } finally {
      await client.dispose();
      admin.disconnect();
      await herald.app.stop();
    }
  });

  it('learns a revocation made while its Redis link was down from the store when the link comes back', async () => {
    const prefix = uniquePrefix('fault-revoke');
    const dir = mkdtempSync(join(tmpdir(), 'herald-fault-revoke-'));
    const databaseUrl = join(dir, 'shared.db');
    const a = await startLoggedHerald(redis.url, prefix, databaseUrl);
    const b = await startLoggedHerald(redis.url, prefix, databaseUrl);
    const victim = await courierToken(TEST_SECRET, { aud: 'acme', sub: 'ann', jti: 'while-down', iat: Math.floor(Date.now() / 1000) });
    let closedWith: (event: { code: number; reason: string }) => void = () => {};
    const closed = new Promise<{ code: number; reason: string }>((resolve) => (closedWith = resolve));
    const client = wsClient(`${b.baseUrl.replace(/^http/, 'ws')}/graphql`, {
      connectionParams: { token: victim },
      on: { closed: (event) => closedWith({ code: (event as CloseEvent).code, reason: (event as CloseEvent).reason }) },
    });
    try {
      await until(async () => (await readyStatus(b.baseUrl)) === 200, '/ready');
      subscribe(client, SUBSCRIBE, { name: 'orders' });
      await waitForSubscribers(b.app, 'acme', 'orders');

      await redis.stop();
      await until(async () => (await readyStatus(b.baseUrl)) === 503, 'B to see Redis gone');
      // Stored, but the announcement reaches no other instance: B keeps the connection for now.
      const revoked = await gql(
        `${a.baseUrl}/graphql`,
        await token({ audience: 'acme', scopes: ['manage'] }),
        'mutation { revokeTokens(jti: "while-down", reason: "cut off") { connectionsClosed } }',
      );
      expect(revoked.data).toEqual({ revokeTokens: { connectionsClosed: 0 } });
      expect(b.app.fanout.subscriberCount('acme', 'orders')).toBe(1);

      await redis.start();
      expect(await closed).toEqual({ code: 4403, reason: 'token revoked: cut off' });
      expect((await gql(`${b.baseUrl}/graphql`, victim, '{ viewer { subject } }')).errors?.[0]?.extensions).toMatchObject({ reason: 'revoked' });
    } finally {
      await client.dispose();
      await Promise.all([a.app.stop(), b.app.stop()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts while Redis is down, not ready, and serves subscriptions made meanwhile once Redis is up', async () => {
    await redis.stop();
    const prefix = uniquePrefix('late');
    const herald = await startLoggedHerald(redis.url, prefix);
    const client = wsClient(`${herald.baseUrl.replace(/^http/, 'ws')}/graphql`, { connectionParams: { token: await token({ audience: 'acme' }) } });
    try {
      expect(await readyStatus(herald.baseUrl)).toBe(503);
      expect((await fetch(`${herald.baseUrl}/health`)).status).toBe(200);
      const stream = subscribe(client, SUBSCRIBE, { name: 'late' });
      await waitForSubscribers(herald.app, 'acme', 'late');

      await redis.start();
      await until(async () => (await readyStatus(herald.baseUrl)) === 200, '/ready');
      const admin = new Redis(redis.url);
      try {
        await until(
          async () => (await numsub(admin, [redisChannelName(prefix, { kind: 'topic', audience: 'acme', topic: 'late' })]))[0] === 1,
          'the queued SUBSCRIBE',
        );
      } finally {
        admin.disconnect();
      }
      const publisher = await token({ audience: 'acme', scopes: ['publish'] });
      expect((await gql(`${herald.baseUrl}/graphql`, publisher, PUBLISH, { topic: 'late', payload: 1 })).errors).toBeUndefined();
      expect((await stream.next()).data).toEqual({ topic: { payload: 1 } });
      expect(herald.messages('redis unreachable at start')).toHaveLength(1);
      expect(herald.messages('redis bus connected')).toHaveLength(1);
    } finally {
      await client.dispose();
      await herald.app.stop();
    }
  });

  it('answers UNAVAILABLE when Redis is connected but silent past the publish and count timeouts', async () => {
    const prefix = uniquePrefix('silent');
    const bus = createRedisBus({ url: redis.url, prefix, logger: pino({ level: 'silent' }), publishTimeoutMs: 200 });
    const admin = new Redis(redis.url);
    try {
      await until(() => {
        try {
          bus.assertAvailable();
          return true;
        } catch {
          return false;
        }
      }, 'bus connected');
      await until(async () => (await numsub(admin, [controlRequestChannel(prefix)]))[0] === 1, 'the count channel subscribed');
      // Redis stops answering every client for 2.5 s: a hung server, not a refused connection.
      await admin.call('CLIENT', 'PAUSE', '2500', 'ALL');
      const failure = await bus
        .publish({ audience: 'acme', topic: 'orders', payload: 1, publishedAt: new Date().toISOString(), publisher: null })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(HeraldError);
      expect((failure as HeraldError).code).toBe('UNAVAILABLE');
      // The cluster-wide count (its own 2 s timeout) fails the same way, with no unhandled rejection left behind.
      const countFailure = await bus.ask({ kind: 'subscribers', audience: 'acme', topic: 'orders' }).catch((error: unknown) => error);
      expect((countFailure as HeraldError).code).toBe('UNAVAILABLE');
    } finally {
      await bus.close();
      admin.disconnect();
    }
  });
});
