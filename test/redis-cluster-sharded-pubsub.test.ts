import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedisCluster, type ClusterNode, type PrivateRedisCluster } from './helpers/redis-cluster.js';
import { until } from './helpers/until.js';

/**
 * What the Redis Cluster bus (issue 21) will stand on, pinned on a real cluster of the test's own
 * (3 masters, 3 replicas): ioredis's sharded subscribers receive SPUBLISH on hash-tagged channels;
 * each SPUBLISH is handled by the one master owning its channel's slot, where classic PUBLISH is
 * copied to every node; and after the owning master dies and its replica takes over, the same
 * subscriber receives that channel's messages again, without subscribing anew.
 */

let cluster: PrivateRedisCluster;
beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 60_000);
afterAll(() => cluster.stop());

const clusterClient = (extra: Record<string, unknown> = {}): Cluster =>
  new Cluster(
    cluster.nodes.map(({ host, port }) => ({ host, port })),
    { shardedSubscribers: true, clusterRetryStrategy: () => 100, redisOptions: { maxRetriesPerRequest: 1 }, ...extra },
  );

/** Calls of `command` each master has served (INFO commandstats). */
async function callsOn(node: ClusterNode, command: string): Promise<number> {
  const redis = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 0 });
  try {
    const stats = await redis.info('commandstats');
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

/** Three channels, one per master: the hash tag decides the slot. */
async function channelsOnEachMaster(): Promise<Array<{ channel: string; master: ClusterNode }>> {
  const picked = new Map<number, { channel: string; master: ClusterNode }>();
  for (let index = 0; picked.size < 3 && index < 1_000; index++) {
    const channel = `herald:{audience:topic-${index}}:topic`;
    const master = await cluster.masterOf(calculateSlot(channel));
    if (!picked.has(master.port)) picked.set(master.port, { channel, master });
  }
  return [...picked.values()];
}

describe('Redis Cluster sharded pub/sub, as ioredis does it', () => {
  it('delivers SPUBLISH to sharded subscribers, each message handled by its own shard only', async () => {
    const subscriber = clusterClient();
    const publisher = clusterClient();
    try {
      const targets = await channelsOnEachMaster();
      expect(targets).toHaveLength(3);
      const received: Array<[string, string]> = [];
      subscriber.on('smessage', (channel: string, text: string) => received.push([channel, text]));
      for (const { channel } of targets) await subscriber.ssubscribe(channel);

      const before = await Promise.all(targets.map(({ master }) => callsOn(master, 'spublish')));
      for (const [index, { channel }] of targets.entries()) {
        for (let n = 0; n <= index; n++) await publisher.spublish(channel, `${index}:${n}`);
      }
      await until(() => received.length === 6, 'six sharded messages');
      const after = await Promise.all(targets.map(({ master }) => callsOn(master, 'spublish')));
      // Master i served exactly its own channel's i + 1 publishes: nothing was copied to the others.
      expect(after.map((calls, index) => calls - before[index]!)).toEqual([1, 2, 3]);
      expect(received.filter(([channel]) => channel === targets[2]!.channel).map(([, text]) => text)).toEqual(['2:0', '2:1', '2:2']);
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });

  it('SPUBLISHes from a script whose keys and shard channel share one hash tag (how a publish appends to history and publishes at once)', async () => {
    const subscriber = clusterClient();
    const publisher = clusterClient();
    try {
      const tag = '{audience:orders/1}';
      const [history, channel] = [`herald:${tag}:history`, `herald:${tag}:topic`];
      const received: string[] = [];
      subscriber.on('smessage', (on: string, text: string) => {
        if (on === channel) received.push(text);
      });
      await subscriber.ssubscribe(channel);
      // The channel is declared among the keys, so the cluster checks it lives in the script's slot.
      const script = "redis.call('XADD', KEYS[1], '*', 'm', ARGV[1]); return redis.call('SPUBLISH', KEYS[2], ARGV[1])";
      expect(await publisher.eval(script, 2, history, channel, 'appended')).toBe(1);
      await until(() => received.includes('appended'), 'the message published by the script');
      expect(await publisher.xlen(history)).toBe(1);
      // A channel in another slot is refused, so one script cannot also reach an audience-wide channel.
      await expect(publisher.eval(script, 2, history, 'herald:{audience}:patterns', 'x')).rejects.toThrow(/CROSSSLOT/);
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });

  it('resubscribes a sharded channel on the replica promoted after its master dies', async () => {
    const subscriber = clusterClient();
    const publisher = clusterClient();
    try {
      const { channel, master } = (await channelsOnEachMaster())[0]!;
      const received: string[] = [];
      subscriber.on('smessage', (on: string, text: string) => {
        if (on === channel) received.push(text);
      });
      await subscriber.ssubscribe(channel);
      await publisher.spublish(channel, 'before');
      await until(() => received.includes('before'), 'the message before the failover');

      await cluster.kill(master);
      // The replica is promoted once the others have noticed (cluster-node-timeout), then the cluster is whole again.
      await until(async () => (await cluster.masterOf(calculateSlot(channel))).port !== master.port, 'the replica promoted', 20_000);
      await cluster.healthy();
      // A publish during the switch may fail; once the cluster is healthy one succeeds and is delivered.
      let n = 0;
      await until(
        async () => {
          try {
            await publisher.spublish(channel, `after-${++n}`);
          } catch {
            return false;
          }
          return received.some((text) => text.startsWith('after-'));
        },
        'a message delivered through the promoted replica',
        20_000,
      );
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  }, 60_000);
});
