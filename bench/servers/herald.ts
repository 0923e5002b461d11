/**
 * Herald as the benchmark runs it: the real createApp, limits raised for 10k sockets. The in-process
 * bus, the Redis bus when the harness passes BENCH_REDIS_URL (`--redis`), or the cluster bus when it
 * passes BENCH_REDIS_CLUSTER_NODES (`--redis-cluster N`), either under BENCH_REDIS_PREFIX.
 */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { BENCH_SECRET } from '../protocol.js';
import { serveBenchControl } from './control.js';

const redisUrl = process.env.BENCH_REDIS_URL;
const clusterNodes = process.env.BENCH_REDIS_CLUSTER_NODES;
const redisPrefix = process.env.BENCH_REDIS_PREFIX ?? 'herald-bench';
const app = await createApp(
  loadConfig({
    JWT_SECRET: BENCH_SECRET,
    PORT: '0',
    DATABASE_URL: ':memory:',
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS: '100000',
    ...(redisUrl !== undefined && { REDIS_URL: redisUrl, REDIS_PREFIX: redisPrefix }),
    ...(clusterNodes !== undefined && { REDIS_CLUSTER_NODES: clusterNodes, REDIS_PREFIX: redisPrefix }),
  }),
);
const url = await app.start();
// Report ready only once the bus is: the first publishes would otherwise meet UNAVAILABLE.
while ((await fetch(`${url}/ready`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
serveBenchControl(Number(new URL(url).port));
