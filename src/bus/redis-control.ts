import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import { isControlQuestion, type ControlAnswer, type ControlQuestion } from './control.js';
import { withLagAwareTimeout } from './lag-aware-timeout.js';

/**
 * The pub/sub the control channels travel on: classic on one Redis; on a cluster, shard channels of
 * one hash tag, so that every instance subscribes on the one master whose SPUBLISH counts them all
 * (a classic PUBLISH on a cluster counts only the clients of the node that served it).
 */
export interface ControlPubSub {
  readonly requestChannel: string;
  /** This instance's reply channel (unique to it). */
  readonly replyChannel: string;
  /** Publishes; resolves with how many subscribers received it. */
  publish(channel: string, text: string): Promise<number>;
  /** Subscribes to both channels; resolves once the server acknowledged. */
  subscribe(): Promise<void>;
  /** Hands every message of this connection to `listener` (which ignores other channels); returns how to stop. */
  onMessage(listener: (channel: string, text: string) => void): () => void;
}

/** Questions the Redis bus asks of itself on the control channels, answered below the app (pattern-interest.ts). */
export type BusQuestion = { readonly kind: 'patterns-listened'; readonly audiences: readonly string[] } | { readonly kind: 'patterns-sync' };

interface ControlRequest {
  readonly id: number;
  readonly replyTo: string;
  readonly question: ControlQuestion | BusQuestion;
}

interface ControlReply {
  readonly id: number;
  readonly answer: number;
}

interface Pending {
  /** How many instances PUBLISH reached; unknown until Redis answers the PUBLISH. */
  expected: number | undefined;
  received: number;
  sum: number;
  settle(result: number | Error): void;
}

/**
 * Questions to every instance without bookkeeping (control.ts): the asking instance publishes a
 * request on one control channel that every instance subscribes to; PUBLISH answers how many
 * received it, and each replies with its answer on the asker's own reply channel. Answers are live
 * (nothing is cached or left behind by a crashed instance) at the price of one round trip per
 * question, which suits what operators ask and do, not a hot path.
 */
export function createRedisControl(options: {
  readonly pubsub: ControlPubSub;
  readonly logger: Logger;
  /** Milliseconds to wait for every instance's answer. Default 2 000. */
  readonly timeoutMs?: number;
  /** Answers the bus's own questions; the reply is sent once it resolves. */
  readonly busAnswer?: (question: BusQuestion) => Promise<number>;
}) {
  const { pubsub, logger } = options;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const { requestChannel, replyChannel } = pubsub;
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let local: ControlAnswer | undefined;

  const reply = (request: ControlRequest, answer: number): void => {
    const text = JSON.stringify({ id: request.id, answer } satisfies ControlReply);
    pubsub.publish(request.replyTo, text).catch((error: unknown) => logger.debug({ err: error }, 'control reply failed'));
  };

  const answer = (request: ControlRequest): void => {
    const { question } = request;
    if (isBusQuestion(question)) {
      options.busAnswer?.(question).then(
        (value) => reply(request, value),
        (error: unknown) => logger.error({ err: error, kind: question.kind }, 'answering a bus question failed'),
      );
      return;
    }
    // Nobody to answer yet (the app has not said how): no reply, as from an instance that is not there yet.
    if (local === undefined) return;
    let value: number;
    try {
      value = local(question);
    } catch (error) {
      // Not answering makes the asker time out with UNAVAILABLE, as for an instance that went away.
      logger.error({ err: error, kind: question.kind }, 'answering a control question failed');
      return;
    }
    reply(request, value);
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
      entry.sum += parsed.answer;
      settleIfComplete(parsed.id, entry);
    }
  };
  const stopListening = pubsub.onMessage(onMessage);
  // Direct SUBSCRIBE (not through the event target) so the first question can wait for it to be in place.
  const subscribed = pubsub.subscribe().then(
    () => undefined,
    (error: unknown) => logger.warn({ err: error }, 'control channel subscription failed'),
  );

  return {
    answerWith: (answerQuestion: ControlAnswer): void => {
      local = answerQuestion;
    },

    /** Asks every instance; resolves to the sum of their answers, or rejects UNAVAILABLE when one does not answer within the timeout. */
    async ask(question: ControlQuestion | BusQuestion): Promise<number> {
      await subscribed;
      const id = ++nextId;
      const request: ControlRequest = { id, replyTo: replyChannel, question };
      const result = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new HeraldError('UNAVAILABLE', 'not every gateway instance answered in time; retry shortly'));
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
          pubsub.publish(requestChannel, JSON.stringify(request)),
          timeoutMs,
          () => new Error(`no reply from Redis in ${timeoutMs} ms`),
        );
        const entry = pending.get(id);
        if (entry !== undefined) {
          entry.expected = receivers;
          settleIfComplete(id, entry);
        }
      } catch (error) {
        logger.debug({ err: error }, 'control request failed');
        pending.get(id)?.settle(new HeraldError('UNAVAILABLE', 'the message bus (Redis) is unreachable; retry shortly'));
        pending.delete(id);
      }
      return result;
    },

    stop(): void {
      stopListening();
      for (const entry of pending.values()) entry.settle(new HeraldError('UNAVAILABLE', 'the gateway is shutting down'));
      pending.clear();
    },
  };
}

function isRequest(value: unknown): value is ControlRequest {
  const v = value as Partial<ControlRequest> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.id === 'number' &&
    typeof v.replyTo === 'string' &&
    (isControlQuestion(v.question) || isBusQuestion(v.question))
  );
}

function isBusQuestion(value: unknown): value is BusQuestion {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return false;
  if (v.kind === 'patterns-sync') return true;
  return v.kind === 'patterns-listened' && Array.isArray(v.audiences) && v.audiences.every((audience) => typeof audience === 'string');
}

function isReply(value: unknown): value is ControlReply {
  const v = value as Partial<ControlReply> | null;
  return typeof v === 'object' && v !== null && typeof v.id === 'number' && typeof v.answer === 'number';
}
