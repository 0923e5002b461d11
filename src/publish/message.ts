/** One delivered event, as it travels the bus and reaches every surface. Plain JSON, so any bus can carry it. */
export interface Message {
  /** Sortable in publish order within a topic (see message-id.ts). */
  readonly id: string;
  readonly audience: string;
  /** Null for an audience-wide broadcast. */
  readonly topic: string | null;
  readonly payload: unknown;
  /** ISO-8601 with milliseconds, UTC. */
  readonly publishedAt: string;
  /** The publisher token's sub claim. */
  readonly publisher: string | null;
}
