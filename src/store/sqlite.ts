import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createKyselyStore, type Database as Tables } from './kysely-store.js';
import { migrationProvider } from './migrations.js';
import { sqliteOpenError } from './store-open-error.js';
import type { Store } from './store.js';

export interface SqliteStoreOptions {
  /** Make the file's folder when missing (the default location only, see DEFAULT_DATABASE_URL). Default false. */
  readonly makeFolder?: boolean;
}

/**
 * The embedded store: one SQLite file, or `:memory:`. Rejects with StoreOpenError when the file
 * cannot be opened (missing folder, no permission, not a database) or migrated.
 */
export async function createSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<Store> {
  let database: Database.Database | undefined;
  try {
    if (options.makeFolder === true && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    // fileMustExist stays false: the file is made on first start, its folder never (unless asked).
    database = new Database(path);
    // WAL lets readers (GraphQL queries) go on while a write commits; foreign keys are off by default in SQLite.
    // The first pragma also reads the file's header, so "not a database" is found here.
    database.pragma('journal_mode = WAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
  } catch (error) {
    database?.close();
    throw sqliteOpenError(path, error);
  }
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database }) });
  return createKyselyStore(db, migrationProvider('sqlite'), `SQLite ${path}`);
}
