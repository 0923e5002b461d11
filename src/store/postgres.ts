import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../log.js';
import { createKyselyStore, type Database as Tables } from './kysely-store.js';
import { migrationProvider } from './migrations.js';
import type { Store } from './store.js';
import { guardPool } from './store-unavailable.js';

export interface PostgresStoreOptions {
  /** Where the store says the database was lost and is back (once per outage). Default: no logs. */
  readonly logger?: Logger;
}

/**
 * The shared store: a PostgreSQL database several instances use at once, given as a
 * postgres:// URL (pg's connection string: user, password, host, port, database, sslmode, ...).
 */
export async function createPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: url,
    // pg waits forever for a connection by default: an unroutable host would hang /ready and
    // every request. After 5 s the operation fails with UNAVAILABLE instead.
    connectionTimeoutMillis: 5_000,
    // Names Herald's sessions in pg_stat_activity (a URL parameter application_name wins).
    application_name: 'herald',
  });
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: guardPool(pool, options.logger) }) });
  return createKyselyStore(db, migrationProvider('postgres'));
}
