import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import { cursorOf, isAfter, isMessageId, messageId, type Cursor } from '../history/cursor.js';
import { DEFAULT_HISTORY, keptAfter, type HistoryOptions } from '../history/history.js';
import type { Message } from '../publish/message.js';
import { channelsOf, type Bus, type BusListener, type Channel } from './bus.js';
import { withLagAwareTimeout } from './lag-aware-timeout.js';
import { createRedisControl } from './redis-control.js';
import { createPatternInterest } from './pattern-interest.js';
import { createTopicOrder } from './topic-order.js';
import { parseOrUndefined, type RedisLink } from './redis-link.js';
import { createRedisSingleLink } from './redis-single-link.js';

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
  /** On a cluster, how long a pattern channel is published after its last listener's announcement (pattern-interest.ts; tests shorten it). */
  readonly patternInterestTtlMs?: number;
}

/** One Redis channel this instance listens to, however many local listeners it has. */
interface ChannelState {
  readonly channel: Channel;
  readonly listeners: Set<BusListener>;
  /** Settles once Redis acknowledged this instance's SUBSCRIBE (and, for a pattern channel on a cluster, every instance heard of it). */
  ready: Promise<void>;
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
  /** Takes each live message: straight to deliverOn, or, on a pattern channel, through its topics' order (topic-order.ts). */
  accept: (message: Message) => void;
  /** A pattern channel has said once that it could not fill a gap. */
  warnedUnfilled?: boolean;
  /** Stops listening on Redis (the event target unsubscribes when no handler is left). */
  stop: () => void;
}

/** The bus on one Redis server (REDIS_URL): classic pub/sub (redis-single-link.ts). */
export function createRedisBus(options: RedisBusOptions): Bus {
  const history = options.history ?? DEFAULT_HISTORY;
  return createRedisBusOver(createRedisSingleLink({ url: options.url, prefix: options.prefix, logger: options.logger, history }), { ...options, history });
}

/**
 * The scale-out bus, over a RedisLink (one server, or a cluster's shards).
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
 * history still holds. Pattern channels carry many topics and are not caught up at once: each
 * topic's gap is read from history at its next message (topic-order.ts).
 */
export function createRedisBusOver(
  link: RedisLink,
  options: Pick<RedisBusOptions, 'logger' | 'publishTimeoutMs' | 'history' | 'onPublished' | 'patternInterestTtlMs'>,
): Bus {
  const { logger, onPublished = () => {} } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
  const historyOptions = options.history ?? DEFAULT_HISTORY;
  const { history } = link;
  const channels = new Map<string, ChannelState>();
  const control = createRedisControl({ pubsub: link.control, logger, busAnswer: async (question) => (await interest?.answer(question)) ?? 1 });
  // Only where a pattern channel costs a publish of its own (a cluster) is it skipped for audiences nobody listens to with patterns.
  const interest = link.patternsApart
    ? createPatternInterest({
        ask: (question) => control.ask(question),
        listened: () => [...channels.values()].filter((state) => state.channel.kind === 'patterns').map((state) => state.channel.audience),
        logger,
        ttlMs: options.patternInterestTtlMs,
      })
    : undefined;
  /** Told when the subscriber connection is back after a drop: what was said meanwhile on the control channel is lost. */
  const reconnectListeners = new Set<() => void>();
  let closed = false;
  let warnedMalformed = false;

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
    if (!link.available()) throw unavailable();
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

  /** Topic and broadcast channels that know where they stand: they read back what a drop made them miss. */
  const catchesUp = (state: ChannelState): boolean => state.channel.kind !== 'patterns' && (state.last !== undefined || state.since !== undefined);

  /**
   * One round of catching up, after the receiving side came back: every topic and broadcast channel
   * reads what it missed, then goes live. `round` is the request it serves: when a newer one came
   * meanwhile (the receiver dropped again), a channel keeps holding its live messages, which may be
   * newer than what the next round still has to read.
   */
  const catchUp = async (round: number): Promise<void> => {
    const behind = [...channels.values()].filter(catchesUp);
    if (behind.length === 0) return;
    for (const state of behind) state.held ??= [];
    try {
      await link.resubscribed(behind.map((state) => link.channelName(state.channel)));
      await link.commandsReady();
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
          { channel: link.channelName(channel), err: (error as Error).message },
          'redis subscriber reconnected but could not catch up from history: its subscribers may have missed messages',
        );
      }
      if (round !== requested) continue;
      const held = state.held ?? [];
      state.held = undefined;
      for (const message of held) deliverOn(state, message);
    }
    logger.info({ channels: behind.length, missed }, 'redis subscriber reconnected: caught up from history');
  };

  /**
   * Requests to catch up, coalesced: a cluster's subscribers may report being back many times in a
   * burst (a failover), and each request holds live messages at once, but rounds run one at a time,
   * the last one after the burst. So a burst costs two rounds of history reads, not one per report.
   */
  let requested = 0;
  let catchingUp = false;
  const requestCatchUp = (): void => {
    requested++;
    for (const state of channels.values()) if (catchesUp(state)) state.held ??= [];
    if (catchingUp) return;
    catchingUp = true;
    void (async () => {
      try {
        for (let served = 0; served < requested;) {
          served = requested;
          for (const listener of reconnectListeners) listener();
          await catchUp(served);
        }
      } finally {
        catchingUp = false;
      }
    })();
  };

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
  link.onReceiverBack(requestCatchUp);
  link.onReceiverBack(() => interest?.resync());

  return {
    async publish(draft) {
      if (!link.available()) throw unavailable();
      try {
        const started = performance.now();
        const appended = history.append(
          draft,
          channelsOf(draft)
            .filter((channel) => channel.kind !== 'patterns' || interest?.wanted(channel.audience) !== false)
            .map((channel) => link.channelName(channel)),
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
      if (!link.available()) throw unavailable();
      try {
        return await withLagAwareTimeout(history.head(stream), publishTimeoutMs, () => new Error(`no reply from Redis in ${publishTimeoutMs} ms`));
      } catch (error) {
        logger.debug({ err: error }, 'redis head read failed');
        throw unavailable();
      }
    },

    async listening(channel) {
      await channels.get(link.channelName(channel))?.ready;
    },

    listen(channel, listener) {
      const name = link.channelName(channel);
      let state = channels.get(name);
      if (state === undefined) {
        const handler = (message: unknown): void => {
          // Nothing crosses audiences, even if something else writes to our channels; a pattern channel carries topic messages only.
          if (isMessage(message) && message.audience === channel.audience && (channel.kind !== 'patterns' || message.topic !== null)) {
            if (own.held !== undefined) own.held.push(message);
            else own.accept(message);
            return;
          }
          // Once at warn (something else writes to our channels: check REDIS_PREFIX), then quietly.
          logger[warnedMalformed ? 'debug' : 'warn']({ channel: name }, 'ignored a malformed bus message');
          warnedMalformed = true;
        };
        const receiving = link.receive(name, handler);
        const own: ChannelState = {
          channel,
          listeners: new Set(),
          // Once subscribed, where the stream stands, so a message published once `listening` settled is never missed, even by a reconnect before it is delivered.
          ready: receiving.ready.then(async () => {
            const since = await sinceOf(channel);
            own.since ??= since;
          }),
          last: undefined,
          since: undefined,
          held: undefined,
          accept: (message) => deliverOn(own, message),
          stop: () => receiving.stop(),
        };
        if (channel.kind === 'patterns' && interest !== undefined) {
          // Listening counts as started once every instance publishes this pattern channel.
          own.ready = own.ready.then(() => interest.listening(channel.audience, () => !closed && channels.get(name) === own));
        }
        if (channel.kind === 'patterns') {
          own.accept = createTopicOrder({
            deliver: (message) => deliverOn(own, message),
            missing: async (topic, after) =>
              keptAfter(await readHistory({ audience: channel.audience, topic }, after, historyOptions.size), after, historyOptions.size > 0),
            unfilled: (topic, error) => {
              // Once at warn per channel, then quietly: a Redis outage would otherwise log every topic it touched.
              logger[own.warnedUnfilled ? 'debug' : 'warn'](
                { channel: name, topic, err: (error as Error).message },
                'a pattern channel skipped messages of a topic that history could not give back: its pattern subscribers missed them',
              );
              own.warnedUnfilled = true;
            },
          });
        }
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
      if (!link.available()) throw unavailable();
      return control.ask(question);
    },

    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => void reconnectListeners.delete(listener);
    },

    assertAvailable() {
      if (!link.available()) throw unavailable();
    },

    async close() {
      closed = true;
      interest?.stop();
      control.stop();
      await link.close();
    },
  } satisfies Bus;
}

function unavailable(): HeraldError {
  return new HeraldError('UNAVAILABLE', 'the message bus (Redis) is unreachable; retry shortly');
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
