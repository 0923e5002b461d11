import type { Revocation } from '../sessions/revocation.js';

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
  /** Keeps a revocation until its expiresAt (shared by every instance on PostgreSQL). */
  addRevocation(revocation: Revocation): Promise<void>;
  /** The revocations in force at `now` (ms since the epoch); drops the ones past their expiresAt. */
  listRevocations(now: number): Promise<Revocation[]>;
  /** Throws when the database cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
