/** One delivered event, as it travels the bus and reaches every surface. Plain JSON, so any bus can carry it. */
export interface Message {
  /** `<epoch>-<offset>`: sorts in delivery order within a topic and serves as a replay cursor (see history/cursor.ts). */
  readonly id: string;
  readonly audience: string;
  /** Null for an audience-wide broadcast. */
  readonly topic: string | null;
  readonly payload: unknown;
  /** ISO-8601 with milliseconds, UTC. */
  readonly publishedAt: string;
  /** The publisher token's sub claim. */
  readonly publisher: string | null;
  /**
   * JSON.stringify(payload), when whoever made the message already had it: the publish service
   * does (its size check), so deliveries reuse the text instead of stringifying the payload again
   * (payloadJsonOf). Local to the process: a bus never carries it, and a message read off one has none.
   */
  readonly payloadJson?: string;
}

/** The payload's JSON text: the one made at publish when the message carries it, else made now. */
export function payloadJsonOf(message: Pick<Message, 'payload' | 'payloadJson'>): string {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- JSON.stringify(undefined) is undefined, whatever lib.d.ts says
  return message.payloadJson ?? (JSON.stringify(message.payload) as string | undefined) ?? 'null';
}
