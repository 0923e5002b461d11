/**
 * `--redis-cluster N`: the bench's own Redis Cluster (N masters, no replicas, spare ports and data
 * dirs of its own: test/helpers/redis-cluster.ts), and what each master did while herald-cluster
 * was measured, read from INFO on every master, against what the cluster bus's design says it should
 * do: each message's append script (EVALSHA, which SPUBLISHes the topic's shard channel) on the one
 * master owning its topic's slot, and nothing else: the bench has no pattern subscribers, so once
 * the gateway has synced at start no pattern channel is published (src/bus/redis-history.ts,
 * redis-channels.ts, pattern-interest.ts).
 */
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { shardChannelName } from '../src/bus/redis-channels.js';
import { startPrivateRedisCluster, type ClusterNode } from '../test/helpers/redis-cluster.js';
import { BENCH_AUDIENCE, benchTopic } from './protocol.js';

/** One master's counters: calls from INFO commandstats, CPU from INFO cpu. */
export interface ShardUse {
  readonly spublish: number;
  /** EVALSHA and EVAL: ioredis falls back to EVAL when a node does not have the script yet. */
  readonly scripts: number;
  /** Classic PUBLISH: the cluster bus sends none, so anything here is someone else's. */
  readonly publish: number;
  readonly cpuSeconds: number;
}

export interface Master {
  readonly node: ClusterNode;
  /** Inclusive slot ranges it serves. */
  readonly slots: ReadonlyArray<readonly [number, number]>;
}

export interface BenchCluster {
  /** REDIS_CLUSTER_NODES for Herald: every node. */
  readonly seeds: string;
  readonly masters: readonly Master[];
  /** Every master's counters now, in `masters` order. */
  read(): Promise<ShardUse[]>;
  /** Stops every node and removes its data dir; safe to call again. */
  stop(): Promise<void>;
}

export async function startBenchCluster(masters: number): Promise<BenchCluster> {
  const cluster = await startPrivateRedisCluster({ masters, replicasPerMaster: 0 });
  // One connection per master, kept open: a fresh one per reading would show up in the figures it reads.
  const connect = (node: ClusterNode): Redis => {
    const redis = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    return redis;
  };
  let connections: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const redis of connections) redis.disconnect();
    connections = [];
    await cluster.stop();
  };
  try {
    const first = connect(cluster.nodes[0]!);
    const ranges = await first.cluster('SLOTS').finally(() => first.disconnect());
    const byPort = new Map<number, { node: ClusterNode; slots: Array<readonly [number, number]> }>();
    for (const [from, to, owner] of ranges) {
      if (owner === undefined) continue;
      const [host, port] = owner;
      const master = byPort.get(port) ?? { node: { host, port }, slots: [] };
      master.slots.push([from, to]);
      byPort.set(port, master);
    }
    const list = [...byPort.values()].sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
    connections = list.map(({ node }) => connect(node));
    return {
      seeds: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
      masters: list,
      read: () => Promise.all(connections.map(async (redis) => parseInfo(String(await redis.call('INFO', 'cpu', 'commandstats'))))),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export const noUse = (masters: number): ShardUse[] => Array.from({ length: masters }, () => ({ spublish: 0, scripts: 0, publish: 0, cpuSeconds: 0 }));

/** `total` plus what each master did from `before` to `after` (readings of `read`). */
export function addUsed(total: readonly ShardUse[], before: readonly ShardUse[], after: readonly ShardUse[]): ShardUse[] {
  return total.map((sum, i) => {
    const [start, end] = [before[i]!, after[i]!];
    return {
      spublish: sum.spublish + end.spublish - start.spublish,
      scripts: sum.scripts + end.scripts - start.scripts,
      publish: sum.publish + end.publish - start.publish,
      cpuSeconds: sum.cpuSeconds + end.cpuSeconds - start.cpuSeconds,
    };
  });
}

/** What each master should do for `messages` published round robin over `topics` topics (benchTopic). */
export interface ExpectedUse {
  readonly topics: number;
  readonly scripts: number;
  readonly spublish: number;
}

export function expectedUse(masters: readonly Master[], prefix: string, topics: number, messages: number): ExpectedUse[] {
  const ownerOf = (channel: string): number => {
    const slot = calculateSlot(channel);
    return masters.findIndex(({ slots }) => slots.some(([from, to]) => slot >= from && slot <= to));
  };
  const expected = masters.map(() => ({ topics: 0, scripts: 0, spublish: 0 }));
  for (let topic = 0; topic < topics; topic++) {
    const owner = expected[ownerOf(shardChannelName(prefix, { kind: 'topic', audience: BENCH_AUDIENCE, topic: benchTopic(topic, topics) }))]!;
    const count = Math.floor(messages / topics) + (topic < messages % topics ? 1 : 0);
    owner.topics++;
    owner.scripts += count;
    // The script SPUBLISHes the topic's own channel, and commandstats counts a script's commands too.
    owner.spublish += count;
  }
  return expected;
}

function parseInfo(info: string): ShardUse {
  const calls = (command: string): number => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const seconds = (field: string): number => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return {
    spublish: calls('spublish'),
    scripts: calls('evalsha') + calls('eval'),
    publish: calls('publish'),
    cpuSeconds: seconds('used_cpu_sys') + seconds('used_cpu_user'),
  };
}
