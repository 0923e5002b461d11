import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse } from './helpers/auth-fixtures.js';
import { courierToken, courierWsUrl, openCourier, upgradeRefusal } from './helpers/courier.js';
import { errorCode, gql, startHerald, TEST_SECRET, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

/**
 * revokeTokens, disconnect and connections on one instance, over every surface that holds a
 * connection: graphql-ws, GraphQL over SSE and courier's socket (notiflux's per-subscription tokens
 * end the same way, through the same Sessions: see the cluster suite).
 */

const ON_TOPIC = 'subscription On($name: String!) { topic(name: $name) { topic payload } }';
const REVOKE =
  'mutation Revoke($subject: String, $jti: String, $issuedBefore: DateTime, $reason: String) { revokeTokens(subject: $subject, jti: $jti, issuedBefore: $issuedBefore, reason: $reason) { audience subject jti reason issuedBefore expiresAt connectionsClosed } }';
const DISCONNECT = 'mutation Cut($subject: String!, $reason: String) { disconnect(subject: $subject, reason: $reason) }';
const CONNECTIONS = 'query Count($subject: String) { connections(subject: $subject) }';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A token with exactly these claims (jti, sub, iat as given), subscribe and publish, 5 minutes. */
const jwt = (claims: { aud: string; sub?: string; jti?: string; iat?: number }): Promise<string> =>
  courierToken(TEST_SECRET, { scope: 'subscribe publish', iat: nowSeconds(), ...claims });

const manager = (audience: string): Promise<string> => token({ audience, subject: 'ops', scopes: ['manage'] });

let dataDir: string;
let herald: TestHerald;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'herald-revoke-'));
  herald = await startHerald({ DATABASE_URL: join(dataDir, 'herald.db') });
});
afterAll(async () => {
  await herald.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A graphql-ws subscription on `bearer`'s connection, resolved once the server counts it. */
async function wsSubscription(bearer: string, audience: string, topic: string) {
  let closedWith: (event: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (closedWith = resolve));
  const client = wsClient(herald.wsUrl, {
    connectionParams: { token: bearer },
    on: { closed: (event) => closedWith({ code: (event as CloseEvent).code, reason: (event as CloseEvent).reason }) },
  });
  const before = herald.app.fanout.subscriberCount(audience, topic);
  const sub = subscribe(client, ON_TOPIC, { name: topic });
  await waitForSubscribers(herald.app, audience, topic, before + 1);
  return { client, sub, closed };
}

async function publish(audience: string, topic: string, payload: unknown): Promise<void> {
  const response = await gql(
    herald.httpUrl,
    await token({ audience, scopes: ['publish'] }),
    'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }',
    {
      t: topic,
      p: payload,
    },
  );
  expect(response.errors).toBeUndefined();
}

describe('revokeTokens', () => {
  it('by jti: closes every connection the token opened, on each surface, and refuses it from then on', async () => {
    const audience = 'revoke-jti';
    const leaked = await jwt({ aud: audience, sub: 'ann', jti: 'leaked-1' });
    const other = await jwt({ aud: audience, sub: 'ann', jti: 'fine-2' });
    const ws = await wsSubscription(leaked, audience, 'news');
    const sse = await openSse(herald.httpUrl, leaked, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, audience, 'news', 2);
    const courier = await openCourier(courierWsUrl(herald.baseUrl, leaked));
    const kept = await wsSubscription(other, audience, 'news');

    const manage = await manager(audience);
    expect((await gql(herald.httpUrl, manage, CONNECTIONS, { subject: 'ann' })).data).toEqual({ connections: 4 });

    const revoked = await gql(herald.httpUrl, manage, REVOKE, { jti: 'leaked-1', reason: 'leaked in a log' });
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data?.revokeTokens).toMatchObject({ audience, jti: 'leaked-1', subject: null, reason: 'leaked in a log', connectionsClosed: 3 });

    expect(await ws.closed).toEqual({ code: 4403, reason: 'token revoked: leaked in a log' });
    expect(await courier.closed).toEqual({ code: 4403, reason: 'token revoked: leaked in a log' });
    const { text } = await sse.finished;
    expect(text).toContain('"reason":"revoked"');
    expect(text).toContain('token revoked: leaked in a log');

    // The other token of the same subject goes on.
    await publish(audience, 'news', 'still here');
    expect((await kept.sub.next()).data).toEqual({ topic: { topic: 'news', payload: 'still here' } });
    expect((await gql(herald.httpUrl, manage, CONNECTIONS, { subject: 'ann' })).data).toEqual({ connections: 1 });

    // Refused everywhere from now on, as UNAUTHENTICATED with reason "revoked".
    const http = await gql(herald.httpUrl, leaked, '{ viewer { subject } }');
    expect(http.status).toBe(401);
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'revoked' });
    const again = wsClient(herald.wsUrl, { connectionParams: { token: leaked } });
    const { error } = await subscribe(again, ON_TOPIC, { name: 'elsewhere' }).ended;
    expect({ code: (error as CloseEvent).code, reason: (error as CloseEvent).reason }).toEqual({ code: 4401, reason: 'token revoked: leaked in a log' });
    expect((await upgradeRefusal(courierWsUrl(herald.baseUrl, leaked))).status).toBe(403);
    await kept.client.dispose();
  });

  it('by subject: tokens issued before issuedBefore are revoked, a token issued after still works', async () => {
    const audience = 'revoke-subject';
    const old = await jwt({ aud: audience, sub: 'bob', iat: nowSeconds() - 60 });
    const ws = await wsSubscription(old, audience, 'feed');
    const manage = await manager(audience);
    const revoked = await gql(herald.httpUrl, manage, REVOKE, { subject: 'bob', issuedBefore: new Date(Date.now() - 1_000).toISOString() });
    expect(revoked.data?.revokeTokens).toMatchObject({ subject: 'bob', jti: null, reason: 'revoked', connectionsClosed: 1 });
    expect(await ws.closed).toEqual({ code: 4403, reason: 'token revoked: revoked' });

    const fresh = await jwt({ aud: audience, sub: 'bob', iat: nowSeconds() + 1 });
    const viewer = await gql(herald.httpUrl, fresh, '{ viewer { subject } }');
    expect(viewer.data).toEqual({ viewer: { subject: 'bob' } });
    expect(errorCode(await gql(herald.httpUrl, old, '{ viewer { subject } }'))).toBe('UNAUTHENTICATED');
  });

  it('is refused without MANAGE, with both or neither of jti and subject, and with a future issuedBefore', async () => {
    const audience = 'revoke-input';
    const manage = await manager(audience);
    expect(errorCode(await gql(herald.httpUrl, await token({ audience, scopes: ['publish'] }), REVOKE, { jti: 'x' }))).toBe('FORBIDDEN');
    expect(errorCode(await gql(herald.httpUrl, manage, REVOKE, {}))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(herald.httpUrl, manage, REVOKE, { jti: 'x', subject: 'y' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(herald.httpUrl, manage, REVOKE, { jti: 'x', issuedBefore: new Date().toISOString() }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(herald.httpUrl, manage, REVOKE, { subject: 'y', issuedBefore: new Date(Date.now() + 60_000).toISOString() }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await gql(herald.httpUrl, manage, REVOKE, { subject: 'y', reason: 'x'.repeat(101) }))).toBe('BAD_USER_INPUT');
  });

  it('stays in force across a restart (stored)', async () => {
    const audience = 'revoke-restart';
    const victim = await jwt({ aud: audience, sub: 'cat', jti: 'stored-1' });
    expect((await gql(herald.httpUrl, await manager(audience), REVOKE, { jti: 'stored-1' })).errors).toBeUndefined();
    await herald.stop();
    herald = await startHerald({ DATABASE_URL: join(dataDir, 'herald.db') });
    expect((await gql(herald.httpUrl, victim, '{ viewer { subject } }')).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'revoked' });
  });
});

describe('disconnect and connections', () => {
  it("closes a subject's connections without revoking, and counts only the caller's audience", async () => {
    const audience = 'cut-here';
    const bearer = await jwt({ aud: audience, sub: 'dan' });
    const first = await wsSubscription(bearer, audience, 'a');
    const second = await wsSubscription(bearer, audience, 'b');
    const bystander = await wsSubscription(await jwt({ aud: audience, sub: 'eve' }), audience, 'a');
    const elsewhere = await wsSubscription(await jwt({ aud: 'cut-elsewhere', sub: 'dan' }), 'cut-elsewhere', 'a');

    // Another audience's MANAGE token sees and cuts nothing here.
    const foreign = await manager('cut-elsewhere');
    expect((await gql(herald.httpUrl, foreign, CONNECTIONS, { subject: 'eve' })).data).toEqual({ connections: 0 });
    expect((await gql(herald.httpUrl, await manager('cut-nobody'), DISCONNECT, { subject: 'dan' })).data).toEqual({ disconnect: 0 });
    expect(errorCode(await gql(herald.httpUrl, await manager('cut-nobody'), REVOKE, { subject: 'eve' }))).toBeUndefined();

    const manage = await manager(audience);
    expect((await gql(herald.httpUrl, manage, CONNECTIONS, {})).data).toEqual({ connections: 3 });
    expect((await gql(herald.httpUrl, manage, DISCONNECT, { subject: 'dan', reason: 'maintenance' })).data).toEqual({ disconnect: 2 });
    for (const cut of [first, second]) expect(await cut.closed).toEqual({ code: 4010, reason: 'disconnected: maintenance' });
    expect((await gql(herald.httpUrl, manage, CONNECTIONS, { subject: 'dan' })).data).toEqual({ connections: 0 });

    // Not revoked: dan may connect again; eve here and dan in the other audience were never touched.
    const back = await wsSubscription(bearer, audience, 'a');
    await publish(audience, 'a', 'after the cut');
    expect((await back.sub.next()).data).toEqual({ topic: { topic: 'a', payload: 'after the cut' } });
    expect((await bystander.sub.next()).data).toEqual({ topic: { topic: 'a', payload: 'after the cut' } });
    await publish('cut-elsewhere', 'a', 'untouched');
    expect((await elsewhere.sub.next()).data).toEqual({ topic: { topic: 'a', payload: 'untouched' } });
    for (const open of [back, bystander, elsewhere]) await open.client.dispose();
  });
});
