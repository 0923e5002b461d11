import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../src/errors.js';
import { openStore } from '../src/store/open-store.js';
import { StoreOpenError } from '../src/store/store-open-error.js';
import type { Store } from '../src/store/store.js';
import { isConnectionFailure } from '../src/store/store-unavailable.js';
import { errorCode, gql, startHerald, token } from './helpers/herald.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase, type TestDatabaseOptions } from './helpers/postgres.js';

/**
 * What only the PostgreSQL store has to prove (the Store contract itself runs in store.test.ts):
 * several instances starting at once, a server whose locale sorts differently, losing the
 * database while running and getting it back.
 */

const skip = await postgresSkipReason();

describe.skipIf(skip !== undefined)(`PostgreSQL store${skip === undefined ? '' : ` (${skip})`}`, () => {
  const databases: TestDatabase[] = [];
  const stores: Store[] = [];
  const freshDatabase = async (options?: TestDatabaseOptions) => {
    const database = await createTestDatabase(options);
    databases.push(database);
    return database;
  };
  const open = async (...args: Parameters<typeof openStore>) => {
    const store = await openStore(...args);
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(databases.splice(0).map((database) => database.drop()));
  });

  /** Rows of `sql` run in `database` over a connection of the test's own. */
  async function rowsOf<T>(database: TestDatabase, sql: string): Promise<T[]> {
    const client = new pg.Client(database.url);
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('migrates once when three instances start together on an empty database', async () => {
    // Several rounds, since a race needs the right interleaving to show. Without Kysely's
    // advisory lock around the migrations, two of three stores fail in nearly every round
    // (duplicate key in pg_type: both ran CREATE TABLE audiences).
    for (let round = 0; round < 5; round++) {
      const database = await freshDatabase();
      const started = await Promise.allSettled([open(database.url), open(database.url), open(database.url)]);
      expect(started.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok']);

      const tables = await rowsOf<{ table_name: string }>(
        database,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.map((row) => row.table_name)).toEqual(['audiences', 'kysely_migration', 'kysely_migration_lock', 'revocations', 'topics']);
      const migrations = await rowsOf<{ name: string }>(database, 'SELECT name FROM kysely_migration');
      expect(migrations.map((row) => row.name)).toEqual(['0001_audiences_and_topics', '0002_revocations']);

      // All three serve the same rows.
      const [a, b, c] = stores.splice(0);
      const made = await a!.ensureTopic('acme', 'orders');
      expect(await b!.findTopic('acme', 'orders')).toEqual(made.record);
      expect((await c!.ensureTopic('acme', 'orders')).created).toBe(false);
      await Promise.all([a!.close(), b!.close(), c!.close()]);
    }
  });

  it('sorts names byte by byte even on a database whose locale sorts otherwise', async () => {
    const database = await freshDatabase({ icuLocale: 'en-US' });
    const [serverOrder] = await rowsOf<{ names: string[] }>(database, "SELECT array_agg(n ORDER BY n) AS names FROM unnest(array['b', 'B', 'a']) AS n");
    expect(serverOrder?.names).toEqual(['a', 'b', 'B']); // the database's own order is not SQLite's

    const store = await open(database.url);
    for (const name of ['b', 'B', 'a', 'mid/2', 'mid/10']) await store.ensureTopic('acme', name);
    expect((await store.listTopics('acme')).map((topic) => topic.name)).toEqual(['B', 'a', 'b', 'mid/10', 'mid/2']);
  });

  it('fails with UNAVAILABLE while the database is cut off, logs the outage once, and recovers', async () => {
    const logs: Array<{ level: number; msg: string; err?: { message: string } }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const database = await freshDatabase();
    const store = await open(database.url, { logger });
    const { record } = await store.ensureTopic('acme', 'orders');
    // Several pooled connections, so idle ones die too: pg reports those as 'error' events,
    // which would end the process (and fail this run) if the store did not listen.
    await Promise.all(Array.from({ length: 5 }, () => store.findTopic('acme', 'orders')));

    await database.cutOff();
    const whileDown = [
      () => store.ping(),
      () => store.findTopic('acme', 'orders'),
      () => store.ensureTopic('acme', 'invoices'),
      () => store.listTopics('acme'),
      () => store.ping(),
    ];
    for (const operation of whileDown) {
      const error = await operation().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(HeraldError);
      expect(error).toMatchObject({ code: 'UNAVAILABLE', message: 'the database is unreachable', extensions: { code: 'UNAVAILABLE', http: { status: 503 } } });
      expect((error as Error).cause).toBeDefined();
    }
    expect(logs).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/^database unreachable/), err: expect.any(Object) })]);

    await database.restore();
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.findTopic('acme', 'orders')).toEqual(record);
    expect((await store.ensureTopic('acme', 'invoices')).created).toBe(true);
    expect(logs.map((line) => [line.level, line.msg])).toEqual([
      [40, expect.stringMatching(/^database unreachable/)],
      [30, 'database reachable again'],
    ]);
  });

  it('keeps statement errors as they are: a missing table is a bug, not an outage', async () => {
    const database = await freshDatabase();
    const store = await open(database.url);
    await rowsOf(database, 'DROP TABLE topics');
    const error = await store.listTopics('acme').then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).not.toBeInstanceOf(HeraldError);
    expect(error).toMatchObject({ code: '42P01' });
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('refuses to start on a database that does not exist, in one line that names it', async () => {
    const database = await freshDatabase();
    const missing = new URL(database.url);
    missing.pathname = `/${database.name}_missing`;
    missing.password = 's3cret';
    const error = await open(missing.toString()).then(
      () => expect.unreachable('opened a missing database'),
      (refusal: unknown) => refusal,
    );
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error).toMatchObject({ failure: 'does-not-exist' });
    const message = (error as StoreOpenError).message;
    expect(message).not.toContain('\n');
    expect(message).not.toContain('s3cret');
    expect(message).toContain(`${database.name}_missing`);
    expect(message).toMatch(/^cannot open the store \(DATABASE_URL\): PostgreSQL postgres:\/\/.*:\*\*\*@.* does not exist/);
  });

  it('tells a refused user and an unreachable server apart from a missing database', async () => {
    const database = await freshDatabase();
    const stranger = new URL(database.url);
    stranger.username = `nobody_${database.name}`;
    await expect(open(stranger.toString())).rejects.toMatchObject({ name: 'StoreOpenError', failure: 'auth-failed' });

    // A port nothing listens on: bind one, note it, close it.
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const nowhere = new URL(database.url);
    nowhere.hostname = '127.0.0.1';
    nowhere.port = String(closedPort);
    await expect(open(nowhere.toString())).rejects.toMatchObject({ name: 'StoreOpenError', failure: 'unreachable' });
    await expect(open(nowhere.toString())).rejects.toThrow(new RegExp(`127\\.0\\.0\\.1:${closedPort}/.* is unreachable`));
  });

  it('through the gateway: /ready is 503 and operations answer UNAVAILABLE while cut off, then both recover', async () => {
    const database = await freshDatabase();
    const herald = await startHerald({ DATABASE_URL: database.url });
    try {
      const manager = await token({ audience: 'pg-outage', scopes: ['manage'] });
      const created = await gql(herald.httpUrl, manager, 'mutation { createTopic(name: "orders") { name } }');
      expect(created.errors).toBeUndefined();
      expect((await fetch(`${herald.baseUrl}/ready`)).status).toBe(200);

      await database.cutOff();
      expect((await fetch(`${herald.baseUrl}/ready`)).status).toBe(503);
      const down = await gql(herald.httpUrl, manager, '{ topics { name } }');
      expect(errorCode(down)).toBe('UNAVAILABLE');
      expect(down.errors?.[0]?.message).toBe('the database is unreachable');

      await database.restore();
      expect((await fetch(`${herald.baseUrl}/ready`)).status).toBe(200);
      const back = await gql(herald.httpUrl, manager, '{ topics { name } }');
      expect(back.errors).toBeUndefined();
      expect(back.data).toEqual({ topics: [{ name: 'orders' }] });
    } finally {
      await herald.stop();
    }
  });

  it('two gateways on one DATABASE_URL share audiences and topics', async () => {
    const database = await freshDatabase();
    const [first, second] = await Promise.all([startHerald({ DATABASE_URL: database.url }), startHerald({ DATABASE_URL: database.url })]);
    try {
      const manager = await token({ audience: 'pg-shared', scopes: ['manage'] });
      const created = await gql(first.httpUrl, manager, 'mutation { createTopic(name: "orders") { id name } }');
      expect(created.errors).toBeUndefined();
      const read = await gql(second.httpUrl, manager, '{ topics { id name } }');
      expect(read.data).toEqual({ topics: [created.data!.createTopic] });
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});

describe('isConnectionFailure', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });

  it('recognises lost and refused connections', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', '08006', '08001', '08P01', '57P01', '57P02', '57P03', '53300']) {
      expect(isConnectionFailure(withCode(code)), code).toBe(true);
    }
  });

  it('leaves statement errors and everything else alone', () => {
    for (const code of ['23505', '42P01', '42601', '22P02', '40001', '57014', 'ERR_INVALID_ARG_TYPE']) {
      expect(isConnectionFailure(withCode(code)), code).toBe(false);
    }
    for (const error of [new TypeError('x'), new Error('Connection terminated unexpectedly'), undefined, null, 'ECONNREFUSED', { code: 8006 }]) {
      expect(isConnectionFailure(error)).toBe(false);
    }
  });
});
