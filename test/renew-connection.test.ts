import { ApolloClient, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, subscriptionExchange } from '@urql/core';
import { parse } from 'graphql';
import { type Client } from 'graphql-ws';
import { createClient as createHeraldClient } from 'herald/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/mint-token.js';
import { SIGNED_SUBSCRIPTION_ISSUER } from '../src/auth/verify-token.js';
import { errorCode, gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { openSse } from './helpers/auth-fixtures.js';
import { subscribe } from './helpers/subscription.js';
import { until } from './helpers/until.js';

/**
 * renewConnection over a real graphql-ws socket: the connection takes the new credential (its expiry,
 * its later operations, its open subscriptions) without closing, or refuses it and keeps the old one.
 */

const SIGNING_SECRET = 'herald-test-signing-secret-0123456789';
let herald: TestHerald;

beforeAll(async () => {
  herald = await startHerald({ SIGNING_SECRET });
});
afterAll(() => herald.stop());

const RENEW = 'mutation Renew($token: String!) { renewConnection(token: $token) { subject audience topics expiresAt } }';
const ON_TOPIC = 'subscription On($name: String!) { topic(name: $name) { topic payload } }';

/** A graphql-ws client that counts the sockets it opened and reports how each closed. */
function trackedClient(bearer: string): { client: Client; opened: () => number; closes: { code: number; reason: string }[] } {
  let opened = 0;
  const closes: { code: number; reason: string }[] = [];
  const client = wsClient(herald.wsUrl, {
    connectionParams: { authorization: `Bearer ${bearer}` },
    on: {
      connected: () => {
        opened++;
      },
      closed: (event) => void closes.push({ code: (event as CloseEvent).code, reason: (event as CloseEvent).reason }),
    },
  });
  return { client, opened: () => opened, closes };
}

/** One operation's result over the client's socket. */
function run(client: Client, query: string, variables?: Record<string, unknown>): Promise<{ data?: Record<string, any>; errors?: any[] }> {
  return new Promise((resolve, reject) => {
    let result: { data?: Record<string, any>; errors?: any[] } = {};
    client.subscribe(
      { query, variables },
      { next: (value) => void (result = value as never), error: (errors) => resolve({ errors: errors as any[] }), complete: () => resolve(result) },
    );
    setTimeout(() => reject(new Error(`no answer to ${query}`)), 10_000).unref();
  });
}

async function publish(audience: string, topic: string, payload: unknown): Promise<void> {
  const response = await gql(
    herald.httpUrl,
    await token({ audience, scopes: ['publish'] }),
    'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }',
    { t: topic, p: payload },
  );
  expect(response.errors).toBeUndefined();
}

describe('renewConnection', () => {
  it('keeps the socket and its subscriptions past the old exp, and arms expiry from the new token', async () => {
    const audience = 'renew-keeps';
    const first = await token({ audience, subject: 'ada', scopes: ['subscribe'], ttlSeconds: 2 });
    const oldExp = Date.now() + 2_000;
    const { client, opened, closes } = trackedClient(first);
    const sub = subscribe(client, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, audience, 'news');

    const renewed = await run(client, RENEW, { token: await token({ audience, subject: 'ada', scopes: ['subscribe'], ttlSeconds: 4 }) });
    expect(renewed.errors).toBeUndefined();
    expect(renewed.data?.renewConnection).toMatchObject({ subject: 'ada', audience, topics: null });

    // Past the first token's exp the connection is still open and still delivering.
    await until(() => Date.now() > oldExp + 300, 'the first token to expire');
    await publish(audience, 'news', { n: 1 });
    expect((await sub.next()).data).toEqual({ topic: { topic: 'news', payload: { n: 1 } } });
    expect(closes).toEqual([]);
    expect(opened()).toBe(1);

    // The renewed token's own exp closes it as any expiry does.
    const { error } = await sub.ended;
    expect(error).toMatchObject({ code: 4401, reason: 'token expired' });
    expect(opened()).toBe(1);
    await client.dispose();
  });

  it('ends exactly the subscriptions the new token no longer allows, with FORBIDDEN', async () => {
    const audience = 'renew-narrows';
    const { client } = trackedClient(await token({ audience, subject: 'bo', scopes: ['subscribe'] }));
    const kept = subscribe(client, ON_TOPIC, { name: 'a' });
    const dropped = subscribe(client, ON_TOPIC, { name: 'b' });
    const patternDropped = subscribe(client, ON_TOPIC, { name: 'c/*' });
    const patternNarrowed = subscribe(client, ON_TOPIC, { name: 'p/*' });
    await waitForSubscribers(herald.app, audience, 'a');
    await waitForSubscribers(herald.app, audience, 'b');
    await waitForSubscribers(herald.app, audience, 'c/x');
    await waitForSubscribers(herald.app, audience, 'p/x');

    const renewed = await run(client, RENEW, { token: await token({ audience, subject: 'bo', scopes: ['subscribe'], topics: ['a', 'p/x'] }) });
    expect(renewed.data?.renewConnection.topics).toEqual(['a', 'p/x']);

    for (const ended of [dropped, patternDropped]) {
      const { error } = await ended.ended;
      expect((error as any[])[0].extensions.code).toBe('FORBIDDEN');
    }
    // The pattern goes on, filtered by the new limit: p/y is no longer delivered, p/x is.
    await publish(audience, 'p/y', 'hidden');
    await publish(audience, 'p/x', 'shown');
    await publish(audience, 'a', 'still');
    expect((await patternNarrowed.next()).data).toEqual({ topic: { topic: 'p/x', payload: 'shown' } });
    expect((await kept.next()).data).toEqual({ topic: { topic: 'a', payload: 'still' } });
    expect(patternNarrowed.received).toHaveLength(1);
    expect(dropped.received).toEqual([]);

    // Later operations run under the new credential.
    const refused = await run(client, ON_TOPIC, { name: 'b' });
    expect(refused.errors?.[0].extensions.code).toBe('FORBIDDEN');
    await client.dispose();
  });

  it('refuses another audience, another subject, an expired or bad token, and keeps the old credential', async () => {
    const audience = 'renew-refuses';
    const { client, opened, closes } = trackedClient(await token({ audience, subject: 'cy', scopes: ['subscribe'] }));
    const sub = subscribe(client, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, audience, 'news');

    const cases: [string, string][] = [
      [await token({ audience: 'renew-elsewhere', subject: 'cy', scopes: ['subscribe'] }), 'FORBIDDEN'],
      [await token({ audience, subject: 'someone-else', scopes: ['subscribe'] }), 'FORBIDDEN'],
      [await token({ audience, subject: 'cy', scopes: ['subscribe'], ttlSeconds: -10 }), 'UNAUTHENTICATED'],
      ['not-a-jwt', 'UNAUTHENTICATED'],
    ];
    for (const [bad, code] of cases) {
      const refused = await run(client, RENEW, { token: bad });
      expect(refused.errors?.[0].extensions.code, bad).toBe(code);
    }
    const viewer = await run(client, '{ viewer { audience subject } }');
    expect(viewer.data).toEqual({ viewer: { audience, subject: 'cy' } });
    await publish(audience, 'news', 'after refusals');
    expect((await sub.next()).data).toEqual({ topic: { topic: 'news', payload: 'after refusals' } });
    expect({ opened: opened(), closes }).toEqual({ opened: 1, closes: [] });
    await client.dispose();
  });

  it('renews a signSubscription connection only into another subscribe-only token', async () => {
    const audience = 'renew-signed';
    const signed = async (): Promise<string> =>
      (await mintToken({ secret: SIGNING_SECRET }, { audience, topics: ['s'], issuer: SIGNED_SUBSCRIPTION_ISSUER, ttlSeconds: 60 })).token;
    const { client } = trackedClient(await signed());
    const full = await run(client, RENEW, { token: await token({ audience, scopes: ['subscribe', 'publish'] }) });
    expect(full.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const again = await run(client, RENEW, { token: await signed() });
    expect(again.errors).toBeUndefined();
    expect(again.data?.renewConnection.topics).toEqual(['s']);
    await client.dispose();
  });

  it('is BAD_REQUEST over HTTP and SSE, where there is no connection to renew', async () => {
    const bearer = await token({ audience: 'renew-http', subject: 'dee' });
    const response = await gql(herald.httpUrl, bearer, RENEW, { token: bearer });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
    const sse = await openSse(herald.httpUrl, bearer, RENEW, { token: bearer });
    const { text } = await sse.finished;
    expect(text).toContain('"code":"BAD_REQUEST"');
  });

  it('renews from Apollo Client over the same socket', async () => {
    const audience = 'renew-apollo';
    const { client: ws, opened, closes } = trackedClient(await token({ audience, subject: 'eve', scopes: ['subscribe'], ttlSeconds: 2 }));
    const apollo = new ApolloClient({ link: new GraphQLWsLink(ws), cache: new InMemoryCache() });
    const received: unknown[] = [];
    const subscription = apollo
      .subscribe({ query: apolloGql(ON_TOPIC), variables: { name: 'feed' } })
      .subscribe({ next: (result) => received.push(result.data) });
    await waitForSubscribers(herald.app, audience, 'feed');

    const oldExp = Date.now() + 2_000;
    const result = await apollo.mutate({
      mutation: apolloGql(RENEW),
      variables: { token: await token({ audience, subject: 'eve', scopes: ['subscribe'] }) },
    });
    expect(result.data).toMatchObject({ renewConnection: { subject: 'eve' } });

    await until(() => Date.now() > oldExp + 300, 'the first token to expire');
    await publish(audience, 'feed', 'late');
    await until(() => received.length === 1, 'the message after the old exp');
    expect(received).toMatchObject([{ topic: { topic: 'feed', payload: 'late' } }]);
    expect({ opened: opened(), closes }).toEqual({ opened: 1, closes: [] });
    subscription.unsubscribe();
    await ws.dispose();
  });

  it('herald/client renews by itself before exp, under urql, on one socket', async () => {
    const audience = 'renew-client';
    let minted = 0;
    let opened = 0;
    const closes: number[] = [];
    const renewalErrors: unknown[] = [];
    const client = createHeraldClient({
      url: herald.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      token: () => {
        minted++;
        return token({ audience, subject: 'fay', scopes: ['subscribe'], ttlSeconds: 2 });
      },
      onRenewalError: (error) => renewalErrors.push(error),
      on: {
        connected: () => {
          opened++;
        },
        closed: (event) => {
          closes.push((event as CloseEvent).code);
        },
      },
    });
    const urql = new UrqlClient({
      url: herald.httpUrl,
      exchanges: [
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? '' }, sink) }),
          }),
        }),
      ],
    });
    const got: unknown[] = [];
    const subscription = urql
      .subscription<{ topic: { payload: unknown } }>(parse('subscription On($name: String!) { topic(name: $name) { id topic payload } }'), { name: 'alerts' })
      .subscribe((result) => {
        if (result.data !== undefined) got.push(result.data.topic.payload);
      });
    await waitForSubscribers(herald.app, audience, 'alerts');
    const firstExp = Date.now() + 2_000;

    // Two renewals in band: the socket outlives two 2-second tokens.
    await until(() => minted >= 3 && Date.now() > firstExp + 300, 'two renewals and the first token to expire');
    await publish(audience, 'alerts', 'after renewals');
    await until(() => got.length === 1, 'the message after renewals');
    expect(got).toEqual(['after renewals']);
    expect({ opened, closes, renewalErrors }).toEqual({ opened: 1, closes: [], renewalErrors: [] });
    subscription.unsubscribe();
    await client.dispose();
  });
});
