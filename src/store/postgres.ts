import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact-url.js';
import { createKyselyStore, type Database as Tables } from './kysely-store.js';
import { migrationProvider } from './migrations.js';
import { postgresOpenError } from './store-open-error.js';
import type { Store } from './store.js';
import { guardPool } from './store-unavailable.js';

export interface PostgresStoreOptions {
  /** Where the store says the database was lost and is back (once per outage). Default: no logs. */
  readonly logger?: Logger;
}

/**
 * The shared store: a PostgreSQL database several instances use at once, given as a
 * postgres:// URL (pg's connection string: user, password, host, port, database, sslmode, ...).
 * Rejects with StoreOpenError when the first connection or the migrations fail.
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
  await assertConnects(pool, url);
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: guardPool(pool, options.logger) }) });
  return createKyselyStore(db, migrationProvider('postgres'), `PostgreSQL ${redactUrl(url)}`);
}

/**
 * One connection before anything else, on the bare Pool: at startup a database that is missing,
 * refuses the user or cannot be reached is a configuration problem, reported in one line
 * (StoreOpenError), not the outage that guardPool logs with a stack and waits out.
 */
async function assertConnects(pool: pg.Pool, url: string): Promise<void> {
  try {
    (await pool.connect()).release();
  } catch (error) {
    await pool.end();
    throw postgresOpenError(url, error);
  }
}
