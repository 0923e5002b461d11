import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { until } from './until.js';

/** The shared Redis the suites use (CI starts it; see .ci/run). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test or run uses, so runs sharing one Redis never hear each other. */
export const uniquePrefix = (label = 'test'): string => `herald-${label}-${randomBytes(6).toString('hex')}`;

/**
 * Whether the Redis suites can run. In CI they must: an unreachable Redis throws there, so the
 * suite fails rather than skips. Elsewhere a missing Redis skips them with the reason printed.
 */
export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`Redis at ${url} is required in CI: ${String(error)}`, { cause: error });
    console.warn(`Redis at ${url} unreachable: Redis suites skipped (${String(error)})`);
    return false;
  } finally {
    client.disconnect();
  }
}

/** Subscribers Redis counts on each channel (PUBSUB NUMSUB). */
export async function numsub(admin: Redis, channels: readonly string[]): Promise<number[]> {
  const reply = (await admin.call('PUBSUB', 'NUMSUB', ...channels)) as Array<string | number>;
  return channels.map((_, i) => Number(reply[i * 2 + 1]));
}

/**
 * A redis-server of the test's own on a free port, that the test can stop and start again on the
 * same port (fault tests must not disturb the shared Redis other suites use).
 */
export interface PrivateRedis {
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await until(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the reply is typed 'PONG'; comparing is the probe
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, `redis-server on port ${port}`);
    } finally {
      probe.disconnect();
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };
  await start();
  return { url, start, stop };
}

/** A port nothing listens on now (the OS's pick, released at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
