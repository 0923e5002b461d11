import { type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Schema changes, in order; run at every start by the store factory (Kysely's Migrator keeps
 * track of what already ran). Append new entries; never edit one that has shipped.
 * `timestamp` is the column type each database stores instants in.
 */
export function migrationProvider(timestamp: 'text' | 'timestamptz'): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001_audiences_and_topics': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('audiences')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('name', 'text', (col) => col.notNull().unique())
          .addColumn('created_at', timestamp, (col) => col.notNull())
          .addColumn('updated_at', timestamp, (col) => col.notNull())
          .execute();
        await db.schema
          .createTable('topics')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('audience_id', 'text', (col) => col.notNull().references('audiences.id').onDelete('cascade'))
          .addColumn('name', 'text', (col) => col.notNull())
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
  };
  return { getMigrations: async () => migrations };
}

