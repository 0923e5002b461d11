import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyKeys } from '../src/bus/redis-history.js';
import { gql, startHerald, token, untilReady, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { subscribe, type Subscription } from './helpers/subscription.js';
import { until } from './helpers/until.js';

/**
 * Resuming over graphql-ws when the gap cannot be filled (issue 17, item 4): the subscription ends
 * with a stable code and a message saying what to do, never with a silent short replay.
 */
const hasRedis = await redisAvailable();

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const BROADCAST = 'mutation($p: JSON!) { broadcast(payload: $p) { id } }';
const TOPIC = 'subscription($name: String!, $after: ID) { topic(name: $name, after: $after) { id payload } }';
const BROADCASTS = 'subscription($after: ID) { broadcasts(after: $after) { id payload } }';
const AUDIENCE = 'expiry';

type Received = Subscription<Record<string, { id: string; payload: number } | undefined>>;

interface Ended {
  codes: string[];
  messages: string[];
  /** Each error's `extensions.latest` (CURSOR_EXPIRED's resume point), undefined where absent. */
  latest: Array<string | undefined>;
  /** Payloads delivered before the end: a refused resume must deliver none. */
  delivered: number[];
}

/** Waits for the subscription to end and says how: the error codes and messages, whether sent as `next` with errors or as `error`. */
async function endOf(sub: Received): Promise<Ended> {
  // A resume that wrongly succeeds never ends: fail with what it delivered instead of at the test's timeout.
  let timer: NodeJS.Timeout | undefined;
  const stillOpen = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the subscription did not end; it delivered ${JSON.stringify(sub.received)}`)), 5_000);
  });
  const { error } = await Promise.race([sub.ended, stillOpen]).finally(() => clearTimeout(timer));
  const errors: Array<{ message: string; extensions?: Readonly<Record<string, unknown>> }> = [];
  const delivered: number[] = [];
  for (const result of sub.received) {
    if (result.errors !== undefined) errors.push(...result.errors);
    const data = result.data === null || result.data === undefined ? undefined : Object.values(result.data)[0];
    if (data !== undefined) delivered.push(data.payload);
  }
  if (Array.isArray(error)) errors.push(...(error as unknown as typeof errors));
  return {
    codes: errors.map((e) => (typeof e.extensions?.code === 'string' ? e.extensions.code : '?')),
    messages: errors.map((e) => e.message),
    latest: errors.map((e) => (typeof e.extensions?.latest === 'string' ? e.extensions.latest : undefined)),
    delivered,
  };
}

async function expectRefused(sub: Received, code: string): Promise<Ended> {
  const ended = await endOf(sub);
  expect(ended.codes).toEqual([code]);
  expect(ended.delivered).toEqual([]);
  // Says what to do.
  expect(ended.messages[0]).toMatch(/without after/);
  return ended;
}

async function credentials(): Promise<{ publisher: string; reader: string }> {
  return {
    publisher: await token({ audience: AUDIENCE, scopes: ['publish', 'subscribe'] }),
    reader: await token({ audience: AUDIENCE, scopes: ['subscribe'] }),
  };
}

/** A Herald on the Redis bus answers UNAVAILABLE until its Redis connections are up: tests publish once /ready says so. */
async function startReady(env: Record<string, string>): Promise<TestHerald> {
  const herald = await startHerald(env);
  await untilReady(herald);
  return herald;
}

function publisherOf(herald: TestHerald, bearer: string) {
  return {
    async publish(topic: string, payload: number): Promise<string> {
      const response = await gql<{ publish: { id: string } }>(herald.httpUrl, bearer, PUBLISH, { t: topic, p: payload });
      expect(response.errors).toBeUndefined();
      return response.data!.publish.id;
    },
    async broadcast(payload: number): Promise<string> {
      const response = await gql<{ broadcast: { id: string } }>(herald.httpUrl, bearer, BROADCAST, { p: payload });
      expect(response.errors).toBeUndefined();
      return response.data!.broadcast.id;
    },
    async publishMany(topic: string, count: number): Promise<string[]> {
      const ids: string[] = [];
      for (let n = 1; n <= count; n++) ids.push(await this.publish(topic, n));
      return ids;
    },
  };
}

describe('CURSOR_EXPIRED and BAD_USER_INPUT on the in-process bus', () => {
  let herald: TestHerald;
  let reader: string;
  let bus: ReturnType<typeof publisherOf>;
  beforeAll(async () => {
    herald = await startHerald({ HISTORY_SIZE: '5' });
    const made = await credentials();
    reader = made.reader;
    bus = publisherOf(herald, made.publisher);
  });
  afterAll(() => herald.stop());

  const client = () => wsClient(herald.wsUrl, { connectionParams: { token: reader } });

  it('refuses a cursor older than HISTORY_SIZE keeps, and replays from the oldest cursor still covered', async () => {
    const ids = await bus.publishMany('trimmed', 20);
    const ws = client();
    // Offsets 16..20 are kept: a cursor at 15 is covered, one at 14 has lost message 15.
    const covered = subscribe(ws, TOPIC, { name: 'trimmed', after: ids[14] });
    await until(() => covered.received.length === 5, 'the replay of the five kept');
    expect(covered.received.map((r) => r.data!.topic!.payload)).toEqual([16, 17, 18, 19, 20]);
    covered.dispose();
    for (const after of [ids[0], ids[13]]) {
      const { messages, latest } = await expectRefused(subscribe(ws, TOPIC, { name: 'trimmed', after }), 'CURSOR_EXPIRED');
      expect(messages[0]).toMatch(/no longer kept/);
      // Where the stream stands: resuming from there after re-reading state misses nothing.
      expect(latest).toEqual([ids[19]]);
      expect(messages[0]).toMatch(/extensions\.latest/);
    }
    const fromLatest = subscribe(ws, TOPIC, { name: 'trimmed', after: ids[19] });
    await waitForSubscribers(herald.app, AUDIENCE, 'trimmed');
    await bus.publish('trimmed', 21);
    await until(() => fromLatest.received.length === 1, 'the message after latest');
    expect(fromLatest.received.map((r) => r.data!.topic!.payload)).toEqual([21]);
    fromLatest.dispose();
    await ws.dispose();
  });

  it("gives as latest the head of the subscriber's own audience's stream, never another's", async () => {
    const mine = await bus.publishMany('shared-name', 8);
    const other = await token({ audience: 'expiry-other', scopes: ['subscribe'] });
    const ws = wsClient(herald.wsUrl, { connectionParams: { token: other } });
    // The same topic name in another audience is another stream: it has no history, so its own new epoch.
    const { latest } = await expectRefused(subscribe(ws, TOPIC, { name: 'shared-name', after: mine[0] }), 'CURSOR_EXPIRED');
    expect(latest[0]).toMatch(/-000000000000$/);
    expect(latest[0]!.slice(0, 18)).not.toBe(mine[0]!.slice(0, 18));
    await ws.dispose();
  });

  it('refuses a pattern with after, and a malformed cursor, as BAD_USER_INPUT', async () => {
    const [id] = await bus.publishMany('pat/a', 1);
    const ws = client();
    for (const name of ['pat/*', 'pat/**']) {
      const { messages } = await expectRefused(subscribe(ws, TOPIC, { name, after: id }), 'BAD_USER_INPUT');
      expect(messages[0]).toMatch(/pattern/);
    }
    for (const after of ['garbage', '1', `${id}0`]) {
      await expectRefused(subscribe(ws, TOPIC, { name: 'pat/a', after }), 'BAD_USER_INPUT');
    }
    await ws.dispose();
  });

  it('replays nothing for a cursor equal to the newest id, then goes live', async () => {
    const ids = await bus.publishMany('newest', 3);
    const ws = client();
    const sub = subscribe(ws, TOPIC, { name: 'newest', after: ids.at(-1) });
    await waitForSubscribers(herald.app, AUDIENCE, 'newest');
    const live = await bus.publish('newest', 4);
    await until(() => sub.received.length >= 1, 'the live message');
    expect(sub.received.map((r) => [r.data!.topic!.id, r.data!.topic!.payload])).toEqual([[live, 4]]);
    expect([...ids, live].sort()).toEqual([...ids, live]);
    sub.dispose();
    await ws.dispose();
  });

  it('resumes broadcasts(after) like a topic, and refuses a trimmed broadcasts cursor', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 8; n++) ids.push(await bus.broadcast(n));
    const ws = client();
    const sub = subscribe(ws, BROADCASTS, { after: ids[5] });
    await until(() => sub.received.length === 2, 'the replayed broadcasts');
    await waitForSubscribers(herald.app, AUDIENCE, null);
    await bus.broadcast(9);
    await until(() => sub.received.length === 3, 'the live broadcast');
    expect(sub.received.map((r) => r.data!.broadcasts!.payload)).toEqual([7, 8, 9]);
    sub.dispose();
    await expectRefused(subscribe(ws, BROADCASTS, { after: ids[0] }), 'CURSOR_EXPIRED');
    await ws.dispose();
  });
});

describe('CURSOR_EXPIRED after a restart of the in-process gateway', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'herald-cursor-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  // A persistent store keeps topics and tokens across the restart, but history is in memory: the epoch tells.
  it.each([
    ['an in-memory store', ':memory:'],
    ['the same SQLite file', `sqlite:${join(scratch, 'herald.db')}`],
  ])('refuses a cursor from before the restart (%s), before and after the topic is published to again', async (_name, database) => {
    const { publisher, reader } = await credentials();
    const before = await startHerald({ DATABASE_URL: database });
    const ids = await publisherOf(before, publisher).publishMany('restart', 3);
    await before.stop();

    const after = await startHerald({ DATABASE_URL: database });
    try {
      const ws = wsClient(after.wsUrl, { connectionParams: { token: reader } });
      const { messages, latest } = await expectRefused(subscribe(ws, TOPIC, { name: 'restart', after: ids[1] }), 'CURSOR_EXPIRED');
      expect(messages[0]).toMatch(/re-read the current state/);
      // The history is gone: latest is offset 0 of the stream's new epoch, which its next publishes continue.
      expect(latest[0]).toMatch(/-000000000000$/);
      // The new life of the stream counts from 1 again: its ids must not be read as after the old cursor's offset.
      const fresh = await publisherOf(after, publisher).publishMany('restart', 3);
      expect(fresh[0]!.slice(0, 18)).not.toBe(ids[0]!.slice(0, 18));
      expect(fresh[0]!.slice(0, 18)).toBe(latest[0]!.slice(0, 18));
      const fromLatest = subscribe(ws, TOPIC, { name: 'restart', after: latest[0] });
      await until(() => fromLatest.received.length === 3, 'the replay after latest');
      expect(fromLatest.received.map((r) => r.data!.topic!.id)).toEqual(fresh);
      fromLatest.dispose();
      await expectRefused(subscribe(ws, TOPIC, { name: 'restart', after: ids[1] }), 'CURSOR_EXPIRED');
      await ws.dispose();
    } finally {
      await after.stop();
    }
  });
});

describe('HISTORY_SIZE=0 on the in-process bus', () => {
  let herald: TestHerald;
  afterAll(() => herald.stop());

  it('refuses every cursor with CURSOR_EXPIRED, and ids still sort within a topic', async () => {
    herald = await startHerald({ HISTORY_SIZE: '0' });
    const { publisher, reader } = await credentials();
    const ids = await publisherOf(herald, publisher).publishMany('off', 12);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const ws = wsClient(herald.wsUrl, { connectionParams: { token: reader } });
    for (const after of [ids[0], ids.at(-1)]) {
      const { messages, latest } = await expectRefused(subscribe(ws, TOPIC, { name: 'off', after }), 'CURSOR_EXPIRED');
      expect(messages[0]).toMatch(/HISTORY_SIZE=0/);
      // Nothing to resume from while history is off.
      expect(latest).toEqual([undefined]);
    }
    const history = await gql<{ history: unknown[] }>(herald.httpUrl, reader, 'query { history(topic: "off") { id } }');
    expect(history.data!.history).toEqual([]);
    await ws.dispose();
  });
});

describe.skipIf(!hasRedis)('CURSOR_EXPIRED on the Redis bus', () => {
  const prefix = uniquePrefix('cursor-expired');
  let admin: Redis;
  let herald: TestHerald;
  let ttlHerald: TestHerald | undefined;
  let reader: string;
  let bus: ReturnType<typeof publisherOf>;
  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    herald = await startReady({ REDIS_URL, REDIS_PREFIX: prefix, HISTORY_SIZE: '5' });
    const made = await credentials();
    reader = made.reader;
    bus = publisherOf(herald, made.publisher);
  });
  afterAll(async () => {
    await herald.stop();
    await ttlHerald?.stop();
    await deleteKeys(`${prefix}:*`);
    admin.disconnect();
  });

  /** The test's own keys only (SCAN of its prefix), never FLUSHDB of a Redis other suites share. */
  const deleteKeys = async (match: string): Promise<number> => {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await admin.del(...keys);
    } while (cursor !== '0');
    return deleted;
  };
  const client = (on: TestHerald = herald) => wsClient(on.wsUrl, { connectionParams: { token: reader } });

  it('refuses a trimmed cursor, and replays from the oldest covered one', async () => {
    const ids = await bus.publishMany('trimmed', 20);
    const ws = client();
    const covered = subscribe(ws, TOPIC, { name: 'trimmed', after: ids[14] });
    await until(() => covered.received.length === 5, 'the replay of the five kept');
    expect(covered.received.map((r) => r.data!.topic!.payload)).toEqual([16, 17, 18, 19, 20]);
    covered.dispose();
    await expectRefused(subscribe(ws, TOPIC, { name: 'trimmed', after: ids[13] }), 'CURSOR_EXPIRED');
    await ws.dispose();
  });

  it("refuses a cursor whose history was deleted from Redis (the test's keys only), even once the topic is published to again", async () => {
    const ids = await bus.publishMany('lost', 4);
    const [meta, history] = historyKeys(prefix, { audience: AUDIENCE, topic: 'lost' });
    expect(await admin.exists(meta, history)).toBe(2);
    expect(await deleteKeys(`${prefix}:*`)).toBeGreaterThanOrEqual(2);
    expect(await admin.exists(meta, history)).toBe(0);
    const ws = client();
    const { latest } = await expectRefused(subscribe(ws, TOPIC, { name: 'lost', after: ids[1] }), 'CURSOR_EXPIRED');
    // latest made the stream's new epoch (offset 0), with the TTL a publish gives it.
    expect(latest[0]).toMatch(/-000000000000$/);
    expect(await admin.pttl(meta)).toBeGreaterThan(0);
    // A publish after the loss continues that new epoch at offset 1: the old cursor must not be taken as covered.
    const fresh = await bus.publishMany('lost', 5);
    expect(fresh[0]!.slice(0, 18)).not.toBe(ids[0]!.slice(0, 18));
    expect(fresh[0]).toBe(`${latest[0]!.slice(0, 18)}-000000000001`);
    await expectRefused(subscribe(ws, TOPIC, { name: 'lost', after: ids[1] }), 'CURSOR_EXPIRED');
    const fromLatest = subscribe(ws, TOPIC, { name: 'lost', after: latest[0] });
    await until(() => fromLatest.received.length === 5, 'the replay after latest');
    expect(fromLatest.received.map((r) => r.data!.topic!.id)).toEqual(fresh);
    fromLatest.dispose();
    await ws.dispose();
  });

  it('refuses a cursor once HISTORY_TTL has expired the stream', async () => {
    ttlHerald = await startReady({ REDIS_URL, REDIS_PREFIX: prefix, HISTORY_TTL: '1' });
    const { publisher } = await credentials();
    const ids = await publisherOf(ttlHerald, publisher).publishMany('ttl', 3);
    const [meta, history] = historyKeys(prefix, { audience: AUDIENCE, topic: 'ttl' });
    // The keys carry the TTL (-1 would be a key kept for ever; -2, already gone, is fine on a slow machine).
    expect(await admin.pttl(meta)).not.toBe(-1);
    expect(await admin.pttl(meta)).toBeLessThanOrEqual(1_000);
    // Redis expires the keys itself; EXISTS also expires a key whose time has passed.
    await until(async () => (await admin.exists(meta, history)) === 0, 'the history keys to expire', 5_000);
    const ws = client(ttlHerald);
    const { messages } = await expectRefused(subscribe(ws, TOPIC, { name: 'ttl', after: ids[0] }), 'CURSOR_EXPIRED');
    expect(messages[0]).toMatch(/HISTORY_TTL/);
    await ws.dispose();
  });

  it('refuses a pattern with after as BAD_USER_INPUT; a cursor equal to the newest id goes live with nothing replayed', async () => {
    const ids = await bus.publishMany('edge/a', 2);
    const ws = client();
    await expectRefused(subscribe(ws, TOPIC, { name: 'edge/*', after: ids[0] }), 'BAD_USER_INPUT');
    const sub = subscribe(ws, TOPIC, { name: 'edge/a', after: ids[1] });
    await waitForSubscribers(herald.app, AUDIENCE, 'edge/a');
    // Published before Redis confirms the channel, it comes from the history read; after, live: either way once.
    const live = await bus.publish('edge/a', 3);
    await until(() => sub.received.length >= 1, 'the live message');
    expect(sub.received.map((r) => [r.data!.topic!.id, r.data!.topic!.payload])).toEqual([[live, 3]]);
    sub.dispose();
    await ws.dispose();
  });

  it('resumes broadcasts(after) like a topic', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 4; n++) ids.push(await bus.broadcast(n));
    const ws = client();
    const sub = subscribe(ws, BROADCASTS, { after: ids[1] });
    await until(() => sub.received.length === 2, 'the replayed broadcasts');
    await waitForSubscribers(herald.app, AUDIENCE, null);
    await bus.broadcast(5);
    await until(() => sub.received.length === 3, 'the live broadcast');
    expect(sub.received.map((r) => r.data!.broadcasts!.payload)).toEqual([3, 4, 5]);
    sub.dispose();
    await ws.dispose();
  });
});
