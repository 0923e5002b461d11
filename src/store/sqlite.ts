import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createKyselyStore, type Database as Tables } from './kysely-store.js';
import { migrationProvider } from './migrations.js';
import type { Store } from './store.js';

/** The embedded store: one SQLite file (its folder made on first start), or `:memory:`. */
export async function createSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new Database(path);
  // WAL lets readers (GraphQL queries) go on while a write commits; foreign keys are off by default in SQLite.
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database }) });
  return createKyselyStore(db, migrationProvider('sqlite'));
}
