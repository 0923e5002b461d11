import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** The column types each database spells the schema with; the migrations are the same for both. */
const COLUMN_TYPES = {
  // SQLite has no instant type: ISO-8601 text parses back exactly. Its text compares byte by byte.
  sqlite: { timestamp: 'text', name: 'text' },
  // Names compare byte by byte ("C"), as in SQLite, whatever locale the server was set up with:
  // listTopics orders by name, and the order must not change with the database behind the store.
  postgres: { timestamp: 'timestamptz', name: sql`text collate "C"` },
} as const;

export type StoreDialect = keyof typeof COLUMN_TYPES;

/**
 * Schema changes, in order; run at every start by the store factory (Kysely's Migrator keeps
 * track of what already ran and, on PostgreSQL, serialises instances that start together).
 * Append new entries; never edit one that has shipped.
 */
export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  const { timestamp, name } = COLUMN_TYPES[dialect];
  const migrations: Record<string, Migration> = {
    '0001_audiences_and_topics': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('audiences')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('name', name, (col) => col.notNull().unique())
          .addColumn('created_at', timestamp, (col) => col.notNull())
          .addColumn('updated_at', timestamp, (col) => col.notNull())
          .execute();
        await db.schema
          .createTable('topics')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('audience_id', 'text', (col) => col.notNull().references('audiences.id').onDelete('cascade'))
          .addColumn('name', name, (col) => col.notNull())
          .addColumn('created_at', timestamp, (col) => col.notNull())
          .addColumn('updated_at', timestamp, (col) => col.notNull())
          .addUniqueConstraint('topics_audience_name', ['audience_id', 'name'])
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('topics').execute();
        await db.schema.dropTable('audiences').execute();
      },
    },
    '0002_revocations': {
      async up(db: Kysely<unknown>) {
        // By audience name, not id: a token can be revoked in an audience nothing registered yet.
        await db.schema
          .createTable('revocations')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('audience', name, (col) => col.notNull())
          .addColumn('subject', 'text')
          .addColumn('issued_before', timestamp)
          .addColumn('token_id', 'text')
          .addColumn('reason', 'text', (col) => col.notNull())
          .addColumn('revoked_at', timestamp, (col) => col.notNull())
          .addColumn('expires_at', timestamp, (col) => col.notNull())
          .execute();
        await db.schema.createIndex('revocations_expires_at').on('revocations').column('expires_at').execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('revocations').execute();
      },
    },
  };
  return { getMigrations: async () => migrations };
}
