import type { Logger } from '../log.js';
import { createPostgresStore } from './postgres.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Which database a DATABASE_URL names. */
export function describeDatabaseUrl(url: string): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  if (url === ':memory:' || url === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  return { kind: 'sqlite', path: url.replace(/^sqlite:(\/\/)?/i, '') };
}

export interface OpenStoreOptions {
  /** Where a networked store logs losing and regaining its database. Default: no logs. */
  readonly logger?: Logger;
}

/** Opens (and migrates) the store DATABASE_URL names. */
export async function openStore(databaseUrl: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = describeDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') return createPostgresStore(target.url, options);
  return createSqliteStore(target.path);
}
