import type { HistoryConfig, RedisConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import { createMemoryBus } from './memory-bus.js';
import { createRedisBus } from './redis-bus.js';

/** The Redis bus when REDIS_URL is set, the in-process bus otherwise. Never waits for Redis: readiness reports it. */
export function openBus(redis: RedisConfig | undefined, history: HistoryConfig, logger: Logger, onPublished?: (seconds: number) => void): Bus {
  return redis === undefined ? createMemoryBus(history) : createRedisBus({ url: redis.url, prefix: redis.prefix, logger, history, onPublished });
}
