import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisChannelName } from '../src/bus/redis-channels.js';
import { errorCode, gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { numsub, REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { subscribe } from './helpers/subscription.js';
import { until } from './helpers/until.js';

/**
 * publishMany (issue 18, item 3): many messages in one request, each authorised, validated and
 * stamped as publish does; all or nothing up to the bus (a refusal names the message, and nothing
 * is published); list order is publish order. On the in-process bus and on the Redis bus, over
 * HTTP and over a graphql-ws connection.
 */
const hasRedis = await redisAvailable();

const PUBLISH_MANY = 'mutation($m: [PublishInput!]!) { publishMany(messages: $m) { id topic payload publisher } }';
const HISTORY = 'query($t: String!) { history(topic: $t) { id payload } }';

interface Published {
  id: string;
  topic: string;
  payload: unknown;
  publisher: string | null;
}

const buses: Array<[string, () => Record<string, string>]> = [
  ['in-process bus', () => ({})],
  ...(hasRedis ? [['Redis bus', () => ({ REDIS_URL, REDIS_PREFIX: uniquePrefix('publish-many') })] as [string, () => Record<string, string>]] : []),
];

describe.each(buses)('publishMany on the %s', (_name, env) => {
  let herald: TestHerald;
  let publisher: string;
  let reader: string;
  let prefix: string | undefined;
  beforeAll(async () => {
    const busEnv = env();
    prefix = busEnv.REDIS_PREFIX;
    herald = await startHerald({ ...busEnv, MAX_PAYLOAD_BYTES: '1024' });
    // On the Redis bus, publishes answer UNAVAILABLE until its connections are up.
    await until(async () => (await fetch(`${herald.baseUrl}/ready`)).status === 200, 'the gateway to be ready');
    publisher = await token({ audience: 'pm', scopes: ['publish', 'subscribe'], subject: 'backend-7' });
    reader = await token({ audience: 'pm', scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  const publishMany = (bearer: string, messages: ReadonlyArray<{ topic: string; payload: unknown }>) =>
    gql<{ publishMany: Published[] }>(herald.httpUrl, bearer, PUBLISH_MANY, { m: messages });
  const kept = async (topic: string): Promise<unknown[]> => {
    const response = await gql<{ history: Array<{ payload: unknown }> }>(herald.httpUrl, reader, HISTORY, { t: topic });
    expect(response.errors).toBeUndefined();
    return response.data!.history.map((message) => message.payload);
  };

  it('publishes every message in list order, stamped as publish stamps one, and subscribers receive them in that order', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${reader}` } });
    const a = subscribe<{ topic: { payload: number } }>(client, 'subscription { topic(name: "pm/a") { payload } }');
    const b = subscribe<{ topic: { payload: number } }>(client, 'subscription { topic(name: "pm/b") { payload } }');
    await waitForSubscribers(herald.app, 'pm', 'pm/a');
    await waitForSubscribers(herald.app, 'pm', 'pm/b');
    if (prefix !== undefined) {
      // Redis has no subscribe acknowledgement: wait until it counts this instance on both channels.
      const admin = new Redis(REDIS_URL);
      const names = ['pm/a', 'pm/b'].map((topic) => redisChannelName(prefix!, { kind: 'topic', audience: 'pm', topic }));
      await until(async () => (await numsub(admin, names)).every((count) => count > 0), 'SUBSCRIBE on both topics');
      admin.disconnect();
    }

    const messages = [1, 2, 3, 4, 5, 6].map((n) => ({ topic: n % 2 === 0 ? 'pm/b' : 'pm/a', payload: n }));
    const response = await publishMany(publisher, messages);
    expect(response.errors).toBeUndefined();
    const published = response.data!.publishMany;
    expect(published.map((message) => [message.topic, message.payload])).toEqual(messages.map((m) => [m.topic, m.payload]));
    expect(published.every((message) => message.publisher === 'backend-7')).toBe(true);
    expect(new Set(published.map((message) => message.id)).size).toBe(6);

    const fromA = [await a.next(), await a.next(), await a.next()].map((result) => result.data!.topic.payload);
    const fromB = [await b.next(), await b.next(), await b.next()].map((result) => result.data!.topic.payload);
    expect(fromA).toEqual([1, 3, 5]);
    expect(fromB).toEqual([2, 4, 6]);
    expect(await kept('pm/a')).toEqual([1, 3, 5]);
    a.dispose();
    b.dispose();
    await client.dispose();
  });

  it('keeps list order within a topic across a large call, and its ids resume like any other', async () => {
    const messages = Array.from({ length: 500 }, (_, n) => ({ topic: 'pm/bulk', payload: { n } }));
    const response = await publishMany(publisher, messages);
    expect(response.errors).toBeUndefined();
    const ids = response.data!.publishMany.map((message) => message.id);
    // Ids sort in stream order, and the stream order is the list order.
    expect([...ids].sort()).toEqual(ids);
    expect((await kept('pm/bulk')).slice(-3)).toEqual([{ n: 497 }, { n: 498 }, { n: 499 }]);
  });

  it('refuses the whole call when one message is refused, says which, and publishes nothing', async () => {
    const limited = await token({ audience: 'pm', scopes: ['publish'], topics: ['pm/allowed/*'] });
    const cases: Array<[string, string, ReadonlyArray<{ topic: string; payload: unknown }>, string, number]> = [
      [
        'a topic outside the token',
        limited,
        [
          { topic: 'pm/allowed/1', payload: 1 },
          { topic: 'pm/other', payload: 2 },
        ],
        'FORBIDDEN',
        1,
      ],
      [
        'a malformed topic name',
        publisher,
        [
          { topic: 'pm/refused-1', payload: 1 },
          { topic: 'pm/refused-1', payload: 2 },
          { topic: 'bad topic', payload: 3 },
        ],
        'BAD_USER_INPUT',
        2,
      ],
      ['a payload over MAX_PAYLOAD_BYTES', publisher, [{ topic: 'pm/refused-2', payload: 'x'.repeat(2000) }], 'PAYLOAD_TOO_LARGE', 0],
      ['a token without the publish scope', reader, [{ topic: 'pm/refused-3', payload: 1 }], 'FORBIDDEN', 0],
    ];
    for (const [what, bearer, messages, code, index] of cases) {
      const response = await publishMany(bearer, messages);
      expect(errorCode(response), what).toBe(code);
      const error = response.errors![0]! as { message: string; extensions: { index?: number } };
      expect(error.extensions.index, what).toBe(index);
      expect(error.message, what).toMatch(new RegExp(`^messages\\[${index}\\]: `));
      expect(response.data ?? null, what).toBeNull();
    }
    for (const topic of ['pm/allowed/1', 'pm/refused-1', 'pm/refused-2', 'pm/refused-3']) expect(await kept(topic)).toEqual([]);
  });

  it('refuses more than 1000 messages, answers an empty list with an empty list, and goes on serving', async () => {
    const tooMany = Array.from({ length: 1001 }, (_, n) => ({ topic: 'pm/many', payload: n }));
    const refused = await publishMany(publisher, tooMany);
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0]!.message).toMatch(/at most 1000/);
    expect(refused.status).toBe(400);
    expect(await kept('pm/many')).toEqual([]);

    const empty = await publishMany(publisher, []);
    expect(empty.errors).toBeUndefined();
    expect(empty.data!.publishMany).toEqual([]);

    const after = await publishMany(publisher, [{ topic: 'pm/many', payload: 'still up' }]);
    expect(after.data!.publishMany[0]!.payload).toBe('still up');
  });

  it('works over a graphql-ws connection as over HTTP', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${publisher}` } });
    const result = await new Promise<{ data?: { publishMany: Published[] } | null; errors?: unknown }>((resolve, reject) => {
      let last: { data?: { publishMany: Published[] } | null; errors?: unknown } = {};
      client.subscribe<{ publishMany: Published[] }>(
        {
          query: PUBLISH_MANY,
          variables: {
            m: [
              { topic: 'pm/ws', payload: 'one' },
              { topic: 'pm/ws', payload: 'two' },
            ],
          },
        },
        { next: (value) => (last = value), error: reject, complete: () => resolve(last) },
      );
    });
    expect(result.errors).toBeUndefined();
    expect(result.data!.publishMany.map((message) => message.payload)).toEqual(['one', 'two']);
    expect(await kept('pm/ws')).toEqual(['one', 'two']);
    await client.dispose();
  });
});

describe('publishMany with REQUIRE_DECLARED_TOPICS', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ REQUIRE_DECLARED_TOPICS: 'true' });
  });
  afterAll(() => herald.stop());

  it('refuses the call when any topic is undeclared, naming the first such message', async () => {
    const admin = await token({ audience: 'pmd', scopes: ['manage', 'publish', 'subscribe'] });
    expect((await gql(herald.httpUrl, admin, 'mutation { createTopic(name: "declared") { name } }')).errors).toBeUndefined();
    const refused = await gql(herald.httpUrl, admin, PUBLISH_MANY, {
      m: [
        { topic: 'declared', payload: 1 },
        { topic: 'declared', payload: 2 },
        { topic: 'undeclared', payload: 3 },
      ],
    });
    expect(errorCode(refused)).toBe('NOT_FOUND');
    expect((refused.errors![0] as unknown as { extensions: { index: number } }).extensions.index).toBe(2);
    const history = await gql<{ history: unknown[] }>(herald.httpUrl, admin, HISTORY, { t: 'declared' });
    expect(history.data!.history).toEqual([]);

    const accepted = await gql<{ publishMany: Published[] }>(herald.httpUrl, admin, PUBLISH_MANY, { m: [{ topic: 'declared', payload: 1 }] });
    expect(accepted.errors).toBeUndefined();
    expect(accepted.data!.publishMany).toHaveLength(1);
  });
});
