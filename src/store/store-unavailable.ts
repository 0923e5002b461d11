import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Turns a lost database connection into HeraldError UNAVAILABLE (503: retry later), and keeps a
 * PostgreSQL outage from crashing the process. Only failures of the connection are translated;
 * a failing statement (a constraint, a missing table) stays the driver's error, because that
 * is a bug to see, not an outage to wait out.
 */

/** Socket errors: the server cannot be reached, or the connection to it broke. */
export const SOCKET_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs about the connection rather than the statement: class 08 (connection exception),
 * 57P01 to 57P03 (server shutting down by request or after a crash, or not accepting connections
 * yet) and 53300 (no connection slot left).
 */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Whether `error` carries a code that says the connection, not the query, failed. */
export function isConnectionFailure(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return false;
  return SOCKET_ERRNOS.has(code) || CONNECTION_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

/** The error store operations throw while the database is unreachable; the driver's error is its cause. */
export function storeUnavailable(cause: unknown): HeraldError {
  // The message is generic on purpose: clients see it, and the driver's text names hosts and users.
  const error = new HeraldError('UNAVAILABLE', 'the database is unreachable');
  error.cause = cause;
  return error;
}

type TransitionLogger = Pick<Logger, 'warn' | 'info'>;

/**
 * Remembers whether the database answered last time, so that an outage is logged once when it
 * starts and once when it ends, however many operations fail in between.
 */
function trackReachability(logger: TransitionLogger | undefined) {
  let reachable = true;
  return {
    /** Records a connection failure; returns the error to throw. */
    lost(cause: unknown): HeraldError {
      if (reachable) {
        reachable = false;
        logger?.warn({ err: cause }, 'database unreachable: store operations fail with UNAVAILABLE until it answers again');
      }
      return storeUnavailable(cause);
    },
    reached(): void {
      if (reachable) return;
      reachable = true;
      logger?.info('database reachable again');
    },
  };
}

/**
 * The pg Pool as Kysely's PostgresDialect sees it, with connection failures translated and
 * logged. Recovery needs nothing special: the Pool discards broken clients, and the next
 * checkout opens a fresh connection.
 */
export function guardPool(pool: pg.Pool, logger?: TransitionLogger): PostgresPool {
  const reachability = trackReachability(logger);
  // Clients whose connection died. pg reports that with an 'error' event before it fails the
  // queries in flight, so a query error from a dead client is a connection failure even when
  // it carries no code (pg's "Connection terminated unexpectedly" has none).
  const dead = new WeakSet<pg.ClientBase>();

  // Node throws an 'error' event nobody listens to, which would end the process. pg emits it
  // on the Pool for idle clients and on the client itself while checked out; listen to both.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      dead.add(client);
      reachability.lost(error);
    });
  });
  pool.on('error', () => {
    // Already recorded by the client's own listener above; the Pool removes the client itself.
  });

  const guardClient = (client: pg.PoolClient): PostgresPoolClient => ({
    // Only the (sql, parameters) form: Herald configures no cursor, so Kysely never streams.
    query: (async (sql: string, parameters: readonly unknown[]) => {
      try {
        const result = await client.query(sql, parameters as unknown[]);
        reachability.reached();
        return result;
      } catch (error) {
        if (dead.has(client) || isConnectionFailure(error)) throw reachability.lost(error);
        throw error;
      }
    }) as unknown as PostgresPoolClient['query'],
    release: () => client.release(),
  });

  return {
    async connect() {
      try {
        const client = await pool.connect();
        reachability.reached();
        return guardClient(client);
      } catch (error) {
        // Any failure to open a connection (refused, timed out, database not accepting
        // connections, dropped, credentials revoked) leaves the store unable to serve; only a
        // checkout after close() is a bug of ours.
        if (pool.ending) throw error;
        throw reachability.lost(error);
      }
    },
    end: () => pool.end(),
  };
}
