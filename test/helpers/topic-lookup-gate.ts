import pg from 'pg';
import { until } from './until.js';

/**
 * Holds REQUIRE_DECLARED_TOPICS lookups of a real gateway on a PostgreSQL store: a transaction of
 * its own locks the `topics` table, so every `findTopic` the gateway runs waits inside PostgreSQL
 * until release(). A subscribe whose declared-topic check is still running can then be raced
 * against its client leaving, completing or unsubscribing, without touching the gateway's code.
 */
export interface TopicLookupGate {
  /** Resolves once `count` of the gateway's queries are waiting on the lock. */
  waiting(count: number): Promise<void>;
  /** Lets every held query through (the lock's transaction ends). Idempotent. */
  release(): Promise<void>;
}

export async function holdTopicLookups(databaseUrl: string): Promise<TopicLookupGate> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE topics IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return {
    waiting: (count) =>
      until(async () => {
        // pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction, and this one stays open.
        const { rows } = await client.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_locks
           WHERE NOT granted AND relation = 'topics'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        return rows[0]!.waiting >= count;
      }, `${count} topic lookups waiting on the lock`),
    async release() {
      if (released) return;
      released = true;
      await client.query('COMMIT');
      await client.end();
    },
  };
}
