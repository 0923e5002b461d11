import { Redis } from 'ioredis';
import type { Channel } from '../../src/bus/bus.js';
import { redisChannelName, shardChannelName } from '../../src/bus/redis-channels.js';
import { numsub, REDIS_URL, uniquePrefix } from './redis.js';
import { startPrivateRedisCluster } from './redis-cluster.js';

/** The Redis buses a multi-instance suite runs over: the shared Redis server, and a Redis Cluster of the suite's own. */
export const REDIS_BACKENDS = [
  { kind: 'redis', name: 'one Redis' },
  { kind: 'redis-cluster', name: 'a Redis Cluster (3 masters)' },
] as const;

export type RedisBackendKind = (typeof REDIS_BACKENDS)[number]['kind'];

export interface RedisBackend {
  /** REDIS_URL or REDIS_CLUSTER_NODES, and a REDIS_PREFIX of this run's own. */
  readonly env: Readonly<Record<string, string>>;
  readonly prefix: string;
  /** The subscriptions Redis counts on a bus channel (PUBSUB NUMSUB, or SHARDNUMSUB on the owning master): each listening instance makes one. */
  subscribers(channel: Channel): Promise<number>;
  /** Drops what the run left in the shared Redis, or stops the cluster. */
  stop(): Promise<void>;
}

export async function startRedisBackend(kind: RedisBackendKind, label: string): Promise<RedisBackend> {
  const prefix = uniquePrefix(label);
  if (kind === 'redis') {
    const admin = new Redis(REDIS_URL);
    return {
      env: { REDIS_URL, REDIS_PREFIX: prefix },
      prefix,
      subscribers: async (channel) => (await numsub(admin, [redisChannelName(prefix, channel)]))[0] ?? 0,
      async stop() {
        const keys = await admin.keys(`${prefix}:*`);
        if (keys.length > 0) await admin.del(...keys);
        admin.disconnect();
      },
    };
  }
  const cluster = await startPrivateRedisCluster({ masters: 3, replicasPerMaster: 0 });
  return {
    env: { REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','), REDIS_PREFIX: prefix },
    prefix,
    subscribers: (channel) => cluster.shardNumsub(shardChannelName(prefix, channel)),
    stop: () => cluster.stop(),
  };
}
