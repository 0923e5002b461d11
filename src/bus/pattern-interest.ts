import type { Logger } from '../log.js';
import type { BusQuestion } from './redis-control.js';

/** How long an instance keeps publishing an audience's pattern channel after it last heard that someone listens there. */
export const PATTERN_INTEREST_TTL_MS = 60_000;

/** How long a failed announcement or sync waits before it is tried again. */
const RETRY_MS = 500;

/**
 * Which audiences' pattern channels this instance publishes, on a Redis Cluster. There a topic
 * message's pattern channel is an SPUBLISH of its own, on the audience's shard, after the topic's
 * script: for an audience nobody subscribes to with patterns it is pure cost, and it puts every
 * message of the audience on one master however many shards its topics spread over.
 *
 * The protocol, over the control channels (every question is answered by every instance):
 * - An instance that starts listening on an audience's pattern channel announces it
 *   (`patterns-listened`); its listening counts as started once every instance answered, so a
 *   message published after that reaches it. While it listens it announces all its pattern
 *   audiences again every third of the TTL; an instance publishes an audience's pattern channel
 *   until a TTL after the last announcement it heard.
 * - An instance that starts, or whose receiving side came back (it may have missed announcements),
 *   publishes every pattern channel until it has synced: it asks every instance (`patterns-sync`)
 *   to announce its pattern audiences and answer once that announcement was answered, so when
 *   the sync returns it has heard them all.
 *
 * A message whose pattern publish was skipped while an announcement was being missed anyway is not
 * lost to pattern subscribers: their channel sees a gap in that topic's offsets at its next message
 * and reads it from history (topic-order.ts).
 */
export function createPatternInterest(options: {
  /** Asks every instance (redis-control.ts); rejects when one does not answer in time. */
  readonly ask: (question: BusQuestion) => Promise<number>;
  /** The audiences this instance listens to with patterns now. */
  readonly listened: () => Iterable<string>;
  readonly logger: Logger;
  readonly ttlMs?: number;
}) {
  const { ask, logger, ttlMs = PATTERN_INTEREST_TTL_MS } = options;
  /** Audience → until when its pattern channel is published (performance.now()). */
  const heard = new Map<string, number>();
  /** Every pattern channel is published until a sync completes. */
  let synced = false;
  let syncing = 0;
  let stopped = false;

  const announceAll = async (): Promise<void> => {
    const audiences = [...new Set(options.listened())];
    if (audiences.length > 0) await ask({ kind: 'patterns-listened', audiences });
  };
  const retryLater = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());

  /** Syncs until it succeeds; a newer sync (the receiver dropped again) takes over. */
  const sync = async (): Promise<void> => {
    const mine = ++syncing;
    synced = false;
    while (!stopped && mine === syncing) {
      try {
        await ask({ kind: 'patterns-sync' });
        if (mine === syncing) synced = true;
        return;
      } catch (error) {
        logger.debug({ err: (error as Error).message }, 'pattern interest sync failed; every pattern channel stays published; retrying');
        await retryLater();
      }
    }
  };

  const reannounce = setInterval(() => {
    announceAll().catch((error: unknown) => logger.debug({ err: (error as Error).message }, 'announcing pattern listeners again failed'));
  }, ttlMs / 3);
  reannounce.unref();
  void sync();

  return {
    /** Whether a topic message of `audience` goes to its pattern channel. */
    wanted(audience: string): boolean {
      if (!synced) return true;
      const until = heard.get(audience);
      if (until === undefined) return false;
      if (until > performance.now()) return true;
      heard.delete(audience);
      return false;
    },

    /** This instance's answer to the bus's own questions. */
    async answer(question: BusQuestion): Promise<number> {
      if (question.kind === 'patterns-listened') {
        const until = performance.now() + ttlMs;
        for (const audience of question.audiences) heard.set(audience, until);
      } else {
        // Announced before answering: the asker hears the announcement before the answer (one shard, one order).
        await announceAll().catch((error: unknown) => logger.debug({ err: (error as Error).message }, 'announcing pattern listeners for a sync failed'));
      }
      return 1;
    },

    /** Announces a new pattern listener; resolves once every instance heard it, retrying while `wanted` says it still listens. */
    async listening(audience: string, wanted: () => boolean): Promise<void> {
      while (!stopped && wanted()) {
        try {
          await ask({ kind: 'patterns-listened', audiences: [audience] });
          return;
        } catch (error) {
          logger.debug({ audience, err: (error as Error).message }, 'announcing a pattern listener failed; retrying');
          await retryLater();
        }
      }
    },

    /** Announcements may have been missed (the receiving side was away): publish every pattern channel until synced again. */
    resync(): void {
      void sync();
    },

    stop(): void {
      stopped = true;
      clearInterval(reannounce);
    },
  };
}

export type PatternInterest = ReturnType<typeof createPatternInterest>;
