import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis, type RedisOptions } from 'ioredis';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact-url.js';
import { payloadJsonOf, type Message } from '../publish/message.js';
import { channelsOf, type Bus } from './bus.js';
import { withLagAwareTimeout } from './lag-aware-timeout.js';
import { redisChannelName } from './redis-channels.js';
import { createRedisSubscriberCount } from './redis-subscriber-count.js';

export interface RedisBusOptions {
  /** redis:// or rediss:// URL (REDIS_URL). */
  readonly url: string;
  /** Start of every channel name (REDIS_PREFIX). */
  readonly prefix: string;
  readonly logger: Logger;
  /** Milliseconds a publish waits for Redis before failing with UNAVAILABLE. Default 2 000. */
  readonly publishTimeoutMs?: number;
}

/** The event each Redis message becomes; `detail` is undefined when the text was not JSON. */
type MessageEvent = CustomEvent<unknown>;

/**
 * The scale-out bus: Redis pub/sub through @graphql-yoga/redis-event-target, on two ioredis
 * connections. The event target does what it is good at: one SUBSCRIBE per channel however many
 * local listeners, UNSUBSCRIBE when the last leaves, decoding each message once per instance.
 * Publishing goes straight to ioredis, because dispatchEvent fires and forgets and the publish
 * mutation must know whether Redis took the message.
 *
 * Faults: the connections retry for ever (a Redis that is down at start or goes away later never
 * crashes the process). While either is down, publish fails fast with UNAVAILABLE and readiness
 * fails; sockets stay open, and ioredis re-subscribes every channel on reconnect, so existing
 * subscriptions receive new messages again. Redis pub/sub keeps nothing: messages published
 * while an instance's subscriber connection was down do not reach that instance.
 */
export function createRedisBus(options: RedisBusOptions): Bus {
  const { url, prefix, logger } = options;
  const common: RedisOptions = {
    connectionName: `${prefix}:herald`,
    // Back off to 2 s between attempts, for ever.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  const publishClient = new Redis(url, {
    ...common,
    // Fail at once while disconnected instead of queueing: the publisher gets UNAVAILABLE and can retry.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // No commandTimeout: publish applies its own, which does not count event-loop lag (see lag-aware-timeout.ts).
  });
  const publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
  // SUBSCRIBE commands issued while disconnected wait for the connection rather than fail.
  const subscribeClient = new Redis(url, { ...common, maxRetriesPerRequest: null });

  const target = createRedisEventTarget<MessageEvent>({
    publishClient,
    subscribeClient,
    // Anything on our channels that is not JSON (another program's traffic) is dropped, not thrown inside ioredis.
    serializer: { stringify: JSON.stringify, parse: parseOrUndefined },
  });

  const counts = createRedisSubscriberCount({ publishClient, subscribeClient, prefix, logger });
  const watch = watchAvailability([publishClient, subscribeClient], logger, url);
  let closed = false;
  let warnedMalformed = false;

  return {
    async publish(message) {
      if (!watch.available()) throw unavailable();
      const text = wireText(message);
      try {
        const published = Promise.all(channelsOf(message).map((channel) => publishClient.publish(redisChannelName(prefix, channel), text)));
        await withLagAwareTimeout(published, publishTimeoutMs, () => new Error(`no reply from Redis in ${publishTimeoutMs} ms`));
      } catch (error) {
        logger.debug({ err: error }, 'redis publish failed');
        throw unavailable();
      }
    },

    listen(channel, listener) {
      const name = redisChannelName(prefix, channel);
      const handler = (event: MessageEvent): void => {
        const message = event.detail;
        // Nothing crosses audiences, even if something else writes to our channels.
        if (isMessage(message) && message.audience === channel.audience) return listener(message);
        // Once at warn (something else writes to our channels: check REDIS_PREFIX), then quietly.
        logger[warnedMalformed ? 'debug' : 'warn']({ channel: name }, 'ignored a malformed bus message');
        warnedMalformed = true;
      };
      target.addEventListener(name, handler);
      let stopped = false;
      return () => {
        if (stopped || closed) return;
        stopped = true;
        target.removeEventListener(name, handler);
      };
    },

    answerCountsWith: counts.answerWith,

    async countSubscribers(audience, topic) {
      if (!watch.available()) throw unavailable();
      return counts.count(audience, topic);
    },

    assertAvailable() {
      if (!watch.available()) throw unavailable();
    },

    async close() {
      closed = true;
      counts.stop();
      watch.stop();
      await Promise.all([publishClient, subscribeClient].map(quit));
    },
  } satisfies Bus;
}

function unavailable(): HeraldError {
  return new HeraldError('UNAVAILABLE', 'the message bus (Redis) is unreachable; retry shortly');
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A message as it travels on Redis: its JSON without payloadJson, whose text stands in for the
 * payload (so a publish stringifies its payload once, not once more for the bus).
 */
function wireText(message: Message): string {
  const { payload: _payload, payloadJson: _payloadJson, ...fields } = message;
  return `${JSON.stringify(fields).slice(0, -1)},"payload":${payloadJsonOf(message)}}`;
}

function isMessage(value: unknown): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.id === 'string' &&
    typeof candidate.audience === 'string' &&
    (typeof candidate.topic === 'string' || candidate.topic === null) &&
    typeof candidate.publishedAt === 'string' &&
    // Never on the wire (wireText): deliveries would write it as the payload's text unchecked.
    candidate.payloadJson === undefined
  );
}

/** QUIT when connected (flushes what was sent); otherwise stop the reconnect loop at once. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/**
 * Tracks whether both connections are up and logs each transition once: lost, back. ioredis also
 * emits an 'error' per failed reconnect attempt; those go to debug, so an outage is one warning,
 * not a storm.
 */
function watchAvailability(clients: Redis[], logger: Logger, url: string) {
  const where = redactUrl(url);
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
