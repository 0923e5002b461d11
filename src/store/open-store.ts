import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Which database a DATABASE_URL names. */
export function describeDatabaseUrl(url: string): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  if (url === ':memory:' || url === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  return { kind: 'sqlite', path: url.replace(/^sqlite:(\/\/)?/i, '') };
}

/** Opens (and migrates) the store DATABASE_URL names. */
export async function openStore(databaseUrl: string): Promise<Store> {
  const target = describeDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') {
    // Config validation refuses postgres URLs until the PostgreSQL store lands; this guards direct callers.
    throw new TypeError('DATABASE_URL: PostgreSQL is not supported yet; use a sqlite: path');
  }
  return createSqliteStore(target.path);
}
