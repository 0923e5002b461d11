import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Channel } from './bus.js';
import type { ControlPubSub } from './redis-control.js';
import type { RedisHistory } from './redis-history.js';

/**
 * What the Redis bus needs of Redis, on one server (redis-single-link.ts: classic pub/sub) or on a
 * Redis Cluster (redis-cluster-link.ts: sharded pub/sub). The bus above it (redis-bus.ts) keeps
 * everything that is the same on both: listeners per channel, order and duplicates, catching up from
 * history after a reconnect, availability, control questions.
 */
export interface RedisLink {
  /** The history scripts; an append also publishes the message on its channels. */
  readonly history: RedisHistory;
  /** The control channels (redis-control.ts). */
  readonly control: ControlPubSub;
  /**
   * Whether a topic message's pattern channel is published apart from its topic's script (a
   * cluster: another shard), so that skipping it for audiences nobody listens to with patterns
   * saves a command (pattern-interest.ts). On one Redis the script publishes it at no extra cost.
   */
  readonly patternsApart: boolean;
  /** The name a bus channel has on this link. */
  channelName(channel: Channel): string;
  /**
   * Starts receiving `name` (once per name): `onValue` gets each message parsed from JSON (undefined
   * when it was not JSON). `ready` settles once the server acknowledged the subscription.
   */
  receive(name: string, onValue: (value: unknown) => void): { readonly ready: Promise<void>; stop(): void };
  /** After the receiving side came back: resolves once the server acknowledged these channels again. */
  resubscribed(names: readonly string[]): Promise<void>;
  /** Resolves once commands can run again (at once while they can). */
  commandsReady(): Promise<void>;
  /** Called each time the receiving side is back after a drop, not at the first connection. */
  onReceiverBack(listener: () => void): void;
  /** Whether commands and receiving both work now. */
  available(): boolean;
  close(): Promise<void>;
}

export function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Resolves once `client` is connected (at once when it is). */
export async function whenReady(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      client.off('ready', done);
      client.off('end', done);
      resolve();
    };
    client.on('ready', done);
    client.on('end', done);
  });
}

/** QUIT when connected (flushes what was sent); otherwise stop the reconnect loop at once. */
export async function quit(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/**
 * Tracks whether every client is up and logs each transition once: lost, back. ioredis also emits
 * an 'error' per failed reconnect attempt; those go to debug, so an outage is one warning, not a storm.
 * `where` names the Redis for the logs, password hidden.
 */
export function watchAvailability(clients: ReadonlyArray<Redis | Cluster>, logger: Logger, where: string) {
  let up = false;
  let everUp = false;
  let warnedAtStart = false;

  const update = (): void => {
    const nowUp = clients.every((client) => client.status === 'ready');
    if (nowUp === up) return;
    up = nowUp;
    if (up) {
      logger.info({ redis: where }, everUp ? 'redis bus back: publishing and delivery resume' : 'redis bus connected');
      everUp = true;
    } else {
      logger.warn({ redis: where }, 'redis bus lost: publishes fail with UNAVAILABLE until it returns; retrying');
    }
  };
  const onError = (error: Error): void => {
    if (!everUp && !warnedAtStart) {
      warnedAtStart = true;
      logger.warn({ redis: where, err: error.message }, 'redis unreachable at start: not ready; retrying');
    } else {
      logger.debug({ redis: where, err: error.message }, 'redis connection error');
    }
  };
  const events = ['ready', 'close', 'end', 'reconnecting'] as const;
  for (const client of clients) {
    for (const event of events) client.on(event, update);
    client.on('error', onError);
  }
  return {
    available: () => up,
    stop() {
      for (const client of clients) {
        for (const event of events) client.off(event, update);
        // Keep a listener: an 'error' event with none would be thrown by the EventEmitter.
        client.off('error', onError);
        client.on('error', () => {});
      }
    },
  };
}
