import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LocalCount } from './bus.js';
import { withLagAwareTimeout } from './lag-aware-timeout.js';
import { countReplyChannel, countRequestChannel } from './redis-channels.js';

interface CountRequest {
  readonly id: number;
  readonly replyTo: string;
  readonly audience: string;
  readonly topic: string | null;
}

interface CountReply {
  readonly id: number;
  readonly count: number;
}

interface Pending {
  /** How many instances PUBLISH reached; unknown until Redis answers the PUBLISH. */
  expected: number | undefined;
  received: number;
  sum: number;
  settle(result: number | Error): void;
}

/**
 * Cluster-wide subscriber counts without bookkeeping: the asking instance publishes a request on
 * one control channel that every instance subscribes to; PUBLISH answers how many received it, and
 * each replies with its local count on the asker's own reply channel. Counts are live (nothing is
 * cached or left behind by a crashed instance) at the price of one round trip per question, which
 * suits a field people read, not a hot path.
 */
export function createRedisSubscriberCount(options: {
  readonly publishClient: Redis;
  readonly subscribeClient: Redis;
  readonly prefix: string;
  readonly logger: Logger;
  /** Milliseconds to wait for every instance's answer. Default 2 000. */
  readonly timeoutMs?: number;
}) {
  const { publishClient, subscribeClient, prefix, logger } = options;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const requestChannel = countRequestChannel(prefix);
  const replyChannel = countReplyChannel(prefix, randomUUID());
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let local: LocalCount | undefined;

  const answer = (request: CountRequest): void => {
    if (local === undefined) return;
    const reply: CountReply = { id: request.id, count: local(request.audience, request.topic) };
    publishClient.publish(request.replyTo, JSON.stringify(reply)).catch((error: unknown) => logger.debug({ err: error }, 'count reply failed'));
  };

  const settleIfComplete = (id: number, entry: Pending): void => {
    if (entry.expected !== undefined && entry.received >= entry.expected) {
      pending.delete(id);
      entry.settle(entry.sum);
    }
  };

  const onMessage = (channel: string, text: string): void => {
    if (channel !== requestChannel && channel !== replyChannel) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    if (channel === requestChannel && isRequest(parsed)) return answer(parsed);
    if (channel === replyChannel && isReply(parsed)) {
      const entry = pending.get(parsed.id);
      if (entry === undefined) return;
      entry.received++;
      entry.sum += parsed.count;
      settleIfComplete(parsed.id, entry);
    }
  };
  subscribeClient.on('message', onMessage);
  // Direct SUBSCRIBE (not through the event target) so the first question can wait for it to be in place.
  const subscribed = subscribeClient.subscribe(requestChannel, replyChannel).then(
    () => undefined,
    (error: unknown) => logger.warn({ err: error }, 'count channel subscription failed'),
  );

  return {
    answerWith: (count: LocalCount): void => {
      local = count;
    },

    async count(audience: string, topic: string | null): Promise<number> {
      await subscribed;
      const id = ++nextId;
      const request: CountRequest = { id, replyTo: replyChannel, audience, topic };
      const result = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new HeraldError('UNAVAILABLE', 'not every gateway instance answered the subscriber count; retry shortly'));
        }, timeoutMs);
        pending.set(id, {
          expected: undefined,
          received: 0,
          sum: 0,
          settle: (value) => {
            clearTimeout(timer);
            if (value instanceof Error) reject(value);
            else resolve(value);
          },
        });
      });
      // The timer may reject `result` while the question is still being sent; the caller handles it once returned.
      result.catch(() => {});
      try {
        // Bounded like a message publish: a silent Redis must not hold this call past the count's own timeout.
        const receivers = await withLagAwareTimeout(
          publishClient.publish(requestChannel, JSON.stringify(request)),
          timeoutMs,
          () => new Error(`no reply from Redis in ${timeoutMs} ms`),
        );
        const entry = pending.get(id);
        if (entry !== undefined) {
          entry.expected = receivers;
          settleIfComplete(id, entry);
        }
      } catch (error) {
        logger.debug({ err: error }, 'count request failed');
        pending.get(id)?.settle(new HeraldError('UNAVAILABLE', 'the message bus (Redis) is unreachable; retry shortly'));
        pending.delete(id);
      }
      return result;
    },

    stop(): void {
      subscribeClient.off('message', onMessage);
      for (const entry of pending.values()) entry.settle(new HeraldError('UNAVAILABLE', 'the gateway is shutting down'));
      pending.clear();
    },
  };
}

function isRequest(value: unknown): value is CountRequest {
  const v = value as Partial<CountRequest> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.id === 'number' &&
    typeof v.replyTo === 'string' &&
    typeof v.audience === 'string' &&
    (typeof v.topic === 'string' || v.topic === null)
  );
}

function isReply(value: unknown): value is CountReply {
  const v = value as Partial<CountReply> | null;
  return typeof v === 'object' && v !== null && typeof v.id === 'number' && typeof v.count === 'number';
}
