import { randomBytes } from 'node:crypto';
import { HeraldError } from '../errors.js';

/**
 * Message ids are replay cursors: `<epoch>-<offset>`.
 *
 * - The offset counts the messages of one stream (a topic of an audience, or its broadcasts) from 1,
 *   assigned where the stream's history is appended (in-process, or by the Redis script), so within a
 *   stream ids sort in the order every subscriber receives them, whichever instance published.
 * - The epoch names one life of that stream's history: made when a stream starts (first publish, or
 *   the first after its history expired or was lost), so a cursor from a lost history is told apart
 *   from one that is merely old. Its first 10 characters are the creation time in milliseconds and
 *   the last 8 are random, so ids are unique across streams and instances.
 *
 * Both parts have fixed widths (Crockford base32, zero-padded decimal), so ids of one stream also
 * sort as plain strings.
 */
export interface Cursor {
  readonly epoch: string;
  readonly offset: number;
  /** The id it was read from, for messages. */
  readonly id: string;
}

// Crockford base32: digits before letters, so encoded times compare as strings in time order.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 8;
export const EPOCH_LENGTH = TIME_CHARS + RANDOM_CHARS;
export const OFFSET_DIGITS = 12;
const ID_FORMAT = /^([0-9A-HJKMNP-TV-Z]{18})-(\d{12})$/;

export function messageId(epoch: string, offset: number): string {
  return `${epoch}-${String(offset).padStart(OFFSET_DIGITS, '0')}`;
}

/** Reads a cursor; a value that is not a Herald message id is BAD_USER_INPUT, never guessed at. */
export function parseCursor(id: string, argument = 'after'): Cursor {
  const match = ID_FORMAT.exec(id);
  if (match === null) {
    throw new HeraldError(
      'BAD_USER_INPUT',
      `${argument} must be a Message.id this gateway returned (like "${EXAMPLE_ID}"); subscribe without ${argument} to start live`,
    );
  }
  return { epoch: match[1]!, offset: Number(match[2]), id };
}

/** Whether `id` has the shape of a Herald message id. */
export const isMessageId = (id: string): boolean => ID_FORMAT.test(id);

/** Whether message `id` comes after `cursor` in its stream: a later offset of the same epoch, or any id of a newer history. */
export function isAfter(id: string, cursor: Cursor): boolean {
  if (!id.startsWith(cursor.epoch)) return true;
  return Number(id.slice(EPOCH_LENGTH + 1)) > cursor.offset;
}

/** The cursor of a message id that Herald made (no validation: for ids off the bus, which the bus checked). */
export function cursorOf(id: string): Cursor {
  return { epoch: id.slice(0, EPOCH_LENGTH), offset: Number(id.slice(EPOCH_LENGTH + 1)), id };
}

/** A fresh epoch: the time now, then random characters from a pool refilled in blocks (a publish on Redis proposes one each time). */
export function newEpoch(now: number = Date.now()): string {
  let out = '';
  let time = now;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  for (let i = 0; i < RANDOM_CHARS; i++) out += ALPHABET[randomByte() % 32]!;
  return out;
}

let pool = Buffer.alloc(0);
let poolIndex = 0;
function randomByte(): number {
  if (poolIndex >= pool.length) {
    pool = randomBytes(4096);
    poolIndex = 0;
  }
  return pool[poolIndex++]!;
}

const EXAMPLE_ID = messageId('01KBKXJ4V0ABCDEFGH', 42);

/**
 * An anchor no resume can succeed from: what a subscription that cannot resume (a pattern, or any
 * subscription while history is off) is given as its starting position, so that after a cut its
 * client hears CURSOR_EXPIRED instead of silently going on live. Its epoch (time 0) is no stream's.
 */
export const UNRESUMABLE_ID = messageId('0'.repeat(EPOCH_LENGTH), 0);
