import { cursorOf, isAfter, UNRESUMABLE_ID, type Cursor } from '../history/cursor.js';
import type { Message } from '../publish/message.js';

/** What a resumed subscription tells its receiver beyond the messages themselves. */
export interface ResumeEvents {
  deliver(message: Message): void;
  /** The gap cannot be filled (CURSOR_EXPIRED, BAD_USER_INPUT) or history could not be read (UNAVAILABLE): the subscription has ended. */
  fail(error: unknown): void;
  /**
   * A subscription started at the stream's head: called once with that position, before any message.
   * The client resumes from it after a cut that came before any message.
   */
  anchored?(head: Cursor): void;
  /** Called once, synchronously after the last replayed message: from here on messages are live. */
  caughtUp?(): void;
}

export interface ResumeSteps {
  /** Registers a live receiver; returns the function that removes it. */
  register(deliver: (message: Message) => void): () => void;
  /** Settles once the live registration hears everything published from now on. */
  listening(): Promise<void>;
  /** Every kept message after the cursor, oldest first (throws CURSOR_EXPIRED when the gap cannot be filled). */
  read(cursor: Cursor): Promise<readonly Message[]>;
  /** Where the stream stands now (a start at 'head' reads it once listening is effective). */
  head(): Promise<Cursor>;
}

/** Where a resumed subscription starts: after a cursor, or at the stream's head ('head': nothing to replay, but the same seam). */
export type ResumeFrom = Cursor | 'head';

/** Placeholder until the head is read (nothing passes before then). */
const HEAD_UNREAD = cursorOf(UNRESUMABLE_ID);

/**
 * The seam between history and live, as Centrifugo does it: listen first and hold what arrives,
 * read history after the cursor, replay it, then replay the held live messages newer than the last
 * one sent, then pass live messages through. Every message is compared with the newest one sent, so
 * nothing is sent twice and, within the stream, nothing out of order. History is read once per
 * resuming subscriber; live delivery costs what it always did. Returns the function that ends it.
 *
 * Started at 'head', it reads the stream's position instead of history, at the moment history would
 * be read: everything held is compared with it, so the position it reports (anchored) is exactly
 * where its live messages start, and a later resume from that position misses nothing.
 */
export function resume(from: ResumeFrom, steps: ResumeSteps, events: ResumeEvents): () => void {
  // Set before any message passes: `from`, or the head once read.
  let last: Cursor = from === 'head' ? HEAD_UNREAD : from;
  let held: Message[] | undefined = [];
  let ended = false;
  const pass = (message: Message): void => {
    if (!isAfter(message.id, last)) return;
    last = cursorOf(message.id);
    events.deliver(message);
  };
  const unregister = steps.register((message) => {
    if (held !== undefined) held.push(message);
    else pass(message);
  });
  const end = (): void => {
    if (ended) return;
    ended = true;
    held = undefined;
    unregister();
  };

  const replay = async (): Promise<void> => {
    await steps.listening();
    let kept: readonly Message[] = [];
    if (from === 'head') {
      const head = await steps.head();
      if (ended) return;
      last = head;
      events.anchored?.(head);
    } else kept = await steps.read(from);
    if (ended) return;
    for (const message of kept) pass(message);
    const live = held ?? [];
    held = undefined;
    for (const message of live) pass(message);
    events.caughtUp?.();
  };
  replay().catch((error: unknown) => {
    if (ended) return;
    end();
    events.fail(error);
  });
  return end;
}
