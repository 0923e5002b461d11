import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../src/bus/bus.js';
import { channelsOf } from '../src/bus/bus.js';
import { redisChannelName, shardChannelName } from '../src/bus/redis-channels.js';
import { createRedisHistory, historyKeys, type RedisHistory } from '../src/bus/redis-history.js';
import type { MessageDraft } from '../src/history/history.js';
import { startPrivateRedisCluster, type PrivateRedisCluster } from './helpers/redis-cluster.js';
import { until } from './helpers/until.js';

/**
 * A stream's history and its publish on Redis Cluster (issue 21): the append script runs on the shard
 * that keeps the stream and SPUBLISHes its own channel there, atomically; the audience's patterns
 * channel, on the audience's shard, is SPUBLISHed after it. On a cluster of the test's own.
 */

const PREFIX = 'herald-cluster-history';
let cluster: PrivateRedisCluster;
let client: Cluster;
let subscriber: Cluster;
let history: RedisHistory;
/** Texts received on each shard channel. */
const received = new Map<string, string[]>();

beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ masters: 3, replicasPerMaster: 0 });
  const seeds = cluster.nodes.map(({ host, port }) => ({ host, port }));
  client = new Cluster(seeds);
  subscriber = new Cluster(seeds, { shardedSubscribers: true });
  subscriber.on('smessage', (channel: string, text: string) => received.set(channel, [...(received.get(channel) ?? []), text]));
  history = createRedisHistory(client, PREFIX, { size: 3, ttlMs: 60_000 }, true);
}, 60_000);
afterAll(async () => {
  subscriber.disconnect();
  client.disconnect();
  await cluster.stop();
});

const draft = (audience: string, topic: string | null, payload: unknown): MessageDraft => ({
  audience,
  topic,
  payload,
  publishedAt: new Date().toISOString(),
  publisher: null,
});
const shardChannels = (message: MessageDraft): string[] => channelsOf(message).map((channel) => shardChannelName(PREFIX, channel));

describe('shard channel names', () => {
  it('put a topic’s channel beside its history, and an audience’s broadcasts and patterns on the audience’s shard', () => {
    for (const audience of ['acme', 'a:b', '{weird}']) {
      for (const topic of ['orders', 'orders/42', 'a}b']) {
        const channel: Channel = { kind: 'topic', audience, topic };
        expect(calculateSlot(shardChannelName(PREFIX, channel))).toBe(calculateSlot(historyKeys(PREFIX, { audience, topic })[0]));
      }
      const audienceSlot = calculateSlot(historyKeys(PREFIX, { audience, topic: null })[0]);
      expect(calculateSlot(shardChannelName(PREFIX, { kind: 'broadcasts', audience }))).toBe(audienceSlot);
      expect(calculateSlot(shardChannelName(PREFIX, { kind: 'patterns', audience }))).toBe(audienceSlot);
    }
    // Distinct from the single-Redis names, so the two never meet on one server.
    const channel: Channel = { kind: 'topic', audience: 'acme', topic: 'orders' };
    expect(shardChannelName(PREFIX, channel)).not.toBe(redisChannelName(PREFIX, channel));
  });
});

describe('history on Redis Cluster', () => {
  it('appends, stamps ids in order, SPUBLISHes on the topic’s and the audience’s patterns channels, and reads back what it keeps', async () => {
    const first = draft('acme', 'orders/1', { n: 1 });
    const [own, patterns] = shardChannels(first);
    // One SSUBSCRIBE per slot: the two live on different shards.
    await subscriber.ssubscribe(own!);
    await subscriber.ssubscribe(patterns!);
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) ids.push((await history.append(draft('acme', 'orders/1', { n }), shardChannels(first))).id);
    expect([...ids].sort()).toEqual(ids);

    await until(() => received.get(own!)?.length === 4 && received.get(patterns!)?.length === 4, 'four messages on both shard channels');
    const texts = received.get(own!)!;
    expect(texts.map((text) => (JSON.parse(text) as { id: string }).id)).toEqual(ids);
    expect(received.get(patterns!)).toEqual(texts);
    expect(JSON.parse(texts[0]!)).toMatchObject({ id: ids[0], audience: 'acme', topic: 'orders/1', payload: { n: 1 } });

    // HISTORY_SIZE 3: the oldest went; the rest read back in order, after a cursor too.
    const window = await history.read({ audience: 'acme', topic: 'orders/1' }, undefined, 10, (text) => JSON.parse(text) as never);
    expect(window?.messages.map((message) => message.id)).toEqual(ids.slice(1));
    expect((await history.head({ audience: 'acme', topic: 'orders/1' })).id).toBe(ids[3]);
  });

  it('keeps broadcasts on the audience’s shard, with their own ids', async () => {
    const message = draft('acme', null, 'hello');
    const [own] = shardChannels(message);
    await subscriber.ssubscribe(own!);
    const { id } = await history.append(message, shardChannels(message));
    await until(() => received.get(own!)?.length === 1, 'the broadcast on its shard channel');
    expect(JSON.parse(received.get(own!)![0]!)).toMatchObject({ id, audience: 'acme', topic: null, payload: 'hello' });
  });

  it('spreads topics over the shards: each stream is kept by the master owning its tag', async () => {
    const masters = new Map<number, string>();
    for (let n = 0; masters.size < 3 && n < 500; n++) {
      const topic = `spread/${n}`;
      const master = await cluster.masterOf(calculateSlot(historyKeys(PREFIX, { audience: 'spread', topic })[0]));
      if (!masters.has(master.port)) masters.set(master.port, topic);
    }
    expect(masters.size).toBe(3);
    for (const [port, topic] of masters) {
      await history.append(draft('spread', topic, 1), shardChannels(draft('spread', topic, 1)));
      // Asked of that master alone (a plain connection, no redirection): its keys are there.
      const direct = new Redis({ host: '127.0.0.1', port });
      try {
        expect(await direct.exists(...historyKeys(PREFIX, { audience: 'spread', topic }))).toBe(2);
      } finally {
        direct.disconnect();
      }
    }
  });
});
