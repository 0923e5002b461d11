import { execFile } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { gql, startHerald, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { startHeraldProcess } from './helpers/herald-process.js';
import { redisAvailable, startPrivateRedis, uniquePrefix } from './helpers/redis.js';
import { until } from './helpers/until.js';
import { openSse } from './helpers/sse.js';
import { connectNotiflux, makeOpensslKeyPair, notifluxWsUrl as wsUrlOf, type RawClient } from './helpers/notiflux.js';
import { subscribe } from './helpers/subscription.js';

/**
 * Conformance of the notiflux surface (contract/compat.md §B), spoken as notiflux's deployed clients
 * and publishers speak it: a plain `ws` WebSocket sending text commands, fetch for POST /broadcast,
 * and tokens made the way notiflux's users made them (an openssl P-256 key, ES256, no `aud`). Nothing
 * of Herald runs on the client side; the server side is observed through its fan-out registry only
 * to know when a subscription is in place (pub/sub has no acknowledgement).
 */

const DEFAULT_AUDIENCE = 'default';
const INVALID_SUBSCRIBE = 'Invalid subscribe command, it should be: /subscribe <topic> <token>';
const UNKNOWN_COMMAND = 'Unknown command';
const HERALD_BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

let keyDir: string;
let privateKey: KeyObject;
let publicKeyB64: string;
let otherKey: KeyObject;

/** An ES256 token with exactly these claims (notiflux's: sub, exp, topics, scope; no aud unless given). */
const sign = (claims: Record<string, unknown>, key: KeyObject = privateKey): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(key);

/** A token as notiflux's users made them. */
const notifluxToken = (scope: 'subscribe' | 'broadcast', topics: string[], ttlSeconds = 300): Promise<string> =>
  sign({ sub: 'notiflux', exp: nowSeconds() + ttlSeconds, topics, scope });

beforeAll(() => {
  // Once for the whole file, exactly as notiflux's README says to make the pair.
  keyDir = mkdtempSync(join(tmpdir(), 'herald-notiflux-'));
  ({ privateKey, publicKeyB64 } = makeOpensslKeyPair(keyDir));
  otherKey = makeOpensslKeyPair(keyDir, 'other').privateKey;
});
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

/** A Herald that knows only the notiflux key (no JWT_SECRET). */
const startNotifluxHerald = (env: Record<string, string> = {}): Promise<TestHerald> =>
  startHerald({ JWT_SECRET: '', JWT_PUBLIC_KEY_B64: publicKeyB64, ...env });

/** Asserts that `client` sent no reply so far: a known command's answer is the next frame. */
async function expectNoReply(client: RawClient): Promise<void> {
  client.send('/not-a-command');
  expect(await client.next()).toBe(UNKNOWN_COMMAND);
}

interface BroadcastResponse {
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
  readonly contentType: string | null;
}

/** POST /broadcast with `body` as is (a string) or as JSON. */
async function postBroadcast(
  herald: { baseUrl: string },
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<BroadcastResponse> {
  const response = await fetch(`${herald.baseUrl}/broadcast`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, contentType: response.headers.get('content-type') };
}

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { topic payload } }';

describe('notiflux surface', () => {
  let herald: TestHerald;
  let broadcaster: (topics: string[]) => Promise<string>;

  beforeAll(async () => {
    herald = await startNotifluxHerald({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '3', MAX_BUFFERED_BYTES: '65536' });
    broadcaster = (topics) => notifluxToken('broadcast', topics);
  });
  afterAll(() => herald.stop());

  /** A subscribed raw client, returned once the server has registered the subscription. */
  async function subscribed(topic: string, token?: string, audience = DEFAULT_AUDIENCE): Promise<RawClient> {
    const client = await connectNotiflux(wsUrlOf(herald));
    const before = herald.app.fanout.subscriberCount(audience, topic);
    client.send(`/subscribe ${topic} ${token ?? (await notifluxToken('subscribe', [topic]))}`);
    await waitForSubscribers(herald.app, audience, topic, before + 1);
    return client;
  }

  const broadcastOk = async (topic: string, message: unknown): Promise<void> => {
    const response = await postBroadcast(herald, { topic, message, token: await broadcaster([topic]) });
    expect(response.status).toBe(200);
  };

  describe('WebSocket /ws: commands', () => {
    it('subscribes with /subscribe <topic> <token> in the default audience, says nothing on success, and delivers a string message as the bare string', async () => {
      const client = await subscribed('campaign:1');
      await expectNoReply(client);
      await broadcastOk('campaign:1', 'hello there');
      expect(await client.next()).toBe('hello there');
      await client.close();
    });

    it('trims frames and reads arguments separated by any whitespace', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send(`  \t/subscribe   trimmed\t${await notifluxToken('subscribe', ['trimmed'])}  \n`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'trimmed');
      await broadcastOk('trimmed', 'ok');
      expect(await client.next()).toBe('ok');
      await client.close();
    });

    it("answers a /subscribe with the wrong number of arguments with notiflux's text, and the socket goes on", async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      const token = await notifluxToken('subscribe', ['arity']);
      for (const bad of ['/subscribe', '/subscribe arity', `/subscribe arity ${token} extra`]) {
        client.send(bad);
        expect(await client.next()).toBe(INVALID_SUBSCRIBE);
      }
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'arity')).toBe(0);
      client.send(`/subscribe arity ${token}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'arity');
      await broadcastOk('arity', 'after the bad ones');
      expect(await client.next()).toBe('after the bad ones');
      await client.close();
    });

    it('answers an unknown command with "Unknown command", and wrong-arity unsubscribes with their usage', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      for (const bad of ['/publish x y', '/SUBSCRIBE a b', '/', '/help']) {
        client.send(bad);
        expect(await client.next()).toBe(UNKNOWN_COMMAND);
      }
      client.send('/unsubscribe');
      expect(await client.next()).toBe('Invalid unsubscribe command, it should be: /unsubscribe <topic>');
      client.send('/unsubscribe a b');
      expect(await client.next()).toBe('Invalid unsubscribe command, it should be: /unsubscribe <topic>');
      client.send('/unsubscribe-all now');
      expect(await client.next()).toBe('Invalid unsubscribe-all command, it should be: /unsubscribe-all');
      client.send(`/subscribe after-unknown ${await notifluxToken('subscribe', ['after-unknown'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'after-unknown');
      await broadcastOk('after-unknown', 'still here');
      expect(await client.next()).toBe('still here');
      await client.close();
    });

    it('ignores text that is not a command, and binary frames, without a reply (as notiflux did)', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send('hello');
      client.send('   ');
      client.send('{"action":"subscribe","topic":"x"}');
      client.ws.send(Buffer.from('/subscribe x y'), { binary: true });
      await expectNoReply(client);
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      await client.close();
    });

    it('/unsubscribe <topic> ends that subscription only; unsubscribing a topic never subscribed says nothing', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send(`/subscribe unsub-a ${await notifluxToken('subscribe', ['unsub-a', 'unsub-b'])}`);
      client.send(`/subscribe unsub-b ${await notifluxToken('subscribe', ['unsub-b'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'unsub-a');
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'unsub-b');
      client.send('/unsubscribe unsub-a');
      client.send('/unsubscribe never-subscribed');
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'unsub-a', 0);
      await broadcastOk('unsub-a', 'not for you');
      await broadcastOk('unsub-b', 'for you');
      expect(await client.next()).toBe('for you');
      await expectNoReply(client);
      await client.close();
    });

    it('/unsubscribe-all ends every subscription of the connection, which can subscribe again', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      const token = await notifluxToken('subscribe', ['all-a', 'all-b']);
      client.send(`/subscribe all-a ${token}`);
      client.send(`/subscribe all-b ${token}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'all-a');
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'all-b');
      client.send('/unsubscribe-all');
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'all-a', 0);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'all-b', 0);
      await broadcastOk('all-a', 'gone');
      client.send(`/subscribe all-b ${token}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'all-b');
      await broadcastOk('all-b', 'back');
      expect(await client.next()).toBe('back');
      await client.close();
    });

    it('subscribing twice to a topic is one subscription (one copy per message)', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      const token = await notifluxToken('subscribe', ['twice']);
      client.send(`/subscribe twice ${token}`);
      client.send(`/subscribe twice ${token}`);
      await expectNoReply(client);
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'twice')).toBe(1);
      await broadcastOk('twice', 'one');
      await broadcastOk('twice', 'two');
      expect(await client.next()).toBe('one');
      expect(await client.next()).toBe('two');
      await expectNoReply(client);
      await client.close();
    });

    it('ends the subscriptions of a socket that closes', async () => {
      const client = await subscribed('closing');
      await client.close();
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'closing', 0);
    });
  });

  describe('WebSocket /ws: refused subscriptions answer "Error:" with the reason and the socket stays usable', () => {
    const cases: Array<{ name: string; topic: string; token: () => Promise<string>; reply: RegExp }> = [
      {
        name: 'not a JWT',
        topic: 'refused',
        token: async () => 'not-a-jwt',
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token is not a JWT$/,
      },
      {
        name: 'signed by another key',
        topic: 'refused',
        token: () => sign({ sub: 'x', exp: nowSeconds() + 60, topics: ['refused'], scope: 'subscribe' }, otherKey),
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token signature is invalid$/,
      },
      {
        name: 'HS256 while only the ES256 key is configured',
        topic: 'refused',
        token: () =>
          new SignJWT({ exp: nowSeconds() + 60, topics: ['refused'], scope: 'subscribe' })
            .setProtectedHeader({ alg: 'HS256' })
            .sign(new TextEncoder().encode('x'.repeat(32))),
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token algorithm HS256 is not accepted$/,
      },
      {
        name: 'expired',
        topic: 'refused',
        token: () => sign({ sub: 'x', exp: nowSeconds() - 5, topics: ['refused'], scope: 'subscribe' }),
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token expired$/,
      },
      {
        name: 'without exp',
        topic: 'refused',
        token: () => sign({ sub: 'x', topics: ['refused'], scope: 'subscribe' }),
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token exp claim check failed$/,
      },
      {
        name: 'broadcast scope only',
        topic: 'refused',
        token: () => notifluxToken('broadcast', ['refused']),
        reply: /^Error: FORBIDDEN: cannot subscribe to "refused": this needs the subscribe scope$/,
      },
      {
        name: 'topic not listed',
        topic: 'refused',
        token: () => notifluxToken('subscribe', ['other']),
        reply: /^Error: FORBIDDEN: cannot subscribe to "refused": the token's topics do not include "refused"$/,
      },
      {
        name: 'unknown scope word',
        topic: 'refused',
        token: () => sign({ sub: 'x', exp: nowSeconds() + 60, topics: ['refused'], scope: 'join' }),
        reply: /^Error: UNAUTHENTICATED: cannot subscribe to "refused": token scope "join" is not one of subscribe, publish, broadcast, manage$/,
      },
      {
        name: 'not a topic name',
        topic: 'x'.repeat(300),
        token: () => notifluxToken('subscribe', ['x'.repeat(256)]),
        reply: /^Error: BAD_USER_INPUT: cannot subscribe to "x{61}\.\.\.": topic "x{61}\.\.\." must be 1 to 256 characters$/,
      },
    ];

    it.each(cases)('$name', async ({ topic, token, reply }) => {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send(`/subscribe ${topic} ${await token()}`);
      expect(await client.next()).toMatch(reply);
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, topic)).toBe(0);
      // The good one after it, on the same socket.
      client.send(`/subscribe after-refusal ${await notifluxToken('subscribe', ['after-refusal'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'after-refusal');
      await broadcastOk('after-refusal', 'served');
      expect(await client.next()).toBe('served');
      await client.close();
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'after-refusal', 0);
    });

    it('answers in command order even when refusals and successes are pipelined', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      const good = await notifluxToken('subscribe', ['order-1', 'order-2']);
      client.send(`/subscribe order-1 ${good}`);
      client.send('/subscribe order-x not-a-jwt');
      client.send('/subscribe order-2');
      client.send(`/subscribe order-2 ${good}`);
      client.send('/unsubscribe order-1');
      client.send('/nope');
      expect(await client.next()).toMatch(/^Error: UNAUTHENTICATED: cannot subscribe to "order-x"/);
      expect(await client.next()).toBe(INVALID_SUBSCRIBE);
      expect(await client.next()).toBe(UNKNOWN_COMMAND);
      // The /unsubscribe sent right after the (asynchronous) /subscribe still came second.
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'order-1')).toBe(0);
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'order-2')).toBe(1);
      await client.close();
    });
  });

  describe('WebSocket /ws: limits', () => {
    it('refuses a subscription past MAX_SUBSCRIPTIONS_PER_CONNECTION with "Error:", other connections unaffected', async () => {
      const topics = ['max-1', 'max-2', 'max-3', 'max-4'];
      const token = await notifluxToken('subscribe', topics);
      const client = await connectNotiflux(wsUrlOf(herald));
      for (const topic of topics.slice(0, 3)) client.send(`/subscribe ${topic} ${token}`);
      client.send(`/subscribe max-4 ${token}`);
      expect(await client.next()).toBe(
        'Error: RATE_LIMITED: cannot subscribe to "max-4": this connection already has 3 subscriptions open (MAX_SUBSCRIPTIONS_PER_CONNECTION)',
      );
      for (const topic of topics.slice(0, 3)) expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, topic)).toBe(1);
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'max-4')).toBe(0);

      // Subscribing again to a topic it holds replaces that subscription: not one more.
      client.send(`/subscribe max-1 ${token}`);
      await expectNoReply(client);
      // Another connection has limits of its own.
      const other = await subscribed('max-4', token);
      // After an unsubscribe there is room again.
      client.send('/unsubscribe max-2');
      client.send(`/subscribe max-4 ${token}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'max-4', 2);
      await broadcastOk('max-4', 'both');
      expect(await client.next()).toBe('both');
      expect(await other.next()).toBe('both');
      await Promise.all([client.close(), other.close()]);
    });

    it("filters a pattern subscription to the token's topics limit, and refuses one the limit excludes", async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send(`/subscribe feed/* ${await notifluxToken('subscribe', ['feed/public'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'feed/public');
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'feed/private')).toBe(1); // registered; the limit filters at delivery
      const publisher = await broadcaster(['feed/*']);
      for (const [topic, message] of [
        ['feed/private', 'secret'],
        ['feed/public', 'public'],
      ]) {
        expect((await postBroadcast(herald, { topic, message, token: publisher })).status).toBe(200);
      }
      expect(await client.next()).toBe('public');
      client.send(`/subscribe other/* ${await notifluxToken('subscribe', ['feed/public'])}`);
      expect(await client.next()).toBe('Error: FORBIDDEN: cannot subscribe to "other/*": the token\'s topics do not include "other/*"');
      await client.close();
    });

    it('accepts a topic matched by a pattern in the token (campaign:* lists campaign:42)', async () => {
      const client = await subscribed('campaign:42', await notifluxToken('subscribe', ['campaign:*']));
      const response = await postBroadcast(herald, { topic: 'campaign:42', message: 'm', token: await broadcaster(['campaign:*']) });
      expect(response.status).toBe(200);
      expect(await client.next()).toBe('m');
      await client.close();
    });

    it('closes a client that stops reading with 4008 (retried by stock clients), drops its subscriptions, and keeps serving the others', async () => {
      const topic = 'firehose';
      const slow = await subscribed(topic);
      const healthy = await subscribed(topic);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const publisher = await broadcaster([topic]);
      const big = 'x'.repeat(32 * 1024);
      const before = herald.app.sendBufferLimit.closes;
      let sent = 0;
      while (herald.app.sendBufferLimit.closes === before && sent < 2000) {
        const response = await postBroadcast(herald, { topic, message: `${sent++} ${big}`, token: publisher });
        expect(response.status).toBe(200);
      }
      expect(herald.app.sendBufferLimit.closes).toBe(before + 1);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, topic, 1);
      for (let i = 0; i < sent; i++) expect((await healthy.next()).split(' ')[0]).toBe(String(i));
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await slow.closed).code).toBe(4008);
      await healthy.close();
    });
  });

  describe('WebSocket /ws: token expiry', () => {
    it('ends a subscription when its token expires, says so with "Error:", and keeps the socket and its other subscriptions', async () => {
      const client = await connectNotiflux(wsUrlOf(herald));
      const shortLived = await notifluxToken('subscribe', ['expiring', 'refreshed'], 2);
      client.send(`/subscribe expiring ${shortLived}`);
      client.send(`/subscribe refreshed ${shortLived}`);
      client.send(`/subscribe lasting ${await notifluxToken('subscribe', ['lasting'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'expiring');
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'lasting');
      // Subscribing again with a fresh token carries the subscription past the first token's exp.
      client.send(`/subscribe refreshed ${await notifluxToken('subscribe', ['refreshed'])}`);
      await expectNoReply(client);

      expect(await client.next(5_000)).toBe(
        'Error: UNAUTHENTICATED: the token of the subscription to "expiring" expired; it has ended (subscribe again with a fresh token)',
      );
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'expiring', 0);
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'refreshed')).toBe(1);
      await broadcastOk('expiring', 'too late');
      await broadcastOk('refreshed', 'refreshed goes on');
      await broadcastOk('lasting', 'lasting goes on');
      expect(await client.next()).toBe('refreshed goes on');
      expect(await client.next()).toBe('lasting goes on');
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      await client.close();
    });
  });

  describe('delivery', () => {
    it('sends a string as the bare string (even one that looks like JSON) and anything else as its JSON text', async () => {
      const client = await subscribed('shapes');
      const publisher = await broadcaster(['shapes']);
      const messages: Array<[unknown, string]> = [
        ['plain text', 'plain text'],
        ['{"a":1}', '{"a":1}'],
        ['', ''],
        [42, '42'],
        [{ a: [1, 'two', null] }, '{"a":[1,"two",null]}'],
        [null, 'null'],
        [true, 'true'],
      ];
      for (const [message] of messages) expect((await postBroadcast(herald, { topic: 'shapes', message, token: publisher })).status).toBe(200);
      for (const [, frame] of messages) expect(await client.next()).toBe(frame);
      await client.close();
    });

    it('a GraphQL publish reaches a notiflux subscriber of the same topic in the same audience, as JSON text', async () => {
      const client = await subscribed('from-graphql');
      const publisher = await sign({ sub: 'backend', exp: nowSeconds() + 60, scope: 'publish' });
      const response = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'from-graphql', payload: { order: 7, items: ['a'] } });
      expect(response.errors).toBeUndefined();
      expect(await client.next()).toBe('{"order":7,"items":["a"]}');
      const text = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'from-graphql', payload: 'just text' });
      expect(text.errors).toBeUndefined();
      expect(await client.next()).toBe('just text');
      await client.close();
    });

    it('POST /broadcast reaches graphql-ws and SSE subscribers of the default audience', async () => {
      const subscriberToken = await notifluxToken('subscribe', ['to-graphql']);
      const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriberToken } });
      const overWs = subscribe(client, ON_TOPIC, { name: 'to-graphql' });
      const overSse = await openSse(herald.httpUrl, subscriberToken, ON_TOPIC, { name: 'to-graphql' });
      expect(overSse.status).toBe(200);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'to-graphql', 2);
      await broadcastOk('to-graphql', 'hi graphql');
      expect((await overWs.next()).data).toEqual({ topic: { topic: 'to-graphql', payload: 'hi graphql' } });
      expect(await overSse.next()).toMatchObject({ event: 'next', data: { data: { topic: { topic: 'to-graphql', payload: 'hi graphql' } } } });
      overSse.abort.abort();
      await client.dispose();
    });

    it("keeps audiences apart: a notiflux subscriber (default audience) never gets another audience's message", async () => {
      const client = await subscribed('isolated');
      const acme = await sign({ sub: 'acme', aud: 'acme', exp: nowSeconds() + 60, scope: 'publish' });
      expect((await gql(herald.httpUrl, acme, PUBLISH, { topic: 'isolated', payload: 'for acme' })).errors).toBeUndefined();
      await broadcastOk('isolated', 'for default');
      expect(await client.next()).toBe('for default');
      await client.close();
    });

    it('a token with aud subscribes in that audience', async () => {
      const client = await subscribed('with-aud', await sign({ exp: nowSeconds() + 60, aud: 'acme', scope: 'subscribe', topics: ['with-aud'] }), 'acme');
      expect(herald.app.fanout.subscriberCount(DEFAULT_AUDIENCE, 'with-aud')).toBe(0);
      const acme = await sign({ aud: 'acme', exp: nowSeconds() + 60, scope: 'broadcast', topics: ['with-aud'] });
      expect((await postBroadcast(herald, { topic: 'with-aud', message: 'acme only', token: acme })).status).toBe(200);
      expect(await client.next()).toBe('acme only');
      await client.close();
    });
  });

  describe('POST /broadcast', () => {
    it('answers 200 with an empty body', async () => {
      const response = await postBroadcast(herald, { topic: 'ok', message: 'm', token: await broadcaster(['ok']) });
      expect(response).toMatchObject({ status: 200, text: '' });
    });

    it('takes the JSON body whatever the Content-Type says', async () => {
      const client = await subscribed('any-type');
      const body = JSON.stringify({ topic: 'any-type', message: 'typed', token: await broadcaster(['any-type']) });
      expect((await postBroadcast(herald, body, { 'content-type': 'text/plain' })).status).toBe(200);
      expect((await postBroadcast(herald, body, {})).status).toBe(200);
      expect(await client.next()).toBe('typed');
      expect(await client.next()).toBe('typed');
      await client.close();
    });

    type Case = { name: string; body: () => Promise<unknown>; status: number; code: string; error: RegExp };
    const cases: Case[] = [
      { name: 'no token', body: async () => ({ topic: 'pub', message: 'x' }), status: 401, code: 'UNAUTHENTICATED', error: /"token" is required/ },
      {
        name: 'empty token',
        body: async () => ({ topic: 'pub', message: 'x', token: '' }),
        status: 401,
        code: 'UNAUTHENTICATED',
        error: /"token" is required/,
      },
      {
        name: 'not a JWT',
        body: async () => ({ topic: 'pub', message: 'x', token: 'garbage' }),
        status: 401,
        code: 'UNAUTHENTICATED',
        error: /token is not a JWT/,
      },
      {
        name: 'another key',
        body: async () => ({ topic: 'pub', message: 'x', token: await sign({ exp: nowSeconds() + 60, scope: 'broadcast', topics: ['pub'] }, otherKey) }),
        status: 401,
        code: 'UNAUTHENTICATED',
        error: /signature is invalid/,
      },
      {
        name: 'expired token',
        body: async () => ({ topic: 'pub', message: 'x', token: await notifluxToken('broadcast', ['pub'], -5) }),
        status: 401,
        code: 'UNAUTHENTICATED',
        error: /token expired/,
      },
      {
        name: 'subscribe scope only',
        body: async () => ({ topic: 'pub', message: 'x', token: await notifluxToken('subscribe', ['pub']) }),
        status: 403,
        code: 'FORBIDDEN',
        error: /needs the publish scope/,
      },
      {
        name: 'topic not listed',
        body: async () => ({ topic: 'pub', message: 'x', token: await broadcaster(['other']) }),
        status: 403,
        code: 'FORBIDDEN',
        error: /the token's topics do not include "pub"/,
      },
      { name: 'not JSON', body: async () => '{"topic": "pub", "message": ', status: 400, code: 'BAD_USER_INPUT', error: /not JSON/ },
      { name: 'a JSON array', body: async () => '[]', status: 400, code: 'BAD_USER_INPUT', error: /not a JSON object/ },
      { name: 'empty body', body: async () => '', status: 400, code: 'BAD_USER_INPUT', error: /not JSON/ },
      {
        name: 'no topic',
        body: async () => ({ message: 'x', token: await broadcaster(['pub']) }),
        status: 400,
        code: 'BAD_USER_INPUT',
        error: /"topic" must be a string/,
      },
      {
        name: 'no message',
        body: async () => ({ topic: 'pub', token: await broadcaster(['pub']) }),
        status: 400,
        code: 'BAD_USER_INPUT',
        error: /"message" is missing/,
      },
      {
        name: 'token not a string',
        body: async () => ({ topic: 'pub', message: 'x', token: 7 }),
        status: 400,
        code: 'BAD_USER_INPUT',
        error: /"token" must be a string/,
      },
      {
        name: 'topic with a space',
        body: async () => ({ topic: 'p ub', message: 'x', token: await broadcaster(['**']) }),
        status: 400,
        code: 'BAD_USER_INPUT',
        error: /must be printable characters without whitespace/,
      },
      {
        name: 'topic with a wildcard',
        body: async () => ({ topic: 'pub/*', message: 'x', token: await broadcaster(['**']) }),
        status: 400,
        code: 'BAD_USER_INPUT',
        error: /must not contain '\*'/,
      },
      {
        name: 'message over MAX_PAYLOAD_BYTES',
        body: async () => ({ topic: 'pub', message: 'x'.repeat(64 * 1024), token: await broadcaster(['pub']) }),
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        error: /payload is 65538 bytes of JSON; the limit is 65536/,
      },
    ];

    it.each(cases)('$name: $status $code, and the next good one goes through', async ({ body, status, code, error }) => {
      const client = await subscribed('pub');
      const response = await postBroadcast(herald, await body());
      expect(response.status).toBe(status);
      expect(response.contentType).toMatch(/^application\/json/);
      expect(response.json).toEqual({ error: expect.stringMatching(error), code });
      await broadcastOk('pub', 'good one');
      // The bad one published nothing: the first frame is the good one.
      expect(await client.next()).toBe('good one');
      await client.close();
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'pub', 0);
    });

    it('answers 413 to a body over MAX_BODY_BYTES before reading it', async () => {
      const response = await postBroadcast(herald, { topic: 'pub', message: 'x'.repeat(1024 * 1024), token: 'x' });
      expect(response.status).toBe(413);
      expect(response.json).toEqual({ error: expect.stringMatching(/MAX_BODY_BYTES/), code: 'PAYLOAD_TOO_LARGE' });
      await broadcastOk('pub', 'still up');
    });

    it('answers 405 to other methods', async () => {
      const response = await fetch(`${herald.baseUrl}/broadcast`);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(await response.json()).toEqual({ error: '/broadcast takes POST', code: 'BAD_USER_INPUT' });
    });
  });

  describe('HTTP and upgrades', () => {
    it('GET /health answers 200', async () => {
      expect((await fetch(`${herald.baseUrl}/health`)).status).toBe(200);
    });

    it('leaves /ws?token=… to the courier surface: no notiflux session there', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${wsUrlOf(herald)}?token=garbage`);
        ws.on('unexpected-response', (_request, response) => {
          resolve(response.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => reject(new Error('upgraded')));
        ws.on('error', () => {});
      });
      expect(status).not.toBe(101);
    });
  });
});

describe('notiflux surface: configuration', () => {
  it('REQUIRE_DECLARED_TOPICS applies to /subscribe and POST /broadcast (NOT_FOUND until declared)', async () => {
    const herald = await startNotifluxHerald({ REQUIRE_DECLARED_TOPICS: 'true' });
    try {
      const client = await connectNotiflux(wsUrlOf(herald));
      const subscriber = await notifluxToken('subscribe', ['declared']);
      client.send(`/subscribe declared ${subscriber}`);
      expect(await client.next()).toBe('Error: NOT_FOUND: cannot subscribe to "declared": topic "declared" is not declared in this audience');
      const body = { topic: 'declared', message: 'm', token: await notifluxToken('broadcast', ['declared']) };
      const refused = await postBroadcast(herald, body);
      expect(refused.status).toBe(404);
      expect(refused.json).toEqual({ error: 'topic "declared" is not declared in this audience', code: 'NOT_FOUND' });

      const admin = await sign({ exp: nowSeconds() + 60, scope: 'manage' });
      expect((await gql(herald.httpUrl, admin, 'mutation { createTopic(name: "declared") { id } }')).errors).toBeUndefined();
      client.send(`/subscribe declared ${subscriber}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'declared');
      expect((await postBroadcast(herald, body)).status).toBe(200);
      expect(await client.next()).toBe('m');
      await client.close();
    } finally {
      await herald.stop();
    }
  });

  it('tokens without aud belong to DEFAULT_AUDIENCE', async () => {
    const herald = await startNotifluxHerald({ DEFAULT_AUDIENCE: 'legacy' });
    try {
      const client = await connectNotiflux(wsUrlOf(herald));
      client.send(`/subscribe t ${await notifluxToken('subscribe', ['t'])}`);
      await waitForSubscribers(herald.app, 'legacy', 't');
      expect((await postBroadcast(herald, { topic: 't', message: 'legacy', token: await notifluxToken('broadcast', ['t']) })).status).toBe(200);
      expect(await client.next()).toBe('legacy');
      await client.close();
    } finally {
      await herald.stop();
    }
  });

  it('takes a POST /broadcast cut off mid-body for a client mistake: no internal error, and the next one goes through', async () => {
    // Found by test/fuzz/notiflux.test.ts: the aborted body was logged at error level as a server failure.
    const lines: Array<{ level: number; msg: string; err?: { message?: string } }> = [];
    let answered = (): void => {};
    const answer = new Promise<void>((resolve) => (answered = resolve));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as (typeof lines)[number]);
        // Refused (a client mistake) or failed (a server error): either way the route has answered.
        if (lines.some((line) => line.msg.startsWith('notiflux broadcast'))) answered();
        done();
      },
    });
    const config = loadConfig({ JWT_SECRET: '', JWT_PUBLIC_KEY_B64: publicKeyB64, PORT: '0', DATABASE_URL: ':memory:' });
    const app = await createApp(config, { logger: pino({ level: 'debug' }, sink) });
    const baseUrl = await app.start();
    try {
      const token = await notifluxToken('broadcast', ['cut']);
      const body = JSON.stringify({ topic: 'cut', message: 'x', token });
      const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
      await once(socket, 'connect');
      const head = `POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      // Half the body, then the client is gone.
      await new Promise<void>((resolve) => socket.write(head + body.slice(0, body.length / 2), () => resolve()));
      socket.destroy();
      await answer;
      expect(lines.filter((line) => line.level >= 50)).toEqual([]);
      expect(lines.find((line) => line.msg === 'notiflux broadcast refused')?.err?.message).toMatch(/cut off/);
      expect((await postBroadcast({ baseUrl }, { topic: 'cut', message: 'whole', token })).status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  it('counts notiflux sockets toward MAX_CONNECTIONS with every other WebSocket, and closes them with 1001 on shutdown', async () => {
    const herald = await startNotifluxHerald({ MAX_CONNECTIONS: '2' });
    let stopped = false;
    try {
      const first = await connectNotiflux(wsUrlOf(herald));
      const graphql = new WebSocket(herald.wsUrl, 'graphql-transport-ws');
      await new Promise((resolve) => graphql.once('open', resolve));
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrlOf(herald));
        ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.on('error', () => {});
      });
      expect(refused).toBe(503);
      graphql.close();
      await new Promise((resolve) => graphql.once('close', resolve));
      // The server may count the closed socket a moment longer than the client sees it open.
      const second = await connectWhenRoom(wsUrlOf(herald));
      second.send(`/subscribe bye ${await notifluxToken('subscribe', ['bye'])}`);
      await waitForSubscribers(herald.app, DEFAULT_AUDIENCE, 'bye');

      await herald.stop();
      stopped = true;
      expect((await first.closed).code).toBe(1001);
      expect((await second.closed).code).toBe(1001);
    } finally {
      if (!stopped) await herald.stop();
    }
  });

  it('answers 503 to POST /broadcast while the bus (Redis) is unreachable, and 200 once it is back', async ({ skip }) => {
    if (!(await redisAvailable())) return skip('no Redis');
    const redis = await startPrivateRedis();
    const herald = await startNotifluxHerald({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('notiflux') });
    try {
      const body = { topic: 'bus', message: 'm', token: await notifluxToken('broadcast', ['bus']) };
      await until(async () => (await postBroadcast(herald, body)).status === 200, 'a publish over Redis');
      await redis.stop();
      await until(async () => (await fetch(`${herald.baseUrl}/ready`)).status === 503, '/ready to notice');
      const refused = await postBroadcast(herald, body);
      expect(refused.status).toBe(503);
      expect(refused.json).toEqual({ error: expect.stringMatching(/Redis/), code: 'UNAVAILABLE' });
      await redis.start();
      await until(async () => (await postBroadcast(herald, body)).status === 200, 'publishing again');
    } finally {
      await herald.stop();
      await redis.stop();
    }
  });
});

/** A connection attempt that may meet a 503 while a closed socket is still being counted; retried until it opens. */
async function connectWhenRoom(url: string): Promise<RawClient> {
  for (;;) {
    try {
      return await connectNotiflux(url);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('notiflux deployment: HOST, PORT and JWT_PUBLIC_KEY_B64 only, keys by openssl, tokens by the Herald CLI', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'herald-notiflux-env-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** `herald token …` as a user runs it, in a scratch folder, without the test runner's settings. */
  const cliToken = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of ['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_B64', 'NODE_ENV']) delete env[name];
      execFile(process.execPath, [HERALD_BIN, 'token', ...args], { cwd: scratch, env, timeout: 15_000 }, (error, stdout, stderr) => {
        if (error !== null) return reject(new Error(`herald token failed: ${stderr}`));
        resolve(stdout.trim());
      });
    });

  it('serves notiflux clients and publishers with ES256 tokens', async () => {
    // Only the three variables notiflux read; the helper's own defaults are blanked (empty is unset to Herald),
    // so the store is the default ./data/herald.db, inside the scratch folder.
    const gateway = await startHeraldProcess(
      { HOST: '127.0.0.1', PORT: '0', JWT_PUBLIC_KEY_B64: publicKeyB64, JWT_SECRET: '', DATABASE_URL: '', LOG_LEVEL: '' },
      scratch,
    );
    try {
      expect((await fetch(`${gateway.baseUrl}/health`)).status).toBe(200);
      const keyPath = join(keyDir, 'es256_private.pem');
      const subscriberToken = await cliToken(['--key', keyPath, '--scope', 'subscribe', '--topics', 'campaign:7', '--sub', 'browser', '--ttl', '5m']);
      const claims = JSON.parse(Buffer.from(subscriberToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(claims).toMatchObject({ scope: 'subscribe', topics: ['campaign:7'], sub: 'browser' });
      expect(claims).not.toHaveProperty('aud');
      const publisherToken = await cliToken(['--key', keyPath, '--scope', 'broadcast', '--topics', 'campaign:7', '--ttl', '5m']);
      const notiflux = await sign({ sub: 'notiflux', exp: nowSeconds() + 300, topics: ['campaign:7'], scope: 'subscribe' });

      const viaCli = await connectNotiflux(`${gateway.baseUrl.replace(/^http/, 'ws')}/ws`);
      const viaJose = await connectNotiflux(`${gateway.baseUrl.replace(/^http/, 'ws')}/ws`);
      viaCli.send(`/subscribe campaign:7 ${subscriberToken}`);
      viaJose.send(`/subscribe campaign:7 ${notiflux}`);
      // Commands are answered in order, so once the unknown command's reply is back the subscribe is in place.
      await Promise.all([expectNoReply(viaCli), expectNoReply(viaJose)]);
      const response = await postBroadcast(gateway, { topic: 'campaign:7', message: 'started', token: publisherToken });
      expect(response).toMatchObject({ status: 200, text: '' });
      expect(await viaCli.next()).toBe('started');
      expect(await viaJose.next()).toBe('started');
      await Promise.all([viaCli.close(), viaJose.close()]);
    } finally {
      await gateway.stop();
    }
  });
});
