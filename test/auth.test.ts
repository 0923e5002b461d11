import type { Client } from 'graphql-ws';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/mint-token.js';
import {
  ecPemPair,
  es256KidKey,
  hs256Token,
  nowSeconds,
  openSse,
  rsaPemPair,
  sseNextPayloads,
  startJwksServer,
  unsignedToken,
  wsViewerOutcome,
  type JwksServer,
  type PemPair,
} from './helpers/auth-fixtures.js';
import { errorCode, gql, startHerald, TEST_SECRET, token, waitForSubscribers, wsClient, type GraphQLResponse, type TestHerald } from './helpers/herald.js';
import { subscribe, type Subscription } from './helpers/subscription.js';

const VIEWER = '{ viewer { subject audience scopes topics } }';
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id topic audience payload } }';
const BROADCASTS = 'subscription { broadcasts { id topic audience payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id topic audience } }';
const BROADCAST = 'mutation ($payload: JSON!) { broadcast(payload: $payload) { id topic audience } }';

const WRONG_SECRET = 'not-the-herald-test-secret-0123456789';

/** The response was refused with exactly this status and code, and carried no data. */
function expectRefused(response: GraphQLResponse<unknown>, status: number, code: string): void {
  expect({ status: response.status, code: errorCode(response) }).toEqual({ status, code });
  expect(response.data ?? null).toBeNull();
}

/** The token was accepted: the viewer query answers 200 with the expected audience. */
async function expectViewer(url: string, bearer: string, audience: string): Promise<Record<string, unknown>> {
  const response = await gql(url, bearer, VIEWER);
  expect({ status: response.status, errors: response.errors }).toEqual({ status: 200, errors: undefined });
  expect(response.data!.viewer.audience).toBe(audience);
  return response.data!.viewer as Record<string, unknown>;
}

async function expectPublished(url: string, bearer: string, topic: string, payload: unknown, audience: string): Promise<void> {
  const response = await gql(url, bearer, PUBLISH, { topic, payload });
  expect(response.errors).toBeUndefined();
  expect(response.status).toBe(200);
  expect(response.data!.publish).toMatchObject({ topic, audience });
}

describe('HTTP token refusals (JWT_SECRET server)', () => {
  let herald: TestHerald;
  const audience = 'auth-http';
  const valid = () => ({ aud: audience, scope: 'subscribe', exp: nowSeconds() + 300 });

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('accepts a valid HS256 token (control for the refusals below)', async () => {
    await expectViewer(herald.httpUrl, await hs256Token(TEST_SECRET, valid()), audience);
  });

  it('refuses a request without a token: 401 UNAUTHENTICATED', async () => {
    expectRefused(await gql(herald.httpUrl, undefined, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses a garbage token: 401 UNAUTHENTICATED', async () => {
    expectRefused(await gql(herald.httpUrl, 'garbage', VIEWER), 401, 'UNAUTHENTICATED');
    expectRefused(await gql(herald.httpUrl, 'aaa.bbb.ccc', VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses an alg:none token with otherwise valid claims: 401 UNAUTHENTICATED', async () => {
    const none = unsignedToken(valid());
    expect(none.endsWith('.')).toBe(true);
    expectRefused(await gql(herald.httpUrl, none, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses a token signed with another secret: 401 UNAUTHENTICATED', async () => {
    const forged = (await mintToken({ secret: WRONG_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 300 })).token;
    expectRefused(await gql(herald.httpUrl, forged, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses an expired token (JWT_CLOCK_TOLERANCE=0): 401 UNAUTHENTICATED', async () => {
    const expired = await token({ audience, scopes: ['subscribe'], ttlSeconds: -5 });
    expectRefused(await gql(herald.httpUrl, expired, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses a token whose nbf is in the future: 401 UNAUTHENTICATED', async () => {
    const early = await hs256Token(TEST_SECRET, { ...valid(), nbf: nowSeconds() + 120 });
    expectRefused(await gql(herald.httpUrl, early, VIEWER), 401, 'UNAUTHENTICATED');
    // The same token shape with nbf in the past is fine.
    await expectViewer(herald.httpUrl, await hs256Token(TEST_SECRET, { ...valid(), nbf: nowSeconds() - 10 }), audience);
  });

  it('refuses a token without exp: 401 UNAUTHENTICATED', async () => {
    const forever = await hs256Token(TEST_SECRET, { aud: audience, scope: 'subscribe' });
    expectRefused(await gql(herald.httpUrl, forever, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('accepts a token without exp only when JWT_REQUIRE_EXP=false (legacy issuers), still checking everything else', async () => {
    const lenient = await startHerald({ JWT_REQUIRE_EXP: 'false' });
    try {
      const forever = await hs256Token(TEST_SECRET, { aud: audience, scope: 'subscribe' });
      await expectViewer(lenient.httpUrl, forever, audience);
      // An exp that is there is still enforced, and the signature still matters.
      expectRefused(await gql(lenient.httpUrl, await hs256Token(TEST_SECRET, { ...valid(), exp: nowSeconds() - 60 }), VIEWER), 401, 'UNAUTHENTICATED');
      expectRefused(await gql(lenient.httpUrl, await hs256Token('another-secret-0123456789abcdef0123', { aud: audience }), VIEWER), 401, 'UNAUTHENTICATED');
    } finally {
      await lenient.stop();
    }
  });

  it('refuses a token naming several audiences: 401 UNAUTHENTICATED', async () => {
    const ambiguous = await hs256Token(TEST_SECRET, { ...valid(), aud: [audience, 'other'] });
    expectRefused(await gql(herald.httpUrl, ambiguous, VIEWER), 401, 'UNAUTHENTICATED');
  });
});

describe('JWT_ISSUER', () => {
  let herald: TestHerald;
  const audience = 'auth-issuer';
  const issuer = 'https://issuer.herald.test';

  beforeAll(async () => {
    herald = await startHerald({ JWT_ISSUER: issuer });
  });
  afterAll(() => herald.stop());

  it('accepts a token from the configured issuer', async () => {
    await expectViewer(herald.httpUrl, await token({ audience, scopes: ['subscribe'], issuer }), audience);
  });

  it('refuses a token from another issuer, or with none: 401 UNAUTHENTICATED', async () => {
    const other = await token({ audience, scopes: ['subscribe'], issuer: 'https://evil.test' });
    expectRefused(await gql(herald.httpUrl, other, VIEWER), 401, 'UNAUTHENTICATED');
    const none = await token({ audience, scopes: ['subscribe'] });
    expectRefused(await gql(herald.httpUrl, none, VIEWER), 401, 'UNAUTHENTICATED');
  });
});

describe.each([
  { kind: 'RSA', algorithm: 'RS256', makePair: rsaPemPair },
  { kind: 'EC P-256', algorithm: 'ES256', makePair: ecPemPair },
])('JWT_PUBLIC_KEY ($kind): HS/RS confusion', ({ algorithm, makePair }) => {
  let herald: TestHerald;
  let pair: PemPair;
  const audience = `auth-pem-${algorithm.toLowerCase()}`;

  beforeAll(async () => {
    pair = makePair();
    // Only the public key: the classic setting for an algorithm-confusion attack.
    herald = await startHerald({ JWT_SECRET: '', JWT_PUBLIC_KEY: pair.publicKeyPem });
  });
  afterAll(() => herald.stop());

  it(`accepts an ${algorithm} token signed by the matching private key`, async () => {
    const { token: signed } = await mintToken({ privateKeyPem: pair.privateKeyPem }, { audience, scopes: ['subscribe'], ttlSeconds: 300 });
    expect(JSON.parse(Buffer.from(signed.split('.')[0]!, 'base64url').toString()).alg).toBe(algorithm);
    await expectViewer(herald.httpUrl, signed, audience);
  });

  it('refuses an HS256 token whose HMAC secret is the public key PEM: 401 UNAUTHENTICATED', async () => {
    const claims = { aud: audience, scope: 'subscribe publish manage', exp: nowSeconds() + 300 };
    for (const secret of [pair.publicKeyPem, pair.publicKeyPem.trim()]) {
      expectRefused(await gql(herald.httpUrl, await hs256Token(secret, claims), VIEWER), 401, 'UNAUTHENTICATED');
    }
  });

  it(`refuses an ${algorithm} token signed by another private key: 401 UNAUTHENTICATED`, async () => {
    const stranger = makePair();
    const { token: forged } = await mintToken({ privateKeyPem: stranger.privateKeyPem }, { audience, scopes: ['subscribe'], ttlSeconds: 300 });
    expectRefused(await gql(herald.httpUrl, forged, VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses an HS256 token signed with the test secret (no JWT_SECRET configured): 401 UNAUTHENTICATED', async () => {
    expectRefused(await gql(herald.httpUrl, await token({ audience, scopes: ['subscribe'] }), VIEWER), 401, 'UNAUTHENTICATED');
  });
});

describe('several keys at once: JWT_SECRET and JWT_PUBLIC_KEY_B64', () => {
  let herald: TestHerald;
  let pair: PemPair;
  const audience = 'auth-multikey';

  beforeAll(async () => {
    pair = ecPemPair();
    herald = await startHerald({ JWT_PUBLIC_KEY_B64: Buffer.from(pair.publicKeyPem, 'utf8').toString('base64') });
  });
  afterAll(() => herald.stop());

  it('accepts an HS256 token under JWT_SECRET', async () => {
    const viewer = await expectViewer(herald.httpUrl, await token({ audience, subject: 'hs', scopes: ['subscribe'] }), audience);
    expect(viewer.subject).toBe('hs');
  });

  it('accepts an ES256 token under the base64 PEM', async () => {
    const { token: signed } = await mintToken({ privateKeyPem: pair.privateKeyPem }, { audience, subject: 'es', scopes: ['subscribe'], ttlSeconds: 300 });
    const viewer = await expectViewer(herald.httpUrl, signed, audience);
    expect(viewer.subject).toBe('es');
  });

  it('refuses tokens from neither key: 401 UNAUTHENTICATED', async () => {
    const { token: es } = await mintToken({ privateKeyPem: ecPemPair().privateKeyPem }, { audience, scopes: ['subscribe'], ttlSeconds: 300 });
    expectRefused(await gql(herald.httpUrl, es, VIEWER), 401, 'UNAUTHENTICATED');
    const { token: hs } = await mintToken({ secret: WRONG_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 300 });
    expectRefused(await gql(herald.httpUrl, hs, VIEWER), 401, 'UNAUTHENTICATED');
    const confused = await hs256Token(pair.publicKeyPem, { aud: audience, scope: 'subscribe', exp: nowSeconds() + 300 });
    expectRefused(await gql(herald.httpUrl, confused, VIEWER), 401, 'UNAUTHENTICATED');
  });
});

describe('JWKS_URL', () => {
  let herald: TestHerald;
  let jwks: JwksServer;
  const trusted = es256KidKey('trusted-1');
  const stranger = es256KidKey('stranger-1');
  const audience = 'auth-jwks';
  const claims = () => ({ aud: audience, scope: 'subscribe', sub: 'jwks-user', exp: nowSeconds() + 300 });

  beforeAll(async () => {
    jwks = await startJwksServer([trusted]);
    herald = await startHerald({ JWT_SECRET: '', JWKS_URL: jwks.url });
  });
  afterAll(async () => {
    await herald.stop();
    await jwks.stop();
  });

  it('accepts a token signed by a key of the set, named by kid', async () => {
    const viewer = await expectViewer(herald.httpUrl, await trusted.sign(claims()), audience);
    expect(viewer.subject).toBe('jwks-user');
    expect(jwks.fetches()).toBeGreaterThanOrEqual(1);
  });

  it('refuses a token signed by a key outside the set: 401 UNAUTHENTICATED', async () => {
    // Under its own kid (not in the set) and under the trusted kid (signature mismatch).
    expectRefused(await gql(herald.httpUrl, await stranger.sign(claims()), VIEWER), 401, 'UNAUTHENTICATED');
    expectRefused(await gql(herald.httpUrl, await stranger.sign(claims(), trusted.kid), VIEWER), 401, 'UNAUTHENTICATED');
  });

  it('refuses an HS256 token even when it names a kid of the set: 401 UNAUTHENTICATED', async () => {
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: trusted.kid }).sign(new TextEncoder().encode(TEST_SECRET));
    expectRefused(await gql(herald.httpUrl, hs, VIEWER), 401, 'UNAUTHENTICATED');
  });
});

describe('graphql-ws connection_init', () => {
  let herald: TestHerald;
  const audience = 'auth-ws';

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  // 4401 (graphql-ws's Unauthorized, which its client does not retry) with a reason saying what was wrong.
  it('closes a connection without a token with 4401 and says so', async () => {
    expect(await wsViewerOutcome(herald.wsUrl)).toEqual({ kind: 'closed', code: 4401, reason: 'a bearer token is required' });
    expect(await wsViewerOutcome(herald.wsUrl, {})).toMatchObject({ kind: 'closed', code: 4401, reason: 'a bearer token is required' });
  });

  it('closes a connection with a bad token with 4401 and the reason', async () => {
    expect(await wsViewerOutcome(herald.wsUrl, { token: 'garbage' })).toEqual({ kind: 'closed', code: 4401, reason: 'token is not a JWT' });
    expect(await wsViewerOutcome(herald.wsUrl, { authorization: 'Bearer garbage' })).toMatchObject({ kind: 'closed', code: 4401 });
    const forged = (await mintToken({ secret: WRONG_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 300 })).token;
    expect(await wsViewerOutcome(herald.wsUrl, { token: forged })).toMatchObject({ kind: 'closed', code: 4401, reason: expect.stringMatching(/signature/) });
    const none = unsignedToken({ aud: audience, scope: 'subscribe', exp: nowSeconds() + 300 });
    expect(await wsViewerOutcome(herald.wsUrl, { token: none })).toMatchObject({ kind: 'closed', code: 4401 });
    expect(await wsViewerOutcome(`${herald.wsUrl}?token=garbage`)).toMatchObject({ kind: 'closed', code: 4401 });
  });

  it('closes a connection with an expired token with 4401 "token expired"', async () => {
    const expired = await token({ audience, scopes: ['subscribe'], ttlSeconds: -5 });
    expect(await wsViewerOutcome(herald.wsUrl, { authorization: `Bearer ${expired}` })).toMatchObject({
      kind: 'closed',
      code: 4401,
      reason: expect.stringMatching(/expired/),
    });
  });

  it('accepts the token as connectionParams.authorization "Bearer …"', async () => {
    const bearer = await token({ audience, subject: 'by-authorization', scopes: ['subscribe'] });
    expect(await wsViewerOutcome(herald.wsUrl, { authorization: `Bearer ${bearer}` })).toEqual({
      kind: 'result',
      data: { viewer: { audience, subject: 'by-authorization' } },
      errors: undefined,
    });
  });

  it('accepts the token as connectionParams.token', async () => {
    const bearer = await token({ audience, subject: 'by-token-param', scopes: ['subscribe'] });
    expect(await wsViewerOutcome(herald.wsUrl, { token: bearer })).toEqual({
      kind: 'result',
      data: { viewer: { audience, subject: 'by-token-param' } },
      errors: undefined,
    });
  });

  // URLs end up in access logs: only a signSubscription token may ride there (sign-subscription.test.ts).
  it('refuses a long-lived token as ?token= in the URL with 4403 and says where it belongs', async () => {
    const bearer = await token({ audience, subject: 'by-url', scopes: ['subscribe'] });
    expect(await wsViewerOutcome(`${herald.wsUrl}?token=${encodeURIComponent(bearer)}`)).toEqual({
      kind: 'closed',
      code: 4403,
      reason: '?token= takes only signSubscription tokens; send this token in connectionParams',
    });
  });
});

describe('token expiry ends open subscriptions', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('closes a graphql-ws connection with 4401 "token expired" when exp passes', async () => {
    const audience = 'auth-expiry-ws';
    const publisher = await token({ audience, scopes: ['publish'] });
    const { token: shortLived, expiresAt } = await mintToken({ secret: TEST_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 2 });
    let closedWith: (event: { code: number; reason: string; at: number }) => void = () => {};
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => (closedWith = resolve));
    const client = wsClient(herald.wsUrl, {
      connectionParams: { authorization: `Bearer ${shortLived}` },
      on: {
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          closedWith({ code, reason, at: Date.now() });
        },
      },
    });
    const sub = subscribe(client, ON_TOPIC, { name: 'ticks' });
    await waitForSubscribers(herald.app, audience, 'ticks', 1);
    await expectPublished(herald.httpUrl, publisher, 'ticks', 'before exp', audience);
    expect((await sub.next()).data!.topic.payload).toBe('before exp');

    const event = await closed;
    expect({ code: event.code, reason: event.reason }).toEqual({ code: 4401, reason: 'token expired' });
    expect(event.at).toBeGreaterThanOrEqual(expiresAt.getTime());
    await waitForSubscribers(herald.app, audience, 'ticks', 0);
    await client.dispose();
  });

  // Regression guard: only the connection's 4401 close may end graphql-ws operations at exp. Any per-operation
  // timer (as subscription streams once had) would race it and, when it won, send `complete` first: the client
  // would see an ordinary completion with no reason to resubscribe. Operations opened one at a time would arm such
  // timers at different sub-millisecond phases, and a busy event loop across exp makes every timer due at once.
  it('ends every graphql-ws operation of an expiring connection with the 4401 close, never a plain complete', async () => {
    const audience = 'auth-expiry-ws-many';
    const { token: shortLived, expiresAt } = await mintToken({ secret: TEST_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 3 });
    const clients: Client[] = [];
    const subs: Subscription<Record<string, any>>[] = [];
    for (let c = 0; c < 10; c++) {
      const client = wsClient(herald.wsUrl, { connectionParams: { token: shortLived } });
      clients.push(client);
      for (let i = 0; i < 5; i++) {
        subs.push(subscribe(client, ON_TOPIC, { name: 'ticks' }));
        await waitForSubscribers(herald.app, audience, 'ticks', subs.length);
      }
    }
    // Load simulation, not synchronisation: the loop is blocked from just before exp until just after it.
    setTimeout(
      () => {
        const until = expiresAt.getTime() + 50;
        while (Date.now() < until);
      },
      Math.max(0, expiresAt.getTime() - Date.now() - 300),
    );
    const outcomes = await Promise.all(
      subs.map(async (sub) => {
        const { error } = await sub.ended;
        return error === undefined ? 'complete' : `closed ${(error as { code: number }).code}`;
      }),
    );
    expect(outcomes.filter((outcome) => outcome !== 'closed 4401')).toEqual([]);
    // eslint-disable-next-line @typescript-eslint/await-thenable -- graphql-ws's dispose returns a promise at run time
    await Promise.all(clients.map((client) => client.dispose()));
  });

  it('ends an SSE subscription stream when exp passes, saying why', async () => {
    const audience = 'auth-expiry-sse';
    const publisher = await token({ audience, scopes: ['publish'] });
    const { token: shortLived, expiresAt } = await mintToken({ secret: TEST_SECRET }, { audience, scopes: ['subscribe'], ttlSeconds: 2 });
    const stream = await openSse(herald.httpUrl, shortLived, ON_TOPIC, { name: 'ticks' });
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 'ticks', 1);
    await expectPublished(herald.httpUrl, publisher, 'ticks', 'before exp', audience);
    await stream.until((text) => sseNextPayloads(text).length === 1);
    expect(sseNextPayloads(stream.text())).toEqual([{ data: { topic: expect.objectContaining({ topic: 'ticks', audience, payload: 'before exp' }) } }]);

    const { text, at } = await stream.finished;
    expect(at).toBeGreaterThanOrEqual(expiresAt.getTime());
    expect(text).toMatch(/event: complete/);
    // The message before exp, then the stream's reason for ending.
    expect(sseNextPayloads(text)).toMatchObject([
      { data: { topic: { payload: 'before exp' } } },
      { errors: [{ message: expect.stringMatching(/^token expired/), extensions: { code: 'UNAUTHENTICATED' } }] },
    ]);
    await waitForSubscribers(herald.app, audience, 'ticks', 0);
  });
});

describe('scopes', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('refuses a graphql-ws subscription without SUBSCRIBE: a next with FORBIDDEN, then complete', async () => {
    const audience = 'auth-scope-ws';
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience, scopes: ['publish'] }) } });
    const sub = subscribe(client, ON_TOPIC, { name: 'a' });
    const first = await sub.next();
    expect(first.data ?? null).toBeNull();
    expect(first.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(first.errors?.[0]?.path).toEqual(['topic']);
    // graphql-ws completes the operation (no error sink call): the refusal is a result, not a protocol failure.
    expect(await sub.ended).toEqual({});
    expect(sub.received).toHaveLength(1);
    expect(herald.app.fanout.subscriberCount(audience, 'a')).toBe(0);
    await client.dispose();
  });

  it('refuses an SSE subscription without SUBSCRIBE: 403 and a FORBIDDEN next event', async () => {
    const audience = 'auth-scope-sse';
    const stream = await openSse(herald.httpUrl, await token({ audience, scopes: ['publish'] }), ON_TOPIC, { name: 'a' });
    const { text } = await stream.finished;
    expect(stream.status).toBe(403);
    const [event] = sseNextPayloads(text) as Array<{ errors?: Array<{ extensions?: { code?: string } }> }>;
    expect(event?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('refuses publish without PUBLISH: 403 FORBIDDEN', async () => {
    const subscriber = await token({ audience: 'auth-scope-publish', scopes: ['subscribe'] });
    expectRefused(await gql(herald.httpUrl, subscriber, PUBLISH, { topic: 'a', payload: 1 }), 403, 'FORBIDDEN');
    expectRefused(await gql(herald.httpUrl, subscriber, BROADCAST, { payload: 1 }), 403, 'FORBIDDEN');
  });

  const MANAGE_MUTATIONS = [
    { name: 'createTopic', query: 'mutation { createTopic(name: "managed") { name } }' },
    { name: 'deleteTopic', query: 'mutation { deleteTopic(name: "managed") }' },
    { name: 'createAudience', query: 'mutation { createAudience { name } }' },
    { name: 'signSubscription', query: 'mutation { signSubscription(topics: ["managed"], ttlSeconds: 60) { token url expiresAt } }' },
  ];

  it.each(MANAGE_MUTATIONS)('refuses $name without MANAGE: 403 FORBIDDEN (and allows it with MANAGE)', async ({ name, query }) => {
    const audience = `auth-scope-manage-${name}`;
    const noManage = await token({ audience, scopes: ['subscribe', 'publish', 'broadcast'] });
    expectRefused(await gql(herald.httpUrl, noManage, query), 403, 'FORBIDDEN');
    const manager = await token({ audience, scopes: ['manage'], ttlSeconds: 600 });
    const allowed = await gql(herald.httpUrl, manager, query);
    expect({ status: allowed.status, errors: allowed.errors }).toEqual({ status: 200, errors: undefined });
    expect(allowed.data![name]).not.toBeNull();
  });

  it('treats the notiflux word "broadcast" as publish', async () => {
    const audience = 'auth-scope-broadcast-word';
    const notiflux = await token({ audience, scopes: ['broadcast'] });
    expect((await expectViewer(herald.httpUrl, notiflux, audience)).scopes).toEqual(['PUBLISH']);
    await expectPublished(herald.httpUrl, notiflux, 'alerts', { level: 'high' }, audience);
    const broadcast = await gql(herald.httpUrl, notiflux, BROADCAST, { payload: 'all' });
    expect(broadcast.errors).toBeUndefined();
    expect(broadcast.data!.broadcast).toMatchObject({ topic: null, audience });
  });

  it('accepts the scope claim as an array of words', async () => {
    const audience = 'auth-scope-array';
    const arrayScope = await hs256Token(TEST_SECRET, { aud: audience, scope: ['publish', 'manage'], exp: nowSeconds() + 300 });
    expect((await expectViewer(herald.httpUrl, arrayScope, audience)).scopes).toEqual(['PUBLISH', 'MANAGE']);
  });

  it('gives a token without a scope claim the default scopes: subscribe only', async () => {
    const audience = 'auth-scope-default';
    const plain = await token({ audience });
    expect((await expectViewer(herald.httpUrl, plain, audience)).scopes).toEqual(['SUBSCRIBE']);
    expectRefused(await gql(herald.httpUrl, plain, PUBLISH, { topic: 'a', payload: 1 }), 403, 'FORBIDDEN');
    expectRefused(await gql(herald.httpUrl, plain, 'mutation { createAudience { name } }'), 403, 'FORBIDDEN');

    const client = wsClient(herald.wsUrl, { connectionParams: { token: plain } });
    const sub = subscribe(client, ON_TOPIC, { name: 'a' });
    await waitForSubscribers(herald.app, audience, 'a', 1);
    await expectPublished(herald.httpUrl, await token({ audience, scopes: ['publish'] }), 'a', 'hello', audience);
    expect((await sub.next()).data!.topic).toMatchObject({ topic: 'a', audience, payload: 'hello' });
    await client.dispose();
  });

  it('refuses a token with an unknown scope word: 401 UNAUTHENTICATED naming the word', async () => {
    const unknown = await token({ audience: 'auth-scope-unknown', scopes: ['subscribe', 'superuser'] });
    const refused = await gql(herald.httpUrl, unknown, VIEWER);
    expectRefused(refused, 401, 'UNAUTHENTICATED');
    expect(refused.errors?.[0]?.message).toBe('token scope "superuser" is not one of subscribe, publish, broadcast, manage');
    expect(await wsViewerOutcome(herald.wsUrl, { token: unknown })).toMatchObject({
      kind: 'closed',
      code: 4401,
      reason: 'token scope "superuser" is not one of subscribe, publish, broadcast, manage',
    });
  });

  it('names the offending element of a topics or scope claim', async () => {
    const claims = { aud: 'auth-claim-elements', exp: nowSeconds() + 300 };
    for (const [extra, message] of [
      [{ topics: ['ok', 'a b'] }, 'token topics[1] "a b" must be printable characters without whitespace'],
      [{ topics: ['x', 'y', 42] }, 'token topics[2] must be a topic name or pattern, got number'],
      [{ topics: ['a/***'] }, `token topics[0] "a/***" wildcards are '*' (one segment) and '**' (any segments)`],
      [{ scope: ['subscribe', 7] }, 'token scope[1] must be a word, got number'],
      [{ scope: 'subscribe publsh' }, 'token scope "publsh" is not one of subscribe, publish, broadcast, manage'],
    ] as const) {
      const refused = await gql(herald.httpUrl, await hs256Token(TEST_SECRET, { ...claims, ...extra }), VIEWER);
      expectRefused(refused, 401, 'UNAUTHENTICATED');
      expect(refused.errors?.[0]?.message).toBe(message);
    }
  });

  it('puts a token without aud in the default audience "default"', async () => {
    const noAudience = await token({ subject: 'no-aud', scopes: ['subscribe'] });
    const viewer = await expectViewer(herald.httpUrl, noAudience, 'default');
    expect(viewer.subject).toBe('no-aud');
  });
});

describe('DEFAULT_SCOPES and DEFAULT_AUDIENCE configured', () => {
  let herald: TestHerald;
  const fallback = 'auth-fallback-tenant';

  beforeAll(async () => {
    herald = await startHerald({ DEFAULT_SCOPES: 'subscribe publish', DEFAULT_AUDIENCE: fallback });
  });
  afterAll(() => herald.stop());

  it('lets a token without scope or aud subscribe and publish in the configured default audience', async () => {
    const plain = await token({ subject: 'plain' });
    expect(await expectViewer(herald.httpUrl, plain, fallback)).toEqual({
      subject: 'plain',
      audience: fallback,
      scopes: ['SUBSCRIBE', 'PUBLISH'],
      topics: null,
    });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: plain } });
    const sub = subscribe(client, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, fallback, 'news', 1);
    await expectPublished(herald.httpUrl, plain, 'news', 'from a scopeless token', fallback);
    expect((await sub.next()).data!.topic).toMatchObject({ topic: 'news', audience: fallback, payload: 'from a scopeless token' });
    // Defaults never include manage.
    expectRefused(await gql(herald.httpUrl, plain, 'mutation { createAudience { name } }'), 403, 'FORBIDDEN');
    await client.dispose();
  });

  it('still honours an explicit scope claim over the defaults', async () => {
    const subscribeOnly = await token({ subject: 'explicit', scopes: ['subscribe'] });
    expectRefused(await gql(herald.httpUrl, subscribeOnly, PUBLISH, { topic: 'news', payload: 1 }), 403, 'FORBIDDEN');
  });
});

describe('topics limit', () => {
  let herald: TestHerald;
  let limited: string;
  let unlimited: string;

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  const tokensFor = async (audience: string) => {
    limited = await token({ audience, subject: 'limited', scopes: ['subscribe', 'publish'], topics: ['orders/*'] });
    unlimited = await token({ audience, subject: 'unlimited', scopes: ['subscribe', 'publish', 'manage'] });
  };

  it('viewer.topics reflects the claim (null without one)', async () => {
    const audience = 'auth-limit-viewer';
    await tokensFor(audience);
    expect((await expectViewer(herald.httpUrl, limited, audience)).topics).toEqual(['orders/*']);
    expect((await expectViewer(herald.httpUrl, unlimited, audience)).topics).toBeNull();
  });

  it('publish: orders/1 allowed, billing/1 and orders/1/x 403 FORBIDDEN', async () => {
    const audience = 'auth-limit-publish';
    await tokensFor(audience);
    await expectPublished(herald.httpUrl, limited, 'orders/1', 'ok', audience);
    expectRefused(await gql(herald.httpUrl, limited, PUBLISH, { topic: 'billing/1', payload: 1 }), 403, 'FORBIDDEN');
    // `*` stays within one segment.
    expectRefused(await gql(herald.httpUrl, limited, PUBLISH, { topic: 'orders/1/x', payload: 1 }), 403, 'FORBIDDEN');
  });

  it('broadcast with a topics-limited publish token: 403 FORBIDDEN', async () => {
    const audience = 'auth-limit-broadcast';
    await tokensFor(audience);
    expectRefused(await gql(herald.httpUrl, limited, BROADCAST, { payload: 1 }), 403, 'FORBIDDEN');
    const allowed = await gql(herald.httpUrl, unlimited, BROADCAST, { payload: 1 });
    expect(allowed.errors).toBeUndefined();
  });

  it('subscribe: orders/1 delivers, billing/1 and billing/* are FORBIDDEN', async () => {
    const audience = 'auth-limit-subscribe';
    await tokensFor(audience);
    const client = wsClient(herald.wsUrl, { connectionParams: { token: limited } });
    const orders = subscribe(client, ON_TOPIC, { name: 'orders/1' });
    await waitForSubscribers(herald.app, audience, 'orders/1', 1);
    await expectPublished(herald.httpUrl, unlimited, 'orders/1', 'shipped', audience);
    expect((await orders.next()).data!.topic).toMatchObject({ topic: 'orders/1', payload: 'shipped' });

    for (const name of ['billing/1', 'billing/*']) {
      const refused = subscribe(client, ON_TOPIC, { name });
      const first = await refused.next();
      expect(first.data ?? null).toBeNull();
      expect(first.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
      expect(await refused.ended).toEqual({});
    }
    expect(herald.app.fanout.subscriberCount(audience, 'billing/1')).toBe(0);
    await client.dispose();
  });

  it("accepts '**' from a limited token but delivers only what the limit allows", async () => {
    const audience = 'auth-limit-globstar';
    await tokensFor(audience);
    const limitedClient = wsClient(herald.wsUrl, { connectionParams: { token: limited } });
    const unlimitedClient = wsClient(herald.wsUrl, { connectionParams: { token: unlimited } });
    const narrowed = subscribe(limitedClient, ON_TOPIC, { name: '**' });
    const control = subscribe(unlimitedClient, ON_TOPIC, { name: '**' });
    await waitForSubscribers(herald.app, audience, 'billing/1', 2);

    await expectPublished(herald.httpUrl, unlimited, 'billing/1', 'invoice', audience);
    await expectPublished(herald.httpUrl, unlimited, 'orders/1', 'order', audience);

    // The unlimited control proves billing/1 really went out first.
    expect((await control.next()).data!.topic).toMatchObject({ topic: 'billing/1', payload: 'invoice' });
    expect((await control.next()).data!.topic).toMatchObject({ topic: 'orders/1', payload: 'order' });
    expect((await narrowed.next()).data!.topic).toMatchObject({ topic: 'orders/1', payload: 'order' });
    expect(narrowed.received).toHaveLength(1);
    await limitedClient.dispose();
    await unlimitedClient.dispose();
  });

  it('the topics query lists only the declared topics the limit allows', async () => {
    const audience = 'auth-limit-topics-query';
    await tokensFor(audience);
    for (const name of ['orders/1', 'orders/2', 'orders/1/items', 'billing/1']) {
      const created = await gql(herald.httpUrl, unlimited, 'mutation ($name: String!) { createTopic(name: $name) { name } }', { name });
      expect(created.errors).toBeUndefined();
    }
    const names = async (bearer: string) => {
      const response = await gql(herald.httpUrl, bearer, '{ topics { name } }');
      expect(response.errors).toBeUndefined();
      return (response.data!.topics as Array<{ name: string }>).map((topic) => topic.name).sort();
    };
    expect(await names(limited)).toEqual(['orders/1', 'orders/2']);
    expect(await names(unlimited)).toEqual(['billing/1', 'orders/1', 'orders/1/items', 'orders/2']);
    const single = await gql(herald.httpUrl, limited, '{ allowed: topic(name: "orders/1") { name } hidden: topic(name: "billing/1") { name } }');
    expect(single.errors).toBeUndefined();
    expect(single.data).toEqual({ allowed: { name: 'orders/1' }, hidden: null });
  });
});

describe('audience isolation', () => {
  let herald: TestHerald;
  const a = 'auth-iso-a';
  const b = 'auth-iso-b';

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('delivers a topic message only to subscribers of its own audience', async () => {
    const [subA, subB, pubA, pubB] = await Promise.all([
      token({ audience: a, scopes: ['subscribe'] }),
      token({ audience: b, scopes: ['subscribe'] }),
      token({ audience: a, scopes: ['publish'] }),
      token({ audience: b, scopes: ['publish'] }),
    ]);
    const clientA = wsClient(herald.wsUrl, { connectionParams: { token: subA } });
    const clientB = wsClient(herald.wsUrl, { connectionParams: { token: subB } });
    const exactA = subscribe(clientA, ON_TOPIC, { name: 'shared/topic' });
    const everythingA = subscribe(clientA, ON_TOPIC, { name: '**' });
    const exactB = subscribe(clientB, ON_TOPIC, { name: 'shared/topic' });
    await waitForSubscribers(herald.app, a, 'shared/topic', 2);
    await waitForSubscribers(herald.app, b, 'shared/topic', 1);

    await expectPublished(herald.httpUrl, pubB, 'shared/topic', 'b1', b);
    await expectPublished(herald.httpUrl, pubA, 'shared/topic', 'a1', a);
    await expectPublished(herald.httpUrl, pubB, 'shared/topic', 'b2', b);

    // A's first message is A's own, so b1 never reached it; B's first two are b1, b2, so a1 never reached it.
    expect((await exactA.next()).data!.topic).toMatchObject({ audience: a, payload: 'a1' });
    expect((await everythingA.next()).data!.topic).toMatchObject({ audience: a, payload: 'a1' });
    expect((await exactB.next()).data!.topic).toMatchObject({ audience: b, payload: 'b1' });
    expect((await exactB.next()).data!.topic).toMatchObject({ audience: b, payload: 'b2' });
    await clientA.dispose();
    await clientB.dispose();
  });

  it('never delivers a broadcast across audiences', async () => {
    const [subA, subB, pubA, pubB] = await Promise.all([
      token({ audience: a, scopes: ['subscribe'] }),
      token({ audience: b, scopes: ['subscribe'] }),
      token({ audience: a, scopes: ['publish'] }),
      token({ audience: b, scopes: ['publish'] }),
    ]);
    const clientA = wsClient(herald.wsUrl, { connectionParams: { token: subA } });
    const clientB = wsClient(herald.wsUrl, { connectionParams: { token: subB } });
    const broadcastsA = subscribe(clientA, BROADCASTS);
    const broadcastsB = subscribe(clientB, BROADCASTS);
    await waitForSubscribers(herald.app, a, null, 1);
    await waitForSubscribers(herald.app, b, null, 1);

    for (const [bearer, payload] of [
      [pubB, 'b1'],
      [pubA, 'a1'],
      [pubB, 'b2'],
    ] as const) {
      const response = await gql(herald.httpUrl, bearer, BROADCAST, { payload });
      expect(response.errors).toBeUndefined();
    }

    expect((await broadcastsA.next()).data!.broadcasts).toMatchObject({ topic: null, audience: a, payload: 'a1' });
    expect((await broadcastsB.next()).data!.broadcasts).toMatchObject({ topic: null, audience: b, payload: 'b1' });
    expect((await broadcastsB.next()).data!.broadcasts).toMatchObject({ topic: null, audience: b, payload: 'b2' });
    await clientA.dispose();
    await clientB.dispose();
  });
});
