import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/mint-token.js';
import { MAX_SIGNED_TOPICS } from '../src/auth/subscription-signer.js';
import { SIGNED_SUBSCRIPTION_ISSUER } from '../src/auth/verify-token.js';
import { errorCode, gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { courierFetch } from './helpers/courier.js';
import { subscribe } from './helpers/subscription.js';

const SIGNING_SECRET = 'herald-test-signing-secret-0123456789';
const SIGN = 'mutation ($topics: [String!], $ttl: Int) { signSubscription(topics: $topics, ttlSeconds: $ttl) { token url expiresAt } }';
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { topic payload } }';

interface Signed {
  token: string;
  url: string;
  expiresAt: string;
}

describe('signSubscription', () => {
  let herald: TestHerald;
  let manager: string;
  let publisher: string;

  beforeAll(async () => {
    herald = await startHerald({ SIGNING_SECRET });
    manager = await token({ audience: 'signed', subject: 'backend', scopes: ['manage'], topics: ['orders/*'] });
    publisher = await token({ audience: 'signed', scopes: ['publish'] });
  });
  afterAll(() => herald.stop());

  const sign = async (variables: Record<string, unknown>, bearer = manager) => gql<{ signSubscription: Signed }>(herald.httpUrl, bearer, SIGN, variables);

  it('returns a ws:// URL that a plain graphql-ws client can use as is', async () => {
    const before = Date.now();
    const response = await sign({ topics: ['orders/1'], ttl: 120 });
    expect(response.errors).toBeUndefined();
    const signed = response.data!.signSubscription;
    expect(signed.url).toBe(`${herald.wsUrl}?token=${signed.token}`);
    const expiresIn = Date.parse(signed.expiresAt) - before;
    expect(expiresIn).toBeGreaterThan(118_000);
    expect(expiresIn).toBeLessThanOrEqual(121_000);

    const client = wsClient(signed.url);
    const sub = subscribe(client, ON_TOPIC, { name: 'orders/1' });
    await waitForSubscribers(herald.app, 'signed', 'orders/1');
    await gql(herald.httpUrl, publisher, 'mutation { publish(topic: "orders/1", payload: {n: 1}) { id } }');
    expect((await sub.next()).data).toEqual({ topic: { topic: 'orders/1', payload: { n: 1 } } });

    const viewer = subscribe(client, '{ viewer { subject audience scopes topics } }');
    expect((await viewer.next()).data).toEqual({
      viewer: { subject: 'backend', audience: 'signed', scopes: ['SUBSCRIBE'], topics: ['orders/1'] },
    });
    // Limited to what was signed, even inside the caller's own limit.
    const outside = subscribe(client, ON_TOPIC, { name: 'orders/2' });
    expect((await outside.next()).errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    await client.dispose();
  });

  it('is subscribe-only, whatever its claims say', async () => {
    const forged = await mintToken(
      { secret: SIGNING_SECRET },
      { audience: 'signed', scopes: ['publish', 'manage'], issuer: SIGNED_SUBSCRIPTION_ISSUER, ttlSeconds: 60 },
    );
    const viewer = await gql(herald.httpUrl, forged.token, '{ viewer { scopes } }');
    expect(viewer.data).toEqual({ viewer: { scopes: ['SUBSCRIBE'] } });
    const publish = await gql(herald.httpUrl, forged.token, 'mutation { publish(topic: "orders/1", payload: 1) { id } }');
    expect(errorCode(publish)).toBe('FORBIDDEN');
    expect(publish.status).toBe(403);
  });

  it("defaults to the caller's own topics and cannot widen them", async () => {
    const defaulted = await sign({});
    const viewer = await gql(herald.httpUrl, defaulted.data!.signSubscription.token, '{ viewer { topics } }');
    expect(viewer.data).toEqual({ viewer: { topics: ['orders/*'] } });

    for (const topics of [['**'], ['billing/1'], ['orders/*', 'orders/**']]) {
      const widened = await sign({ topics });
      expect(errorCode(widened), JSON.stringify(topics)).toBe('FORBIDDEN');
    }
    const narrower = await sign({ topics: ['orders/1', 'orders/*'] });
    expect(narrower.errors).toBeUndefined();
  });

  it('needs MANAGE and a ttl from 1 to 3600 seconds', async () => {
    expect(errorCode(await sign({ topics: ['orders/1'] }, publisher))).toBe('FORBIDDEN');
    for (const ttl of [0, -5, 3601]) expect(errorCode(await sign({ topics: ['orders/1'], ttl })), String(ttl)).toBe('BAD_USER_INPUT');
    expect(errorCode(await sign({ topics: ['bad topic'] }))).toBe('BAD_USER_INPUT');
  });

  it(`takes at most ${MAX_SIGNED_TOPICS} topics, counting duplicates once, and says so (BAD_USER_INPUT)`, async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `orders/${i}`);
    const refused = await sign({ topics: many });
    expect(refused.status).toBe(400);
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toBe(`a signed token carries at most ${MAX_SIGNED_TOPICS} topics, got 10000 (a pattern such as orders/* covers many)`);
    expect(errorCode(await sign({ topics: many.slice(0, MAX_SIGNED_TOPICS + 1) }))).toBe('BAD_USER_INPUT');

    const atLimit = await sign({ topics: [...many.slice(0, MAX_SIGNED_TOPICS), ...many.slice(0, MAX_SIGNED_TOPICS)] });
    expect(atLimit.errors).toBeUndefined();
    const viewer = await gql(herald.httpUrl, atLimit.data!.signSubscription.token, '{ viewer { topics } }');
    expect(viewer.data).toEqual({ viewer: { topics: many.slice(0, MAX_SIGNED_TOPICS) } });
  });

  it("refuses to default to the caller's own topics when they are more than a signed token carries", async () => {
    const wide = await token({ audience: 'signed', scopes: ['manage'], topics: Array.from({ length: MAX_SIGNED_TOPICS + 1 }, (_, i) => `t/${i}`) });
    const refused = await sign({}, wide);
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toBe(
      `a signed token carries at most ${MAX_SIGNED_TOPICS} topics, the caller's own token lists ${MAX_SIGNED_TOPICS + 1}; pass topics (a pattern such as orders/* covers many)`,
    );
    expect((await sign({ topics: ['t/1'] }, wide)).errors).toBeUndefined();
  });

  it(`courier's GET /v1/sign has the same bound: 400 EPARAM_INVALID naming it`, async () => {
    const query = (count: number) => Array.from({ length: count }, (_, i) => `topic=orders/${i}`).join('&');
    const refused = await courierFetch(herald.baseUrl, 'GET', `/v1/sign?${query(MAX_SIGNED_TOPICS + 1)}`, { token: manager });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      status: 400,
      code: 'EPARAM_INVALID',
      error: `a signed token carries at most ${MAX_SIGNED_TOPICS} topics, got ${MAX_SIGNED_TOPICS + 1} (a pattern such as orders/* covers many)`,
    });
    const signed = await courierFetch(herald.baseUrl, 'GET', `/v1/sign?${query(MAX_SIGNED_TOPICS)}`, { token: manager });
    expect(signed.status).toBe(200);
    const viewer = await gql(herald.httpUrl, signed.body.data.key as string, '{ viewer { topics } }');
    expect(viewer.data!.viewer.topics).toHaveLength(MAX_SIGNED_TOPICS);
  });

  it('expires: the open socket closes with 4401 and the URL is refused afterwards with 4401', async () => {
    // exp has one-second resolution: 2 s leaves at least one full second to connect and subscribe, even on a loaded machine.
    const signed = (await sign({ topics: ['orders/9'], ttl: 2 })).data!.signSubscription;
    const closes: number[] = [];
    let closed!: () => void;
    const closedOnce = new Promise<void>((resolve) => (closed = resolve));
    const client = wsClient(signed.url, {
      on: {
        closed: (event) => {
          closes.push((event as { code: number }).code);
          closed();
        },
      },
    });
    const sub = subscribe(client, ON_TOPIC, { name: 'orders/9' });
    await waitForSubscribers(herald.app, 'signed', 'orders/9');
    await closedOnce;
    expect(closes).toEqual([4401]);
    expect(await sub.ended).toMatchObject({ error: { code: 4401 } });
    await client.dispose();

    const late = wsClient(signed.url);
    const refused = subscribe(late, ON_TOPIC, { name: 'orders/9' });
    expect(await refused.ended).toMatchObject({ error: { code: 4401 } });
    await late.dispose();
  });
});
