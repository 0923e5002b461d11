import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis, type RedisOptions } from 'ioredis';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact-url.js';
import { cursorOf, isAfter, isMessageId, messageId, type Cursor } from '../history/cursor.js';
import { DEFAULT_HISTORY, keptAfter, type HistoryOptions } from '../history/history.js';
import type { Message } from '../publish/message.js';
import { channelsOf, type Bus, type BusListener, type Channel } from './bus.js';
import { withLagAwareTimeout } from './lag-aware-timeout.js';
import { redisChannelName } from './redis-channels.js';
import { createRedisHistory } from './redis-history.js';
import { createRedisControl } from './redis-control.js';

export interface RedisBusOptions {
  /** redis:// or rediss:// URL (REDIS_URL). */
  readonly url: string;
  /** Start of every channel name (REDIS_PREFIX). */
  readonly prefix: string;
  readonly logger: Logger;
  /** Milliseconds a publish waits for Redis before failing with UNAVAILABLE. Default 2 000. */
  readonly publishTimeoutMs?: number;
  /** HISTORY_SIZE and HISTORY_TTL. */
  readonly history?: HistoryOptions;
  /** Told the seconds each acknowledged publish took (metrics). */
  readonly onPublished?: (seconds: number) => void;
}

/** One Redis channel this instance listens to, however many local listeners it has. */
interface ChannelState {
  readonly channel: Channel;
  readonly listeners: Set<BusListener>;
  /** Settles once Redis acknowledged this instance's SUBSCRIBE. */
  readonly ready: Promise<void>;
  /** Topic and broadcast channels: the newest message delivered, so a duplicate is dropped and a reconnect catches up from it. */
  last: Cursor | undefined;
  /**
   * Topic and broadcast channels: where the stream stood once this instance's SUBSCRIBE was acknowledged
   * ('empty': it held nothing), so a reconnect before the first delivery still catches up. Undefined
   * when it could not be read: such a channel only catches up once it has delivered something.
   */
  since: Cursor | 'empty' | undefined;
  /** Live messages held while the channel catches up from history after a reconnect. */
  held: Message[] | undefined;
  /** Stops listening on Redis (the event target unsubscribes when no handler is left). */
  stop: () => void;
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
 * A publish runs one script (redis-history.ts) that stamps the id, appends to the stream's history
 * and publishes, atomically: history order and live order are one order on every instance.
 *
 * Faults: the connections retry for ever (a Redis that is down at start or goes away later never
 * crashes the process). While either is down, publish fails fast with UNAVAILABLE and readiness
 * fails; sockets stay open, and ioredis re-subscribes every channel on reconnect. Messages published
 * while this instance's subscriber connection was down are then read back from history, from the
 * last id each topic and broadcast channel delivered (or, before its first delivery, from where its
 * stream stood when it was subscribed), before live delivery goes on: subscribers miss nothing the
 * history still holds. Pattern channels carry many topics and are not caught up.
 */
export function createRedisBus(options: RedisBusOptions): Bus {
  const { url, prefix, logger, onPublished = () => {} } = options;
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

  const historyOptions = options.history ?? DEFAULT_HISTORY;
  const history = createRedisHistory(publishClient, prefix, historyOptions);

  const target = createRedisEventTarget<MessageEvent>({
    publishClient,
    subscribeClient,
    // Anything on our channels that is not JSON (another program's traffic) is dropped, not thrown inside ioredis.
    serializer: { stringify: JSON.stringify, parse: parseOrUndefined },
  });

  const control = createRedisControl({ publishClient, subscribeClient, prefix, logger });
  /** Told when the subscriber connection is back after a drop: what was said meanwhile on the control channel is lost. */
  const reconnectListeners = new Set<() => void>();
  const watch = watchAvailability([publishClient, subscribeClient], logger, url);
  let closed = false;
  let warnedMalformed = false;
  const channels = new Map<string, ChannelState>();

  /** Delivers in order, once: a topic or broadcast channel drops what it already delivered (a catch-up overlapping live). */
  const deliverOn = (state: ChannelState, message: Message): void => {
    if (state.channel.kind !== 'patterns') {
      if (state.last !== undefined && !isAfter(message.id, state.last)) return;
      state.last = cursorOf(message.id);
    }
    for (const listener of state.listeners) listener(message);
  };

  const parse = (text: string): Message | undefined => {
    const value = parseOrUndefined(text);
    return isMessage(value) ? value : undefined;
  };

  const readHistory = async (stream: { audience: string; topic: string | null }, cursor: Cursor | undefined, limit: number) => {
    if (!watch.available()) throw unavailable();
    try {
      return await withLagAwareTimeout(
        history.read(stream, cursor, limit, parse),
        publishTimeoutMs,
        () => new Error(`no reply from Redis in ${publishTimeoutMs} ms`),
      );
    } catch (error) {
      logger.debug({ err: error }, 'redis history read failed');
      throw unavailable();
    }
  };

  /** After the subscriber connection came back: every topic and broadcast channel reads what it missed, then goes live. */
  const catchUp = async (): Promise<void> => {
    // A newer catch-up (the connection dropped again meanwhile) owns the held messages: they may be newer than what it still has to read.
    const generation = ++catchUps;
    const behind = [...channels.values()].filter((state) => state.channel.kind !== 'patterns' && (state.last !== undefined || state.since !== undefined));
    if (behind.length === 0) return;
    for (const state of behind) state.held ??= [];
    try {
      // Redis answers in order on one connection: once this returns, every channel is subscribed again.
      await subscribeClient.subscribe(...behind.map((state) => redisChannelName(prefix, state.channel)));
      await whenReady(publishClient);
    } catch {
      // Closing: nothing to catch up.
    }
    let missed = 0;
    for (const state of behind) {
      const { channel } = state;
      const stream = { audience: channel.audience, topic: channel.kind === 'topic' ? channel.topic : null };
      try {
        const from = state.last ?? (state.since === 'empty' ? undefined : state.since);
        const kept = keptAfter(await readHistory(stream, from, historyOptions.size), from, historyOptions.size > 0);
        for (const message of kept) deliverOn(state, message);
        missed += kept.length;
      } catch (error) {
        logger.warn(
          { channel: redisChannelName(prefix, channel), err: (error as Error).message },
          'redis subscriber reconnected but could not catch up from history: its subscribers may have missed messages',
        );
      }
      if (generation !== catchUps) continue;
      const held = state.held ?? [];
      state.held = undefined;
      for (const message of held) deliverOn(state, message);
    }
    logger.info({ channels: behind.length, missed }, 'redis subscriber reconnected: caught up from history');
  };
  let catchUps = 0;

  /** The stream's newest offset, read once the channel is subscribed: a catch-up before its first delivery starts there. */
  const sinceOf = async (channel: Channel): Promise<Cursor | 'empty' | undefined> => {
    if (channel.kind === 'patterns' || historyOptions.size === 0) return undefined;
    try {
      const window = await readHistory({ audience: channel.audience, topic: channel.kind === 'topic' ? channel.topic : null }, undefined, 1);
      return window === undefined ? 'empty' : cursorOf(messageId(window.epoch, window.last));
    } catch {
      return undefined;
    }
  };
  let subscriberWasReady = false;
  subscribeClient.on('ready', () => {
    if (subscriberWasReady) {
      void catchUp();
      for (const listener of reconnectListeners) listener();
    }
    subscriberWasReady = true;
  });

  return {
    async publish(draft) {
      if (!watch.available()) throw unavailable();
      try {
        const started = performance.now();
        const appended = history.append(
          draft,
          channelsOf(draft).map((channel) => redisChannelName(prefix, channel)),
        );
        const message = await withLagAwareTimeout(appended, publishTimeoutMs, () => new Error(`no reply from Redis in ${publishTimeoutMs} ms`));
        onPublished((performance.now() - started) / 1000);
        return message;
      } catch (error) {
        logger.debug({ err: error }, 'redis publish failed');
        throw unavailable();
      }
    },

    async history(stream, cursor, limit) {
      return keptAfter(await readHistory(stream, cursor, limit), cursor, historyOptions.size > 0);
    },

    async head(stream) {
      if (historyOptions.size === 0) return undefined;
      if (!watch.available()) throw unavailable();
      try {
        return await withLagAwareTimeout(history.head(stream), publishTimeoutMs, () => new Error(`no reply from Redis in ${publishTimeoutMs} ms`));
      } catch (error) {
        logger.debug({ err: error }, 'redis head read failed');
        throw unavailable();
      }
    },

    async listening(channel) {
      await channels.get(redisChannelName(prefix, channel))?.ready;
    },

    listen(channel, listener) {
      const name = redisChannelName(prefix, channel);
      let state = channels.get(name);
      if (state === undefined) {
        const own: ChannelState = {
          channel,
          listeners: new Set(),
          // A second SUBSCRIBE for the channel the event target subscribes: Redis acknowledges them in order, so its reply says ours is active.
          // Then where the stream stands, so a message published once `listening` settled is never missed, even by a reconnect before it is delivered.
          ready: subscribeClient.subscribe(name).then(
            async () => {
              const since = await sinceOf(channel);
              own.since ??= since;
            },
            () => {},
          ),
          last: undefined,
          since: undefined,
          held: undefined,
          stop: () => target.removeEventListener(name, handler),
        };
        const handler = (event: MessageEvent): void => {
          const message = event.detail;
          // Nothing crosses audiences, even if something else writes to our channels.
          if (isMessage(message) && message.audience === channel.audience) {
            if (own.held !== undefined) own.held.push(message);
            else deliverOn(own, message);
            return;
          }
          // Once at warn (something else writes to our channels: check REDIS_PREFIX), then quietly.
          logger[warnedMalformed ? 'debug' : 'warn']({ channel: name }, 'ignored a malformed bus message');
          warnedMalformed = true;
        };
        target.addEventListener(name, handler);
        channels.set(name, (state = own));
      }
      // A wrapper, so the same function listening twice is two listeners with two stop functions.
      const entry: BusListener = (message) => listener(message);
      state.listeners.add(entry);
      const owner = state;
      let stopped = false;
      return () => {
        if (stopped || closed) return;
        stopped = true;
        owner.listeners.delete(entry);
        if (owner.listeners.size > 0 || channels.get(name) !== owner) return;
        channels.delete(name);
        owner.stop();
      };
    },

    answerWith: control.answerWith,

    async ask(question) {
      if (!watch.available()) throw unavailable();
      return control.ask(question);
    },

    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => void reconnectListeners.delete(listener);
    },

    assertAvailable() {
      if (!watch.available()) throw unavailable();
    },

    async close() {
      closed = true;
      control.stop();
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

function isMessage(value: unknown): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.id === 'string' &&
    isMessageId(candidate.id) &&
    typeof candidate.audience === 'string' &&
    (typeof candidate.topic === 'string' || candidate.topic === null) &&
    typeof candidate.publishedAt === 'string' &&
    // Never on the wire (wireText): deliveries would write it as the payload's text unchecked.
    candidate.payloadJson === undefined
  );
}

/** Resolves once `client` is connected (at once when it is). */
async function whenReady(client: Redis): Promise<void> {
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
