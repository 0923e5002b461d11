import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisChannelName } from '../src/bus/redis-channels.js';
import { HeraldError } from '../src/errors.js';
import { cursorOf, isAfter, isMessageId, messageId, newEpoch, parseCursor } from '../src/history/cursor.js';
import { gql, token, wsClient } from './helpers/herald.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { numsub, REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { subscribe } from './helpers/subscription.js';
import { until } from './helpers/until.js';

const hasRedis = await redisAvailable();

describe('message ids as cursors', () => {
  it('sort as strings in offset order within an epoch, and newer epochs after older ones', () => {
    const epoch = newEpoch(1_000);
    const ids = [1, 2, 9, 10, 99, 100, 123_456_789].map((offset) => messageId(epoch, offset));
    expect([...ids].sort()).toEqual(ids);
    const later = messageId(newEpoch(1_001), 1);
    expect([ids.at(-1)!, later].sort()).toEqual([ids.at(-1)!, later]);
    for (const id of [...ids, later]) expect(isMessageId(id)).toBe(true);
  });

  it('are unique across streams started in the same millisecond', () => {
    const epochs = new Set(Array.from({ length: 10_000 }, () => newEpoch(5)));
    expect(epochs.size).toBe(10_000);
  });

  it('read back as the epoch and offset they were made from', () => {
    const id = messageId(newEpoch(), 42);
    const cursor = parseCursor(id);
    expect(cursor).toEqual({ epoch: id.slice(0, 18), offset: 42, id });
    expect(cursorOf(id)).toEqual(cursor);
    expect(isAfter(messageId(cursor.epoch, 43), cursor)).toBe(true);
    expect(isAfter(messageId(cursor.epoch, 42), cursor)).toBe(false);
    expect(isAfter(messageId(cursor.epoch, 7), cursor)).toBe(false);
    // Another epoch is another history: never taken for an older message of this one.
    expect(isAfter(messageId(newEpoch(), 1), cursor)).toBe(true);
  });

  it('refuse anything else as BAD_USER_INPUT, naming the argument', () => {
    const good = messageId(newEpoch(), 1);
    for (const bad of ['', 'abc', '42', `${good}0`, good.toLowerCase(), good.replace('-', '_'), `${good.slice(0, -1)}x`, '01JF3IIIIIIIIIIIII-000000000001']) {
      const error = (() => {
        try {
          parseCursor(bad, 'after');
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, bad).toBeInstanceOf(HeraldError);
      expect((error as HeraldError).code).toBe('BAD_USER_INPUT');
      expect((error as HeraldError).message).toMatch(/^after must be a Message\.id/);
    }
  });
});

describe.skipIf(!hasRedis)('ids across gateway processes on the Redis bus', () => {
  const prefix = uniquePrefix('ids-order');
  const audience = 'ids-order';
  let gateways: HeraldProcess[] = [];
  let admin: Redis;
  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    gateways = await Promise.all([0, 1].map(() => startHeraldProcess({ REDIS_URL, REDIS_PREFIX: prefix })));
    await Promise.all(gateways.map((g) => until(async () => (await fetch(`${g.baseUrl}/ready`)).status === 200, 'ready')));
  }, 30_000);
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
    admin.disconnect();
  });

  it('sort, within one topic, in the order every subscriber received them, when two processes publish at once', async () => {
    const publisher = await token({ audience, scopes: ['publish', 'subscribe'] });
    const reader = await token({ audience, scopes: ['subscribe'] });
    const QUERY = 'subscription { topic(name: "race") { id payload } }';
    const clients = gateways.map((g) => wsClient(g.wsUrl, { connectionParams: { token: reader } }));
    const subs = clients.map((client) => subscribe<{ topic: { id: string; payload: string } }>(client, QUERY));
    // The subscribers live in other processes: wait until Redis counts both gateways on the topic's channel.
    const channel = redisChannelName(prefix, { kind: 'topic', audience, topic: 'race' });
    await until(async () => (await numsub(admin, [channel]))[0] === 2, 'both gateways subscribed');

    const perGateway = 150;
    const inFlight = 8;
    const published: string[] = [];
    // Both gateways publish at the same time, several requests in flight each, so their publishes interleave on Redis.
    await Promise.all(
      gateways.map(async (gateway, g) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next < perGateway) {
              const n = next++;
              const response = await gql<{ publish: { id: string } }>(
                gateway.httpUrl,
                publisher,
                'mutation($p: JSON!) { publish(topic: "race", payload: $p) { id } }',
                {
                  p: `${g}-${n}`,
                },
              );
              expect(response.errors).toBeUndefined();
              published.push(response.data!.publish.id);
            }
          }),
        );
      }),
    );
    const total = perGateway * gateways.length;
    await until(() => subs.every((sub) => sub.received.length === total), 'every message at both subscribers');

    const orders = subs.map((sub) => sub.received.map((r) => r.data!.topic.id));
    for (const order of orders) {
      expect(new Set(order).size).toBe(total);
      expect(order).toEqual([...order].sort());
    }
    // Both subscribers, on different gateways, received one order: the ids' order.
    expect(orders[1]).toEqual(orders[0]);
    expect([...published].sort()).toEqual(orders[0]);
    // The publishes did interleave (else this would not test two publishers racing).
    const sources = subs[0]!.received.map((r) => r.data!.topic.payload.slice(0, 1));
    const switches = sources.filter((source, i) => i > 0 && source !== sources[i - 1]).length;
    expect(switches).toBeGreaterThan(1);
    // The history holds the same order.
    const kept = await gql<{ history: Array<{ id: string }> }>(gateways[1]!.httpUrl, reader, 'query { history(topic: "race", limit: 1000) { id } }');
    expect(kept.data!.history.map((m) => m.id)).toEqual(orders[0]);

    for (const sub of subs) sub.dispose();
    for (const client of clients) await client.dispose();
  });
});
