import type { Cursor } from '../history/cursor.js';
import type { MessageDraft, StreamRef } from '../history/history.js';
import type { Message } from '../publish/message.js';
import type { ControlAnswer, ControlQuestion } from './control.js';

/**
 * What an instance listens to on the bus. A topic message travels on two channels: its topic's own
 * (for exact subscriptions) and its audience's pattern channel (for `*`/`**` subscriptions, matched
 * locally by the fan-out registry). So an instance hears a topic only while it has subscribers for
 * it, hears an audience's whole traffic only while it has pattern subscriptions there, and nothing
 * ever crosses audiences: the audience is part of every channel.
 */
export type Channel =
  | { readonly kind: 'topic'; readonly audience: string; readonly topic: string }
  | { readonly kind: 'patterns'; readonly audience: string }
  | { readonly kind: 'broadcasts'; readonly audience: string };

export type BusListener = (message: Message) => void;

/**
 * Carries each published message to every gateway instance that listens for it; instances fan it
 * out locally (fanout.ts). One interface, two implementations: memory-bus.ts (one process) and
 * redis-bus.ts (REDIS_URL set); test/bus.test.ts runs the same contract over both.
 *
 * The bus also keeps each stream's history (src/history/): it stamps every message with its
 * stream's next id as it appends it, in the same step that delivers it, so history order and live
 * order are one order.
 */
export interface Bus {
  /**
   * Stamps the message with its id, keeps it in its stream's history and hands it to the bus.
   * Resolves once the bus has taken it (Redis answered); rejects with an UNAVAILABLE HeraldError when
   * the bus cannot take it now.
   */
  publish(draft: MessageDraft): Promise<Message>;
  /**
   * Kept messages of a stream, oldest first: those after `cursor` (at most `limit`), or without one
   * the newest `limit`. Throws CURSOR_EXPIRED when the gap after the cursor cannot be filled (trimmed,
   * expired, lost, or history off) and BAD_USER_INPUT for a cursor ahead of the stream.
   */
  history(stream: StreamRef, cursor: Cursor | undefined, limit: number): Promise<readonly Message[]>;
  /**
   * Where a stream stands now, as a cursor to resume from: its newest message's id, or, for a stream
   * with none yet (or whose history expired or was lost), offset 0 of a new epoch that its next
   * publish continues. Undefined while history is off (HISTORY_SIZE=0): no cursor can resume then.
   */
  head(stream: StreamRef): Promise<Cursor | undefined>;
  /** Resolves once a listened channel receives everything published from now on (Redis acknowledged the SUBSCRIBE). */
  listening(channel: Channel): Promise<void>;
  /**
   * Starts receiving a channel's messages, in publish order; the returned function stops (idempotent).
   * An instance asks the backend for a channel once, however many listeners it has.
   */
  listen(channel: Channel, listener: BusListener): () => void;
  /** Sets how this instance answers the questions any instance asks (control.ts). */
  answerWith(answer: ControlAnswer): void;
  /**
   * Asks every instance on this bus, this one included; resolves to the sum of their answers
   * (subscriptions a message would reach, connections a revocation closed). Rejects UNAVAILABLE when
   * the bus is down or an instance does not answer in time.
   */
  ask(question: ControlQuestion): Promise<number>;
  /**
   * Calls `listener` each time this instance's link to the others comes back after a drop (never on
   * one process): questions asked meanwhile did not reach it. Returns the function that stops.
   */
  onReconnect(listener: () => void): () => void;
  /** Throws an UNAVAILABLE HeraldError while the bus cannot deliver (readiness). */
  assertAvailable(): void;
  close(): Promise<void>;
}

/** The channels a message is published on (see Channel). */
export function channelsOf(message: MessageDraft): Channel[] {
  const { audience, topic } = message;
  if (topic === null) return [{ kind: 'broadcasts', audience }];
  return [
    { kind: 'topic', audience, topic },
    { kind: 'patterns', audience },
  ];
}
