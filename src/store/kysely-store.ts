import { randomUUID } from 'node:crypto';
import { Migrator, type Kysely, type MigrationProvider } from 'kysely';
import { migrationOpenError } from './store-open-error.js';
import type { Revocation } from '../sessions/revocation.js';
import type { AudienceRecord, Ensured, Store, TopicRecord } from './store.js';

/** Table shapes as Kysely sees them. Instants are written as ISO strings and read back as Date. */
export interface Database {
  audiences: { id: string; name: string; created_at: string | Date; updated_at: string | Date };
  topics: { id: string; audience_id: string; name: string; created_at: string | Date; updated_at: string | Date };
  revocations: {
    id: string;
    audience: string;
    subject: string | null;
    issued_before: string | Date | null;
    token_id: string | null;
    reason: string;
    revoked_at: string | Date;
    expires_at: string | Date;
  };
}

/**
 * The Store over any Kysely dialect: the SQL is the same for SQLite and PostgreSQL, so each
 * database file only opens its connection and picks its column types. `database` names it in
 * startup errors (`PostgreSQL postgres://user:***@host/db`, `SQLite ./data/herald.db`).
 */
export async function createKyselyStore(db: Kysely<Database>, migrations: MigrationProvider, database: string): Promise<Store> {
  const { error } = await new Migrator({ db, provider: migrations }).migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    throw migrationOpenError(database, error);
  }

  const audienceByName = async (name: string) => db.selectFrom('audiences').selectAll().where('name', '=', name).executeTakeFirst().then(toAudience);

  const ensureAudience = async (name: string): Promise<Ensured<AudienceRecord>> => {
    const now = new Date().toISOString();
    // Insert-or-nothing, then read: idempotent even when two instances race to register the same name.
    const inserted = await db
      .insertInto('audiences')
      .values({ id: randomUUID(), name, created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .executeTakeFirst();
    const record = await audienceByName(name);
    if (record === undefined) throw new Error(`audience "${name}" vanished after insert`);
    return { record, created: Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 };
  };

  const topicsOf = (audienceName: string) =>
    db.selectFrom('topics').innerJoin('audiences', 'audiences.id', 'topics.audience_id').selectAll('topics').where('audiences.name', '=', audienceName);

  return {
    ensureAudience,
    findAudience: audienceByName,
    findAudienceById: async (id) => db.selectFrom('audiences').selectAll().where('id', '=', id).executeTakeFirst().then(toAudience),

    async ensureTopic(audienceName, name) {
      const audience = await ensureAudience(audienceName);
      const now = new Date().toISOString();
      const inserted = await db
        .insertInto('topics')
        .values({ id: randomUUID(), audience_id: audience.record.id, name, created_at: now, updated_at: now })
        .onConflict((conflict) => conflict.columns(['audience_id', 'name']).doNothing())
        .executeTakeFirst();
      const record = await db
        .selectFrom('topics')
        .selectAll()
        .where('audience_id', '=', audience.record.id)
        .where('name', '=', name)
        .executeTakeFirst()
        .then(toTopic);
      if (record === undefined) throw new Error(`topic "${name}" vanished after insert`);
      return { record, created: Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0, audience };
    },

    findTopic: async (audienceName, name) => topicsOf(audienceName).where('topics.name', '=', name).executeTakeFirst().then(toTopic),
    listTopics: async (audienceName) => (await topicsOf(audienceName).orderBy('topics.name').execute()).map((row) => toTopic(row)!),
    listTopicsByAudienceId: async (audienceId) =>
      (await db.selectFrom('topics').selectAll().where('audience_id', '=', audienceId).orderBy('name').execute()).map((row) => toTopic(row)!),

    async deleteTopic(audienceName, name) {
      const audience = await audienceByName(audienceName);
      if (audience === undefined) return undefined;
      const removed = await db.deleteFrom('topics').where('audience_id', '=', audience.id).where('name', '=', name).returningAll().executeTakeFirst();
      return toTopic(removed);
    },

    async addRevocation(revocation) {
      await db
        .insertInto('revocations')
        .values({
          id: randomUUID(),
          audience: revocation.audience,
          subject: revocation.subject ?? null,
          issued_before: revocation.issuedBefore === undefined ? null : new Date(revocation.issuedBefore).toISOString(),
          token_id: revocation.tokenId ?? null,
          reason: revocation.reason,
          revoked_at: new Date(revocation.revokedAt).toISOString(),
          expires_at: new Date(revocation.expiresAt).toISOString(),
        })
        .execute();
    },

    async listRevocations(now) {
      // ISO-8601 text in UTC compares in time order in SQLite; PostgreSQL compares instants.
      const at = new Date(now).toISOString();
      await db.deleteFrom('revocations').where('expires_at', '<=', at).execute();
      const rows = await db.selectFrom('revocations').selectAll().where('expires_at', '>', at).execute();
      return rows.map(toRevocation);
    },

    async ping() {
      await db.selectFrom('audiences').select('id').limit(1).execute();
    },
    close: () => db.destroy(),
  };
}

function toAudience(row: Database['audiences'] | undefined): AudienceRecord | undefined {
  if (row === undefined) return undefined;
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}

function toTopic(row: Database['topics'] | undefined): TopicRecord | undefined {
  if (row === undefined) return undefined;
  return {
    id: row.id,
    audienceId: row.audience_id,
    name: row.name,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toRevocation(row: Database['revocations']): Revocation {
  const time = (value: string | Date): number => new Date(value).getTime();
  return {
    audience: row.audience,
    ...(row.subject !== null && { subject: row.subject }),
    ...(row.issued_before !== null && { issuedBefore: time(row.issued_before) }),
    ...(row.token_id !== null && { tokenId: row.token_id }),
    reason: row.reason,
    revokedAt: time(row.revoked_at),
    expiresAt: time(row.expires_at),
  };
}
