import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/store/postgres.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { StoreOpenError } from '../src/store/store-open-error.js';
import type { Store } from '../src/store/store.js';
import { gql, startHerald, token } from './helpers/herald.js';
import { createTestDatabase, postgresSkipReason } from './helpers/postgres.js';

/** The Store contract, run over every implementation. */
interface StoreFactory {
  readonly name: string;
  /** Why this entry cannot run here (outside CI only: in CI an unreachable PostgreSQL fails the file). */
  readonly skip?: string | undefined;
  open(): Promise<Store>;
}

const scratch = mkdtempSync(join(tmpdir(), 'herald-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

/** A store on a database of its own, dropped when the store closes: every case starts empty. */
async function openPostgresStore(): Promise<Store> {
  const database = await createTestDatabase();
  let store: Store;
  try {
    store = await createPostgresStore(database.url);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    ...store,
    async close() {
      try {
        await store.close();
      } finally {
        await database.drop();
      }
    },
  };
}

const factories: StoreFactory[] = [
  { name: 'SQLite :memory:', open: () => createSqliteStore(':memory:') },
  { name: 'SQLite file', open: () => createSqliteStore(join(scratch, `contract-${++files}`, 'h.db'), { makeFolder: true }) },
  { name: 'PostgreSQL', skip: await postgresSkipReason(), open: openPostgresStore },
];

describe.each(factories)('Store contract: $name', (factory) => {
  let store: Store;
  beforeEach(async (context) => {
    if (factory.skip !== undefined) context.skip(factory.skip);
    store = await factory.open();
    context.onTestFinished(() => store.close());
  });

  it('ensureAudience is idempotent: same id, created true then false', async () => {
    const first = await store.ensureAudience('acme');
    const second = await store.ensureAudience('acme');
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.record).toEqual(first.record);
    expect(first.record.name).toBe('acme');
    expect(first.record.id).toEqual(expect.any(String));
    expect(first.record.createdAt).toBeInstanceOf(Date);
    expect(first.record.updatedAt).toBeInstanceOf(Date);
    expect(Number.isNaN(first.record.createdAt.getTime())).toBe(false);
  });

  it('findAudience and findAudienceById return the record, or undefined when missing', async () => {
    expect(await store.findAudience('nobody')).toBeUndefined();
    expect(await store.findAudienceById('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    const { record } = await store.ensureAudience('acme');
    expect(await store.findAudience('acme')).toEqual(record);
    expect(await store.findAudienceById(record.id)).toEqual(record);
    expect(await store.findAudience('ACME')).toBeUndefined();
  });

  it('ensureTopic registers the audience, once', async () => {
    expect(await store.findAudience('acme')).toBeUndefined();
    const first = await store.ensureTopic('acme', 'orders');
    expect(first.created).toBe(true);
    expect(first.audience.created).toBe(true);
    expect(first.record).toMatchObject({ name: 'orders', audienceId: first.audience.record.id });
    expect(await store.findAudience('acme')).toEqual(first.audience.record);

    const other = await store.ensureTopic('acme', 'invoices');
    expect(other.created).toBe(true);
    expect(other.audience.created).toBe(false);
    expect(other.audience.record).toEqual(first.audience.record);
  });

  it('ensureTopic is idempotent: same row, created false', async () => {
    const first = await store.ensureTopic('acme', 'orders');
    const second = await store.ensureTopic('acme', 'orders');
    expect(second.created).toBe(false);
    expect(second.record).toEqual(first.record);
    expect(await store.listTopics('acme')).toHaveLength(1);
  });

  it('ensureTopic joins an audience made by ensureAudience', async () => {
    const audience = await store.ensureAudience('acme');
    const topic = await store.ensureTopic('acme', 'orders');
    expect(topic.audience).toEqual({ record: audience.record, created: false });
    expect(topic.record.audienceId).toBe(audience.record.id);
  });

  it('keeps the same topic name in two audiences as distinct rows', async () => {
    const a = await store.ensureTopic('acme', 'orders');
    const b = await store.ensureTopic('globex', 'orders');
    expect(b.created).toBe(true);
    expect(b.record.id).not.toBe(a.record.id);
    expect(b.record.audienceId).not.toBe(a.record.audienceId);
    expect(await store.findTopic('acme', 'orders')).toEqual(a.record);
    expect(await store.findTopic('globex', 'orders')).toEqual(b.record);

    expect(await store.deleteTopic('acme', 'orders')).toEqual(a.record);
    expect(await store.findTopic('acme', 'orders')).toBeUndefined();
    expect(await store.findTopic('globex', 'orders')).toEqual(b.record);
  });

  it('lists topics sorted by name, per audience', async () => {
    for (const name of ['zeta', 'alpha', 'mid/2', 'mid/10', 'Beta']) await store.ensureTopic('acme', name);
    await store.ensureTopic('globex', 'aardvark');
    const names = (await store.listTopics('acme')).map((topic) => topic.name);
    expect(names).toEqual(['Beta', 'alpha', 'mid/10', 'mid/2', 'zeta']);
    expect((await store.listTopics('globex')).map((topic) => topic.name)).toEqual(['aardvark']);
    expect(await store.listTopics('nobody')).toEqual([]);

    const acme = await store.findAudience('acme');
    expect((await store.listTopicsByAudienceId(acme!.id)).map((topic) => topic.name)).toEqual(names);
    expect(await store.listTopicsByAudienceId('00000000-0000-0000-0000-000000000000')).toEqual([]);
  });

  it('deleteTopic returns the removed row, then undefined', async () => {
    const { record } = await store.ensureTopic('acme', 'orders');
    expect(await store.deleteTopic('acme', 'orders')).toEqual(record);
    expect(await store.deleteTopic('acme', 'orders')).toBeUndefined();
    expect(await store.findTopic('acme', 'orders')).toBeUndefined();
    expect(await store.listTopics('acme')).toEqual([]);
    // The audience stays registered.
    expect(await store.findAudience('acme')).toBeDefined();
  });

  it('deleteTopic in an unknown audience returns undefined', async () => {
    expect(await store.deleteTopic('nobody', 'orders')).toBeUndefined();
    expect(await store.findAudience('nobody')).toBeUndefined();
  });

  it('findTopic is undefined when missing, and does not register the audience', async () => {
    expect(await store.findTopic('acme', 'orders')).toBeUndefined();
    expect(await store.findAudience('acme')).toBeUndefined();
    await store.ensureAudience('acme');
    expect(await store.findTopic('acme', 'orders')).toBeUndefined();
  });

  it('re-declaring a deleted topic creates a new row', async () => {
    const first = await store.ensureTopic('acme', 'orders');
    await store.deleteTopic('acme', 'orders');
    const again = await store.ensureTopic('acme', 'orders');
    expect(again.created).toBe(true);
    expect(again.record.id).not.toBe(first.record.id);
  });

  it('round-trips topic names with any printable characters', async () => {
    const names = ['campaign:42', 'système/événements', '订单/新', 'a'.repeat(256), 'quote\'"`;--'];
    for (const name of names) await store.ensureTopic('acme', name);
    for (const name of names) expect((await store.findTopic('acme', name))?.name).toBe(name);
  });

  it('handles concurrent ensures of the same names', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.ensureTopic('acme', 'orders')));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => result.record.id)).size).toBe(1);
    expect(results.filter((result) => result.audience.created)).toHaveLength(1);
  });

  it('ping resolves while open', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('keeps revocations until their expiresAt, then drops them', async () => {
    const now = Date.UTC(2026, 11, 6, 12, 0, 0, 250);
    const byToken = { audience: 'acme', tokenId: 'jti-1', reason: 'leaked', revokedAt: now, expiresAt: now + 60_000 };
    const bySubject = { audience: 'acme', subject: 'ann', issuedBefore: now - 5, reason: 'revoked', revokedAt: now, expiresAt: now + 120_000 };
    await store.addRevocation(byToken);
    await store.addRevocation(bySubject);
    const sorted = (list: Awaited<ReturnType<Store['listRevocations']>>) => [...list].sort((a, b) => a.expiresAt - b.expiresAt);
    expect(sorted(await store.listRevocations(now))).toEqual([byToken, bySubject]);
    expect(await store.listRevocations(now + 60_000)).toEqual([bySubject]);
    expect(await store.listRevocations(now + 120_000)).toEqual([]);
    // Dropped for good, not only filtered.
    expect(await store.listRevocations(now)).toEqual([]);
  });
});

describe('SQLite persistence across restarts', () => {
  it('keeps audiences and topics in the DATABASE_URL file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-restart-'));
    try {
      const env = { DATABASE_URL: `sqlite:${join(dir, 'h.db')}` };
      const manager = await token({ audience: 'store-restart', scopes: ['manage'] });

      const first = await startHerald(env);
      let created;
      try {
        created = await gql(first.httpUrl, manager, 'mutation { b: createTopic(name: "beta") { id name } a: createTopic(name: "alpha") { id name } }');
        expect(created.errors).toBeUndefined();
      } finally {
        await first.stop();
      }

      const second = await startHerald(env);
      try {
        const read = await gql(second.httpUrl, manager, '{ topics { id name } audience { name topics { name } } }');
        expect(read.errors).toBeUndefined();
        expect(read.data!.topics).toEqual([created.data!.a, created.data!.b]);
        expect(read.data!.audience).toEqual({ name: 'store-restart', topics: [{ name: 'alpha' }, { name: 'beta' }] });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite open failures', () => {
  it('makes no folder unless asked, and names the file in one line', async () => {
    const path = join(scratch, 'never-made', 'h.db');
    const error = await createSqliteStore(path).then(
      () => expect.unreachable('opened a file in a missing folder'),
      (refusal: unknown) => refusal,
    );
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as StoreOpenError).message).toMatch(
      /^cannot open the store \(DATABASE_URL\): SQLite \S+ could not be opened: [^\n]*directory does not exist$/,
    );
    expect((error as StoreOpenError).message).toContain(path);
    expect(existsSync(join(scratch, 'never-made'))).toBe(false);
  });

  it('refuses a file that is not a SQLite database, and leaves it as it was', async () => {
    const path = join(scratch, 'notes.txt');
    writeFileSync(path, 'not a database, but long enough to have a header SQLite would read\n'.repeat(4));
    await expect(createSqliteStore(path)).rejects.toMatchObject({
      name: 'StoreOpenError',
      failure: 'cannot-open',
      message: expect.stringMatching(/file is not a database$/),
    });
    expect(existsSync(`${path}-wal`)).toBe(false);
  });
});
