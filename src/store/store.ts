/**
 * Where audiences and topics live. One interface, one implementation per database
 * (sqlite.ts, postgres.ts), one contract test suite over all of them.
 */

export interface AudienceRecord {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface TopicRecord {
  readonly id: string;
  readonly audienceId: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** `created` tells callers (lifecycle events, courier) whether this call made the row. */
export interface Ensured<T> {
  readonly record: T;
  readonly created: boolean;
}

export interface Store {
  /** Registers an audience by name; idempotent. */
  ensureAudience(name: string): Promise<Ensured<AudienceRecord>>;
  findAudience(name: string): Promise<AudienceRecord | undefined>;
  findAudienceById(id: string): Promise<AudienceRecord | undefined>;
  /** Declares a topic, registering its audience when needed; idempotent. */
  ensureTopic(audience: string, name: string): Promise<Ensured<TopicRecord> & { audience: Ensured<AudienceRecord> }>;
  findTopic(audience: string, name: string): Promise<TopicRecord | undefined>;
  /** The audience's topics, by name. */
  listTopics(audience: string): Promise<TopicRecord[]>;
  listTopicsByAudienceId(audienceId: string): Promise<TopicRecord[]>;
  /** Removes a declared topic; the removed row, or undefined when there was none. */
  deleteTopic(audience: string, name: string): Promise<TopicRecord | undefined>;
  /** Throws when the database cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
