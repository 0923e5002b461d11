import type { Logger } from '../log.js';
import { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { createPostgresStore } from './postgres.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Which database a DATABASE_URL names; throws TypeError for a value loadConfig would have refused. */
export function describeDatabaseUrl(url: string): DatabaseTarget {
  const parsed = parseDatabaseUrl(url);
  if ('problem' in parsed) throw new TypeError(parsed.problem);
  return parsed.target;
}

export interface OpenStoreOptions {
  /** Where a networked store logs losing and regaining its database. Default: no logs. */
  readonly logger?: Logger;
}

/**
 * Opens (and migrates) the store DATABASE_URL names. Rejects with StoreOpenError, one line
 * naming the database and what is wrong with it, when it cannot be opened.
 */
export async function openStore(databaseUrl: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = describeDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') return createPostgresStore(target.url, options);
  return createSqliteStore(target.path, { makeFolder: target.makeFolder });
}
