import { redactUrl } from '../redact-url.js';
import { SOCKET_ERRNOS } from './store-unavailable.js';

/** Why the store could not be opened at startup; each has its own remedy. */
export type StoreOpenFailure =
  'does-not-exist' | 'auth-failed' | 'permission-denied' | 'unreachable' | 'not-accepting' | 'cannot-connect' | 'cannot-open' | 'migration-failed';

/**
 * The store could not be opened at startup. Its message is one line an operator can act on: which
 * database (password redacted), what is wrong with it, and the driver's own words. The driver's
 * error stays the cause, so nothing is lost, but nothing prints a stack for a wrong URL either.
 */
export class StoreOpenError extends Error {
  constructor(
    readonly failure: StoreOpenFailure,
    /** The database as it may be printed: `PostgreSQL postgres://user:***@host/db` or `SQLite ./data/herald.db`. */
    readonly database: string,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`cannot open the store (DATABASE_URL): ${database} ${PHRASES[failure]}: ${detail}`, options);
    this.name = 'StoreOpenError';
  }
}

const PHRASES: Readonly<Record<StoreOpenFailure, string>> = {
  'does-not-exist': 'does not exist (create it, or fix the database name)',
  'auth-failed': 'refused the credentials (check the user and password)',
  'permission-denied': 'refused access (grant the user CONNECT on the database)',
  unreachable: 'is unreachable (check the host and port, and that the server runs)',
  'not-accepting': 'is not accepting connections now',
  'cannot-connect': 'could not be connected to',
  'cannot-open': 'could not be opened',
  'migration-failed': 'could not be migrated',
};

/** A failed first connection to PostgreSQL → StoreOpenError, by the SQLSTATE or socket errno it carries. */
export function postgresOpenError(url: string, error: unknown): StoreOpenError {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return new StoreOpenError(postgresFailure(code), `PostgreSQL ${redactUrl(url)}`, messageOf(error), { cause: error });
}

function postgresFailure(code: unknown): StoreOpenFailure {
  if (typeof code !== 'string') return 'cannot-connect'; // timeouts, dropped handshakes, TLS: pg gives no code
  if (code === '3D000') return 'does-not-exist';
  // 28000 covers a missing role and a pg_hba.conf rejection as well as a wrong password (28P01).
  if (code === '28000' || code === '28P01') return 'auth-failed';
  if (code === '42501') return 'permission-denied';
  if (SOCKET_ERRNOS.has(code)) return 'unreachable';
  if (code === '57P03' || code === '53300') return 'not-accepting';
  return 'cannot-connect';
}

/** A failed open of a SQLite file → StoreOpenError. */
export function sqliteOpenError(path: string, error: unknown): StoreOpenError {
  return new StoreOpenError('cannot-open', `SQLite ${path}`, messageOf(error), { cause: error });
}

/** A migration that failed on a database that answered → StoreOpenError (a real bug or a permission problem). */
export function migrationOpenError(database: string, error: unknown): StoreOpenError {
  const cause = error instanceof Error ? error.cause : undefined;
  const detail = cause === undefined ? messageOf(error) : `${messageOf(error)} (${messageOf(cause)})`;
  return new StoreOpenError('migration-failed', database, detail, { cause: error });
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message || error.name : String(error)).replace(/\s+/g, ' ').trim();
