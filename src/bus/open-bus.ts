import type { HistoryConfig, RedisConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import { createMemoryBus } from './memory-bus.js';
import { createRedisBus, createRedisBusOver } from './redis-bus.js';
import { createRedisClusterLink } from './redis-cluster-link.js';

/**
 * The Redis bus on one server (REDIS_URL) or on a Redis Cluster (REDIS_CLUSTER_NODES), the in-process
 * bus otherwise. Never waits for Redis: readiness reports it.
 */
export function openBus(redis: RedisConfig | undefined, history: HistoryConfig, logger: Logger, onPublished?: (seconds: number) => void): Bus {
  if (redis === undefined) return createMemoryBus(history);
  if ('url' in redis) return createRedisBus({ url: redis.url, prefix: redis.prefix, logger, history, onPublished });
  return createRedisBusOver(createRedisClusterLink({ cluster: redis.cluster, prefix: redis.prefix, logger, history }), { logger, history, onPublished });
}
