import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Throwaway PostgreSQL databases for tests. Each call makes its own database on the shared
 * server (127.0.0.1:5432, trust auth), so parallel test files and parallel runs never see each
 * other's rows, and the URL alone carries the isolation: hand it to a child process as
 * DATABASE_URL and it lands in the same place.
 *
 * A database, not a schema: Kysely's Migrator looks for its own tables in every schema of the
 * database, so two schemas side by side would see each other's migration state.
 *
 * The server is found at HERALD_TEST_POSTGRES_URL (an admin URL: a superuser or a role with
 * CREATEDB, and an existing database to connect to) when set, else as the `postgres` role, else
 * as the current OS user, each on the `test` database.
 */

export interface TestDatabase {
  /** postgres://<user>@<host>:<port>/<name>: everything a store or a gateway process needs. */
  readonly url: string;
  /** The database's name, `herald_t_<time>_<random>`. */
  readonly name: string;
  /**
   * Simulates losing the database without touching the shared server: refuses new connections
   * to this database and ends the ones open now.
   */
  cutOff(): Promise<void>;
  /** Lets connections in again after cutOff. */
  restore(): Promise<void>;
  /** Drops the database, ending whatever is still connected. Safe to call twice. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** An ICU locale for the database's default collation (e.g. `en-US`); default: the server's. */
  readonly icuLocale?: string;
}

const CANDIDATE_ADMIN_URLS = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://127.0.0.1:5432/test'];

let adminUrl: Promise<string> | undefined;

/** The admin URL that answers, with its user spelled out; rejects with every attempt's reason. */
function resolveAdminUrl(): Promise<string> {
  adminUrl ??= (async () => {
    const override = process.env.HERALD_TEST_POSTGRES_URL;
    const candidates = override !== undefined && override !== '' ? [override] : CANDIDATE_ADMIN_URLS;
    const reasons: string[] = [];
    for (const candidate of candidates) {
      try {
        const user = await withClient(candidate, async (client) => (await client.query<{ user: string }>('select current_user as user')).rows[0]!.user);
        const url = new URL(candidate);
        url.username = user; // the setter percent-encodes
        return url.toString();
      } catch (error) {
        reasons.push(`${redact(candidate)}: ${error instanceof Error ? error.message || String(error) : String(error)}`);
      }
    }
    throw new Error(`PostgreSQL is unreachable (${reasons.join('; ')})`);
  })();
  return adminUrl;
}

/**
 * Undefined when PostgreSQL suites can run; otherwise why they skip. In CI
 * (`CI=true`) an unreachable server is a failure, never a skip.
 */
export async function postgresSkipReason(): Promise<string | undefined> {
  try {
    await resolveAdminUrl();
    return undefined;
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    const reason = `skipped: ${(error as Error).message}`;
    console.warn(`PostgreSQL suites ${reason}`);
    return reason;
  }
}

/** A fresh, empty database of its own; drop() it when done. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const admin = await resolveAdminUrl();
  // The time prefix makes leftovers of killed runs easy to spot (and to sweep by hand).
  const name = `herald_t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  // template0, so whatever someone installed in template1 does not leak in; ICU needs it anyway.
  const locale = options.icuLocale === undefined ? '' : ` LOCALE_PROVIDER icu ICU_LOCALE ${pg.escapeLiteral(options.icuLocale)}`;
  await adminQuery(admin, `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE template0${locale}`);

  const url = new URL(admin);
  url.pathname = `/${name}`;
  const quoted = pg.escapeIdentifier(name);
  // Waits (up to 5 s each) until the sessions have exited, so the next query cannot still reach one.
  const endConnections = `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = ${pg.escapeLiteral(name)} AND pid <> pg_backend_pid()`;
  return {
    url: url.toString(),
    name,
    async cutOff() {
      await adminQuery(admin, `ALTER DATABASE ${quoted} ALLOW_CONNECTIONS false`);
      await adminQuery(admin, endConnections);
    },
    restore: () => adminQuery(admin, `ALTER DATABASE ${quoted} ALLOW_CONNECTIONS true`),
    drop: () => adminQuery(admin, `DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`),
  };
}

/** Runs `use` on a client of its own, closed afterwards, so nothing stays connected to the admin database. */
async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A dropped connection is reported by the awaited call; without a listener the event would crash the run.
  client.on('error', () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  await withClient(url, (client) => client.query(sql));
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
