import { HeraldError } from '../errors.js';
import type { Message } from '../publish/message.js';
import type { Cursor } from './cursor.js';

/** A message before the bus stamps its id (the stream's epoch and next offset). */
export type MessageDraft = Omit<Message, 'id'>;

/** One history stream: a topic of an audience, or (topic null) the audience's broadcasts. */
export interface StreamRef {
  readonly audience: string;
  readonly topic: string | null;
}

/** HISTORY_SIZE and HISTORY_TTL, as the buses apply them. */
export interface HistoryOptions {
  /** Messages kept per stream; 0 keeps none (history off: `after` fails with CURSOR_EXPIRED). */
  readonly size: number;
  /** A stream's history is dropped this long after its last publish (and its next publish starts a new epoch). */
  readonly ttlMs: number;
}

export const DEFAULT_HISTORY: HistoryOptions = { size: 1000, ttlMs: 300_000 };

/** Most messages one history query returns. */
export const MAX_HISTORY_LIMIT = 1000;

/** What a bus holds of one stream at the moment it is read. */
export interface HistoryWindow {
  readonly epoch: string;
  /** Offset of the stream's newest message. */
  readonly last: number;
  /** Offset of the oldest message still kept; last + 1 when none is. */
  readonly first: number;
  /** After the cursor (oldest first, at most `limit`), or without one the newest `limit`, oldest first. */
  readonly messages: readonly Message[];
}

/**
 * The messages a reader asked for, or the error that says why the gap cannot be filled. Shared by
 * both buses, so the in-process and Redis histories answer every cursor alike.
 */
export function keptAfter(window: HistoryWindow | undefined, cursor: Cursor | undefined, enabled: boolean): readonly Message[] {
  if (cursor === undefined) return window?.messages ?? [];
  if (!enabled) {
    throw new HeraldError(
      'CURSOR_EXPIRED',
      'history is off on this gateway (HISTORY_SIZE=0), so missed messages cannot be replayed: re-read the current state, then subscribe without after',
    );
  }
  if (window?.epoch !== cursor.epoch) {
    throw new HeraldError(
      'CURSOR_EXPIRED',
      `cursor ${cursor.id} belongs to a history this gateway no longer has (expired after HISTORY_TTL, or lost in a restart): re-read the current state, then subscribe without after`,
    );
  }
  if (cursor.offset > window.last) throw new HeraldError('BAD_USER_INPUT', `cursor ${cursor.id} is ahead of this topic's history; subscribe without after`);
  if (cursor.offset + 1 < window.first) {
    throw new HeraldError(
      'CURSOR_EXPIRED',
      `messages after cursor ${cursor.id} are no longer kept (HISTORY_SIZE keeps the newest of each topic): re-read the current state, then subscribe without after`,
    );
  }
  return window.messages;
}
