import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, startHerald, token, type TestHerald } from './helpers/herald.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { until } from './helpers/until.js';

/**
 * Query.history over real HTTP (issue 17, item 5): authorised as subscribing to the topic is,
 * newest last, paged by after, limit 1..1000 (default 100), audiences never see each other's
 * messages. The same cases on the in-process bus and on the Redis bus, which share keptAfter but
 * read their windows differently.
 */
const hasRedis = await redisAvailable();

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const HISTORY = 'query($t: String!, $after: ID, $limit: Int) { history(topic: $t, after: $after, limit: $limit) { id topic audience payload } }';
const HISTORY_DEFAULT_LIMIT = 'query($t: String!, $after: ID) { history(topic: $t, after: $after) { id payload } }';

interface Kept {
  id: string;
  topic: string;
  audience: string;
  payload: number;
}

const buses: Array<[string, () => Record<string, string>]> = [
  ['in-process bus', () => ({})],
  ...(hasRedis ? [['Redis bus', () => ({ REDIS_URL, REDIS_PREFIX: uniquePrefix('history-query') })] as [string, () => Record<string, string>]] : []),
];

describe.each(buses)('history query on the %s', (_name, env) => {
  let herald: TestHerald;
  let publisherA: string;
  let readerA: string;
  let publisherB: string;
  let readerB: string;
  let limited: string;
  beforeAll(async () => {
    herald = await startHerald(env());
    // On the Redis bus, publishes answer UNAVAILABLE until its connections are up.
    await until(async () => (await fetch(`${herald.baseUrl}/ready`)).status === 200, 'the gateway to be ready');
    publisherA = await token({ audience: 'hq-a', scopes: ['publish', 'subscribe'] });
    readerA = await token({ audience: 'hq-a', scopes: ['subscribe'] });
    publisherB = await token({ audience: 'hq-b', scopes: ['publish', 'subscribe'] });
    readerB = await token({ audience: 'hq-b', scopes: ['subscribe'] });
    limited = await token({ audience: 'hq-a', scopes: ['subscribe'], topics: ['allowed/*'] });
  });
  afterAll(() => herald.stop());

  const publishAs = async (bearer: string, topic: string, payload: number): Promise<string> => {
    const response = await gql<{ publish: { id: string } }>(herald.httpUrl, bearer, PUBLISH, { t: topic, p: payload });
    expect(response.errors).toBeUndefined();
    return response.data!.publish.id;
  };
  const publishMany = async (bearer: string, topic: string, count: number): Promise<string[]> => {
    const ids: string[] = [];
    // One after another: each id is then known to be the next in the stream.
    for (let n = 1; n <= count; n++) ids.push(await publishAs(bearer, topic, n));
    return ids;
  };
  const history = (bearer: string, topic: string, after?: string | null, limit?: number) =>
    gql<{ history: Kept[] }>(herald.httpUrl, bearer, HISTORY, { t: topic, ...(after !== undefined && { after }), ...(limit !== undefined && { limit }) });

  it('returns kept messages newest last, and after pages forward without gap or overlap', async () => {
    const ids = await publishMany(publisherA, 'orders', 12);
    const all = await history(readerA, 'orders');
    expect(all.errors).toBeUndefined();
    expect(all.data!.history.map((m) => m.id)).toEqual(ids);
    expect(all.data!.history.map((m) => m.payload)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(all.data!.history.every((m) => m.topic === 'orders' && m.audience === 'hq-a')).toBe(true);
    // Ids sort as strings in stream order.
    expect([...ids].sort()).toEqual(ids);

    const pages: string[][] = [];
    let after: string | null = null;
    for (;;) {
      const page = await history(readerA, 'orders', after, 5);
      expect(page.errors).toBeUndefined();
      const got = page.data!.history.map((m) => m.id);
      if (got.length === 0) break;
      pages.push(got);
      after = got.at(-1)!;
      if (pages.length > 5) throw new Error('paging does not end');
    }
    // after: null on the first page gives the newest five, not the oldest; from then on, after pages forward.
    expect(pages[0]).toEqual(ids.slice(7));
    expect(pages.length).toBe(1);

    const forward: string[][] = [];
    after = ids[0]!;
    for (;;) {
      const page = await history(readerA, 'orders', after, 5);
      const got = page.data!.history.map((m) => m.id);
      if (got.length === 0) break;
      forward.push(got);
      after = got.at(-1)!;
    }
    expect(forward).toEqual([ids.slice(1, 6), ids.slice(6, 11), ids.slice(11)]);
    // The newest id as cursor: nothing newer, not an error.
    const atEnd = await history(readerA, 'orders', ids.at(-1));
    expect(atEnd.errors).toBeUndefined();
    expect(atEnd.data!.history).toEqual([]);
  });

  it('after: null gives the newest limit; limit defaults to 100', async () => {
    const ids = await publishMany(publisherA, 'many', 105);
    const newest = await history(readerA, 'many', null, 3);
    expect(newest.data!.history.map((m) => m.id)).toEqual(ids.slice(-3));
    const byDefault = await gql<{ history: Array<{ id: string }> }>(herald.httpUrl, readerA, HISTORY_DEFAULT_LIMIT, { t: 'many' });
    expect(byDefault.errors).toBeUndefined();
    expect(byDefault.data!.history.map((m) => m.id)).toEqual(ids.slice(-100));
    const afterFirst = await gql<{ history: Array<{ id: string }> }>(herald.httpUrl, readerA, HISTORY_DEFAULT_LIMIT, { t: 'many', after: ids[0] });
    expect(afterFirst.data!.history.map((m) => m.id)).toEqual(ids.slice(1, 101));
    const most = await history(readerA, 'many', null, 1000);
    expect(most.errors).toBeUndefined();
    expect(most.data!.history.map((m) => m.id)).toEqual(ids);
    const one = await history(readerA, 'many', ids[50], 1);
    expect(one.data!.history.map((m) => m.id)).toEqual([ids[51]]);
  });

  it('refuses a limit outside 1..1000 and a malformed cursor with BAD_USER_INPUT', async () => {
    await publishAs(publisherA, 'bounds', 1);
    for (const limit of [0, -1, 1001]) {
      const response = await history(readerA, 'bounds', null, limit);
      expect(errorCode(response), `limit ${limit}`).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.message).toMatch(/limit must be an integer from 1 to 1000/);
    }
    // History reads one topic: a pattern names many.
    const pattern = await history(readerA, 'bounds/*');
    expect(errorCode(pattern)).toBe('BAD_USER_INPUT');
    for (const bad of ['nope', '42', '01JF3XXXXXXXXXXXXX-1']) {
      const response = await history(readerA, 'bounds', bad);
      expect(errorCode(response), bad).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.message).toMatch(/after must be a Message\.id/);
    }
  });

  it('refuses topics outside the token topics limit with FORBIDDEN, and serves those inside', async () => {
    const ids = await publishMany(publisherA, 'allowed/x', 2);
    const secret = await publishMany(publisherA, 'secret', 2);
    const inside = await history(limited, 'allowed/x');
    expect(inside.errors).toBeUndefined();
    expect(inside.data!.history.map((m) => m.id)).toEqual(ids);
    for (const after of [undefined, secret[0]]) {
      const outside = await history(limited, 'secret', after);
      expect(errorCode(outside)).toBe('FORBIDDEN');
      expect(outside.data ?? null).toBeNull();
      expect(JSON.stringify(outside)).not.toContain('"payload"');
    }
  });

  it("never shows another audience's messages; a cursor from another audience's stream reveals nothing", async () => {
    const aIds = await publishMany(publisherA, 'shared-name', 3);
    // Another audience, same topic name: its own stream, empty until it publishes.
    const bEmpty = await history(readerB, 'shared-name');
    expect(bEmpty.errors).toBeUndefined();
    expect(bEmpty.data!.history).toEqual([]);
    const bFromA = await history(readerB, 'shared-name', aIds[0]);
    expect(errorCode(bFromA)).toBe('CURSOR_EXPIRED');
    const bIds = await publishMany(publisherB, 'shared-name', 2);
    const bOwn = await history(readerB, 'shared-name');
    expect(bOwn.data!.history.map((m) => [m.audience, m.payload])).toEqual([
      ['hq-b', 1],
      ['hq-b', 2],
    ]);
    expect(bOwn.data!.history.map((m) => m.id)).toEqual(bIds);
    // Now B's stream exists: A's cursor names another epoch, and is refused the same way.
    const again = await history(readerB, 'shared-name', aIds[0]);
    expect(errorCode(again)).toBe('CURSOR_EXPIRED');
    for (const response of [bFromA, again]) {
      const text = JSON.stringify(response);
      // Nothing of A's stream: not its other ids, not its epoch's offsets, not how much it holds.
      for (const id of aIds.slice(1)) expect(text).not.toContain(id);
      expect(text).not.toContain('hq-a');
      expect(text).not.toMatch(/"payload"/);
      expect(response.errors![0]!.message).toMatch(/subscribe without after/);
    }
    // And A still sees only its own.
    const aOwn = await history(readerA, 'shared-name');
    expect(aOwn.data!.history.map((m) => m.id)).toEqual(aIds);
  });

  it('answers an unknown topic with an empty list, and a cursor for it with CURSOR_EXPIRED', async () => {
    const empty = await history(readerA, 'never-published');
    expect(empty.errors).toBeUndefined();
    expect(empty.data!.history).toEqual([]);
    const [id] = await publishMany(publisherA, 'elsewhere', 1);
    const response = await history(readerA, 'never-published', id);
    expect(errorCode(response)).toBe('CURSOR_EXPIRED');
  });
});
