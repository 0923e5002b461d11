import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../src/app.js';
import { createCourierSurface } from '../src/compat/courier/courier-surface.js';
import { loadConfig } from '../src/config.js';
import { courierFetch, courierToken, courierWsUrl, openCourier, upgradeRefusal, type CourierSocket } from './helpers/courier.js';
import { gql, startHerald, TEST_SECRET, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { openSse } from './helpers/sse.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { subscribe } from './helpers/subscription.js';

/**
 * Conformance of the courier surface (contract/compat.md §A), spoken as courier's clients speak it:
 * fetch and a plain `ws` WebSocket, tokens signed by hand the way courier's users signed them
 * (HS256 over JWT_SECRET, `aud`, no `scope`). The server runs as a courier deployment would run it:
 * DEFAULT_SCOPES="subscribe publish manage", because courier let any valid token do everything.
 */

const SIGNING_SECRET = 'courier-test-signing-secret-0123456789';
const COURIER_ENV = {
  DEFAULT_SCOPES: 'subscribe publish manage',
  SIGNING_SECRET,
  MAX_SUBSCRIPTIONS_PER_CONNECTION: '4',
  MAX_BUFFERED_BYTES: '65536',
  MAX_PAYLOAD_BYTES: '65536',
};
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { topic payload } }';
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A courier token for `aud`: no scope claim, 5 minutes. */
const tokenFor = (aud: string, claims: Record<string, unknown> = {}) => courierToken(TEST_SECRET, { aud, sub: 'backend', ...claims });

/** A courier error body. */
const courierError = (status: number, code: string) => ({ status, error: expect.any(String), code });
/** A courier WebSocket error frame: exactly these two fields. */
const errorFrame = (code: string) => ({ error: expect.any(String), code });

describe('courier', () => {
  let herald: TestHerald;
  let app: App;
  let base: string;
  const sockets: CourierSocket[] = [];

  beforeAll(async () => {
    herald = await startHerald(COURIER_ENV);
    app = herald.app;
    base = herald.baseUrl;
  });
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await herald.stop();
  });

  /** A courier socket for `aud` (closed after the suite). */
  const connect = async (aud: string, claims: Record<string, unknown> = {}): Promise<CourierSocket> => {
    const socket = await openCourier(courierWsUrl(base, await tokenFor(aud, claims)));
    sockets.push(socket);
    return socket;
  };
  const hook = async (aud: string, body: unknown, claims: Record<string, unknown> = {}) =>
    courierFetch(base, 'POST', '/v1/hook', { token: await tokenFor(aud, claims), body });
  const publish = async (aud: string, topic: string, message: Record<string, unknown>) => {
    const response = await hook(aud, { action: 'publish', topic, message });
    expect(response.status).toBe(200);
  };
  /** Subscribes and waits until the registry holds it (pub/sub has no acknowledgement). */
  const subscribeTo = async (socket: CourierSocket, aud: string, topic: string, probe = topic, count = 1) => {
    socket.send({ action: 'subscribe', topic });
    await waitForSubscribers(app, aud, probe, count);
  };

  describe('REST API', () => {
    it('POST /v1/audience registers the token audience once, however often it is called (courier made duplicates)', async () => {
      const token = await tokenFor('rest-audience');
      const first = await courierFetch(base, 'POST', '/v1/audience', { token });
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/^application\/json/);
      expect(first.body).toEqual({ data: { id: expect.any(String), name: 'rest-audience', createdAt: ISO, updatedAt: ISO, deletedAt: null } });
      const again = await courierFetch(base, 'POST', '/v1/audience', { token });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
    });

    it('POST /v1/topic declares a topic, registering the audience when needed; idempotent', async () => {
      const token = await tokenFor('rest-topic');
      const created = await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'system/events' } });
      expect(created.status).toBe(200);
      expect(created.body).toEqual({
        data: {
          id: expect.any(String),
          topic: 'system/events',
          audience: { id: expect.any(String), name: 'rest-topic', createdAt: ISO, updatedAt: ISO, deletedAt: null },
          audienceId: expect.any(String),
          createdAt: ISO,
          updatedAt: ISO,
        },
      });
      expect(created.body.data.audienceId).toBe(created.body.data.audience.id);
      const again = await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'system/events' } });
      expect(again.body).toEqual(created.body);
      // The audience it registered is the one POST /v1/audience answers with.
      expect((await courierFetch(base, 'POST', '/v1/audience', { token })).body.data).toEqual(created.body.data.audience);
    });

    it('GET /v1/topic lists the audience topics by name (courier always failed here), its own only, within the token topics', async () => {
      const token = await tokenFor('rest-list');
      expect(await courierFetch(base, 'GET', '/v1/topic', { token })).toMatchObject({ status: 200, body: { data: [] } });
      const b = (await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'b/2' } })).body.data;
      const a = (await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'a/1' } })).body.data;
      await courierFetch(base, 'POST', '/v1/topic', { token: await tokenFor('rest-list-other'), body: { topic: 'a/other' } });

      const listed = await courierFetch(base, 'GET', '/v1/topic', { token });
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual({ data: [a, b] });
      const limited = await courierFetch(base, 'GET', '/v1/topic', { token: await tokenFor('rest-list', { topics: ['a/*'] }) });
      expect(limited.body).toEqual({ data: [a] });
    });

    it('POST /v1/hook publishes to a topic and broadcasts to the audience, answering {"data": <the body>}', async () => {
      const socket = await connect('rest-hook');
      await subscribeTo(socket, 'rest-hook', 'orders/1');

      const message = { order: 1, items: ['a', 'b'], note: 'é ✓', nested: { ok: true } };
      const published = await hook('rest-hook', { action: 'publish', topic: 'orders/1', message });
      expect(published.status).toBe(200);
      expect(published.body).toEqual({ data: { action: 'publish', topic: 'orders/1', message } });
      expect(await socket.nextText()).toBe(JSON.stringify(message));

      const broadcast = await hook('rest-hook', { action: 'broadcast', message: { all: true } });
      expect(broadcast.body).toEqual({ data: { action: 'broadcast', message: { all: true } } });
      expect(await socket.next()).toEqual({ all: true });
    });

    it('GET /v1/sign hands out a subscribe-only key that expires, and a ws:// URL that works as is', async () => {
      const backend = await tokenFor('rest-sign', { ttlSeconds: 7200 });
      const before = Date.now();
      const signed = await courierFetch(base, 'GET', '/v1/sign', { token: backend });
      expect(signed.status).toBe(200);
      expect(signed.body).toEqual({ data: { key: expect.any(String), url: expect.any(String), expiresAt: ISO } });
      const { key, url, expiresAt } = signed.body.data;
      expect(url).toBe(`${base.replace(/^http/, 'ws')}/ws?token=${key}`);
      // Default lifetime: one hour (courier's keys never expired; a socket lives as long as its key).
      expect(Date.parse(expiresAt) - before).toBeGreaterThan(3590_000);
      expect(Date.parse(expiresAt) - before).toBeLessThanOrEqual(3601_000);
      // Never longer than the token that asked for it.
      const shortLived = await courierFetch(base, 'GET', '/v1/sign', { token: await tokenFor('rest-sign', { ttlSeconds: 300 }) });
      expect(Date.parse(shortLived.body.data.expiresAt) - before).toBeLessThanOrEqual(301_000);

      const browser = await openCourier(url);
      sockets.push(browser);
      await subscribeTo(browser, 'rest-sign', 'orders/1');
      await publish('rest-sign', 'orders/1', { n: 1 });
      expect(await browser.next()).toEqual({ n: 1 });

      // Subscribe-only, whatever DEFAULT_SCOPES says.
      browser.send({ action: 'publish', topic: 'orders/1', message: { n: 2 } });
      expect(await browser.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      expect(await courierFetch(base, 'POST', '/v1/hook', { token: key, body: { action: 'publish', topic: 'orders/1', message: {} } })).toMatchObject({
        status: 403,
        body: courierError(403, 'ESTATUS_FORBIDDEN'),
      });
      expect((await courierFetch(base, 'POST', '/v1/audience', { token: key })).body).toEqual(courierError(403, 'ESTATUS_FORBIDDEN'));

      // Narrowed with ?topic= (repeatable): the key covers only what was signed.
      const narrow = await courierFetch(base, 'GET', '/v1/sign?topic=orders/1&ttl=120', { token: backend });
      expect(Date.parse(narrow.body.data.expiresAt) - Date.now()).toBeLessThanOrEqual(121_000);
      const narrowSocket = await openCourier(narrow.body.data.url);
      sockets.push(narrowSocket);
      narrowSocket.send({ action: 'subscribe', topic: 'orders/2' });
      expect(await narrowSocket.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      await subscribeTo(narrowSocket, 'rest-sign', 'orders/1', 'orders/1', 2);
      await publish('rest-sign', 'orders/1', { n: 3 });
      expect(await narrowSocket.next()).toEqual({ n: 3 });
    });

    it('a signed key expires: the socket it opened closes with 4401 and it opens no other', async () => {
      const signed = await courierFetch(base, 'GET', '/v1/sign?ttl=2', { token: await tokenFor('rest-sign-expiry') });
      const socket = await openCourier(signed.body.data.url);
      expect(await socket.closed).toEqual({ code: 4401, reason: 'token expired' });
      expect(await upgradeRefusal(signed.body.data.url)).toEqual({ status: 403, body: courierError(403, 'ETOKEN_INVALID') });
    });
  });

  describe('REST errors: the exact status and code, and the server serves the next request', () => {
    const good = async () => {
      const response = await hook('rest-errors', { action: 'publish', topic: 'still/up', message: { ok: true } });
      expect(response).toMatchObject({ status: 200, body: { data: { action: 'publish' } } });
    };
    const post = (path: string, body: unknown, token?: Promise<string>) => async () =>
      courierFetch(base, 'POST', path, { token: await (token ?? tokenFor('rest-errors')), body });

    const cases: Array<[string, () => Promise<Awaited<ReturnType<typeof courierFetch>>>, number, string]> = [
      ['no Authorization header', () => courierFetch(base, 'POST', '/v1/audience'), 401, 'ETOKEN_INVALID'],
      ['no token on GET /v1/topic', () => courierFetch(base, 'GET', '/v1/topic'), 401, 'ETOKEN_INVALID'],
      ['no token on GET /v1/sign', () => courierFetch(base, 'GET', '/v1/sign'), 401, 'ETOKEN_INVALID'],
      ['not a JWT', () => courierFetch(base, 'POST', '/v1/audience', { token: 'not-a-jwt' }), 403, 'ETOKEN_INVALID'],
      [
        'signed with another secret',
        post('/v1/audience', undefined, courierToken('another-secret-of-at-least-32-bytes!!', { aud: 'rest-errors' })),
        403,
        'ETOKEN_INVALID',
      ],
      ['expired', post('/v1/audience', undefined, tokenFor('rest-errors', { exp: nowSeconds() - 10 })), 403, 'ETOKEN_INVALID'],
      ['no manage scope', post('/v1/audience', undefined, tokenFor('rest-errors', { scope: 'subscribe publish' })), 403, 'ESTATUS_FORBIDDEN'],
      [
        'no publish scope',
        post('/v1/hook', { action: 'publish', topic: 't', message: {} }, tokenFor('rest-errors', { scope: 'subscribe' })),
        403,
        'ESTATUS_FORBIDDEN',
      ],
      [
        'publish outside the token topics',
        post('/v1/hook', { action: 'publish', topic: 'other', message: {} }, tokenFor('rest-errors', { topics: ['mine'] })),
        403,
        'ESTATUS_FORBIDDEN',
      ],
      [
        'broadcast with a topics limit',
        post('/v1/hook', { action: 'broadcast', message: {} }, tokenFor('rest-errors', { topics: ['mine'] })),
        403,
        'ESTATUS_FORBIDDEN',
      ],
      [
        'declare a topic outside the token topics',
        post('/v1/topic', { topic: 'other' }, tokenFor('rest-errors', { topics: ['mine'] })),
        403,
        'ESTATUS_FORBIDDEN',
      ],
      ['hook: unparsable JSON', post('/v1/hook', '{"action": "publish",'), 400, 'EBODY_INVALID'],
      ['hook: empty body', post('/v1/hook', ''), 400, 'EBODY_INVALID'],
      ['hook: JSON that is not an object', post('/v1/hook', '[{"action": "publish"}]'), 400, 'EBODY_INVALID'],
      ['hook: no action', post('/v1/hook', { topic: 't', message: {} }), 422, 'EHOOK_INVALID'],
      ['hook: unknown action', post('/v1/hook', { action: 'subscribe', topic: 't', message: {} }), 422, 'EHOOK_INVALID'],
      ['hook: publish without topic', post('/v1/hook', { action: 'publish', message: {} }), 422, 'EHOOK_INVALID'],
      ['hook: topic not a string', post('/v1/hook', { action: 'publish', topic: 42, message: {} }), 422, 'EHOOK_INVALID'],
      ['hook: message a string', post('/v1/hook', { action: 'publish', topic: 't', message: 'hello' }), 422, 'EHOOK_INVALID'],
      ['hook: message an array', post('/v1/hook', { action: 'publish', topic: 't', message: [1] }), 422, 'EHOOK_INVALID'],
      ['hook: no message', post('/v1/hook', { action: 'publish', topic: 't' }), 422, 'EHOOK_INVALID'],
      ['hook: broadcast message null', post('/v1/hook', { action: 'broadcast', message: null }), 422, 'EHOOK_INVALID'],
      ['hook: topic with a wildcard', post('/v1/hook', { action: 'publish', topic: 'orders/*', message: {} }), 422, 'ETOPIC_INVALID'],
      ['hook: topic with whitespace', post('/v1/hook', { action: 'publish', topic: 'two words', message: {} }), 422, 'ETOPIC_INVALID'],
      [
        'hook: message over MAX_PAYLOAD_BYTES',
        post('/v1/hook', { action: 'publish', topic: 't', message: { big: 'x'.repeat(70_000) } }),
        413,
        'EPAYLOAD_TOOLARGE',
      ],
      ['topic: no topic', post('/v1/topic', {}), 422, 'ETOPIC_INVALID'],
      ['topic: a pattern', post('/v1/topic', { topic: 'orders/*' }), 422, 'ETOPIC_INVALID'],
      ['topic: too long', post('/v1/topic', { topic: 'x'.repeat(257) }), 422, 'ETOPIC_INVALID'],
      ['topic: unparsable JSON', post('/v1/topic', 'topic=orders'), 400, 'EBODY_INVALID'],
      ['sign: ttl not a number', async () => courierFetch(base, 'GET', '/v1/sign?ttl=soon', { token: await tokenFor('rest-errors') }), 400, 'EPARAM_INVALID'],
      ['sign: ttl over an hour', async () => courierFetch(base, 'GET', '/v1/sign?ttl=3601', { token: await tokenFor('rest-errors') }), 400, 'EPARAM_INVALID'],
      [
        'sign: topic not a name',
        async () => courierFetch(base, 'GET', '/v1/sign?topic=a%20b', { token: await tokenFor('rest-errors') }),
        400,
        'EPARAM_INVALID',
      ],
      [
        'sign: wider than the token topics',
        async () => courierFetch(base, 'GET', '/v1/sign?topic=**', { token: await tokenFor('rest-errors', { topics: ['mine'] }) }),
        403,
        'ESTATUS_FORBIDDEN',
      ],
      ['unknown /v1 route', async () => courierFetch(base, 'GET', '/v1/nothing', { token: await tokenFor('rest-errors') }), 404, 'EROUTE_NOTFOUND'],
      ['unknown /v1 route without a token', () => courierFetch(base, 'POST', '/v1/topics'), 404, 'EROUTE_NOTFOUND'],
    ];

    it.each(cases)('%s', async (_label, request, status, code) => {
      const response = await request();
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.body).toEqual(courierError(status, code));
      await good();
    });

    it('a wrong method is 405 EMETHOD_NOTALLOWED with Allow', async () => {
      const token = await tokenFor('rest-errors');
      const remove = await courierFetch(base, 'DELETE', '/v1/topic', { token });
      expect(remove.status).toBe(405);
      expect(remove.headers.get('allow')).toBe('GET, POST');
      expect(remove.body).toEqual(courierError(405, 'EMETHOD_NOTALLOWED'));
      const get = await courierFetch(base, 'GET', '/v1/hook', { token });
      expect(get.headers.get('allow')).toBe('POST');
      expect(get.body).toEqual(courierError(405, 'EMETHOD_NOTALLOWED'));
      await good();
    });

    it('a body over MAX_BODY_BYTES is refused with 413 before it is read', async () => {
      const response = await post('/v1/hook', { action: 'publish', topic: 't', message: { big: 'x'.repeat(1_100_000) } })();
      expect(response.status).toBe(413);
      // courier's error shape, even though the gateway refused it before courier's routes ran.
      expect(response.body).toEqual(courierError(413, 'EPAYLOAD_TOOLARGE'));
      await good();
    });

    it("a chunked body (no Content-Length) is refused with 411 in courier's error shape", async () => {
      const chunked = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"action":"broadcast","message":{}}'));
          controller.close();
        },
      });
      const response = await fetch(`${base}/v1/hook`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokenFor('rest-errors')}`, 'content-type': 'application/json' },
        body: chunked,
        duplex: 'half',
      } as RequestInit);
      expect(response.status).toBe(411);
      expect(await response.json()).toEqual(courierError(411, 'EBODY_INVALID'));
      await good();
    });
  });

  describe('WebSocket', () => {
    it('refuses a bad token at the upgrade with 401/403 and a courier error body, and opens no socket', async () => {
      const ws = base.replace(/^http/, 'ws');
      expect(await upgradeRefusal(`${ws}/ws?token=`)).toEqual({ status: 401, body: courierError(401, 'ETOKEN_INVALID') });
      expect(await upgradeRefusal(`${ws}/ws?token=garbage`)).toEqual({ status: 403, body: courierError(403, 'ETOKEN_INVALID') });
      const expired = await tokenFor('ws-refused', { exp: nowSeconds() - 10 });
      expect(await upgradeRefusal(courierWsUrl(base, expired))).toEqual({ status: 403, body: courierError(403, 'ETOKEN_INVALID') });
      const forged = await courierToken('another-secret-of-at-least-32-bytes!!', { aud: 'ws-refused' });
      expect(await upgradeRefusal(courierWsUrl(base, forged))).toEqual({ status: 403, body: courierError(403, 'ETOKEN_INVALID') });
      const socket = await connect('ws-refused');
      expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    });

    it('sends the connection id as the first frame, one distinct id per connection', async () => {
      const [a, b] = await Promise.all([connect('ws-id'), connect('ws-id')]);
      expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(b.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(a.id).not.toBe(b.id);
    });

    it('delivers exactly the published message JSON, no envelope, to subscribers of the topic or a matching pattern', async () => {
      const [exact, pattern, publisher] = await Promise.all([connect('ws-deliver'), connect('ws-deliver'), connect('ws-deliver')]);
      exact.send({ action: 'subscribe', topic: 'orders/1' });
      pattern.send({ action: 'subscribe', topic: 'orders/*' });
      await waitForSubscribers(app, 'ws-deliver', 'orders/1', 2);

      const message = { id: 7, text: 'hé ✓ "quoted"', list: [1, null, { deep: [] }] };
      publisher.send({ action: 'publish', topic: 'orders/1', message });
      expect(await exact.nextText()).toBe(JSON.stringify(message));
      expect(await pattern.nextText()).toBe(JSON.stringify(message));
      // The publisher's socket said nothing back: success is silent, as in courier.
      publisher.send({ action: 'subscribe', topic: 'orders/2' });
      await waitForSubscribers(app, 'ws-deliver', 'orders/2', 2);
      await publish('ws-deliver', 'orders/2', { second: true });
      expect(await publisher.next()).toEqual({ second: true });
      expect(await pattern.next()).toEqual({ second: true });
    });

    it('subscribe and unsubscribe are idempotent, and a message reaches a connection once however many of its subscriptions match', async () => {
      const socket = await connect('ws-idem');
      socket.send({ action: 'subscribe', topic: 'x/1' });
      socket.send({ action: 'subscribe', topic: 'x/1' });
      socket.send({ action: 'subscribe', topic: 'x/*' });
      socket.send({ action: 'subscribe', topic: 'x/*' });
      await waitForSubscribers(app, 'ws-idem', 'x/1', 2);
      expect(app.fanout.subscriberCount('ws-idem', 'x/2')).toBe(1);

      await publish('ws-idem', 'x/1', { n: 1 });
      await publish('ws-idem', 'x/2', { n: 2 });
      expect(await socket.next()).toEqual({ n: 1 });
      // No second copy of n: 1 (nor an error frame for the repeated subscribes) came in between.
      expect(await socket.next()).toEqual({ n: 2 });

      socket.send({ action: 'unsubscribe', topic: 'x/*' });
      socket.send({ action: 'unsubscribe', topic: 'x/*' });
      socket.send({ action: 'unsubscribe', topic: 'never/subscribed' });
      await waitForSubscribers(app, 'ws-idem', 'x/1', 1);
      await publish('ws-idem', 'x/2', { n: 3 });
      await publish('ws-idem', 'x/1', { n: 4 });
      expect(await socket.next()).toEqual({ n: 4 });

      socket.send({ action: 'unsubscribe', topic: 'x/1' });
      await waitForSubscribers(app, 'ws-idem', 'x/1', 0);
      socket.send({ action: 'subscribe', topic: 'x/3' });
      await waitForSubscribers(app, 'ws-idem', 'x/3', 1);
      await publish('ws-idem', 'x/1', { n: 5 });
      await publish('ws-idem', 'x/3', { n: 6 });
      expect(await socket.next()).toEqual({ n: 6 });
    });

    it('answers each bad frame with an error frame {"error","code"} and keeps the socket open', async () => {
      const socket = await connect('ws-bad');
      const frames: Array<[unknown, string]> = [
        ['not json at all', 'EBODY_INVALID'],
        ['[1, 2]', 'EBODY_INVALID'],
        ['"subscribe"', 'EBODY_INVALID'],
        [{ topic: 'a' }, 'EHOOK_INVALID'],
        [{ action: 'dance', topic: 'a' }, 'EHOOK_INVALID'],
        [{ action: 'subscribe' }, 'EHOOK_INVALID'],
        [{ action: 'subscribe', topic: 7 }, 'EHOOK_INVALID'],
        [{ action: 'unsubscribe', topic: '' }, 'EHOOK_INVALID'],
        [{ action: 'subscribe', topic: 'two words' }, 'ETOPIC_INVALID'],
        [{ action: 'subscribe', topic: 'a/***' }, 'ETOPIC_INVALID'],
        [{ action: 'publish', message: {} }, 'EHOOK_INVALID'],
        [{ action: 'publish', topic: 'a', message: 'text' }, 'EHOOK_INVALID'],
        [{ action: 'publish', topic: 'a', message: [1] }, 'EHOOK_INVALID'],
        [{ action: 'publish', topic: 'a', message: null }, 'EHOOK_INVALID'],
        [{ action: 'publish', topic: 'a/*', message: {} }, 'ETOPIC_INVALID'],
        [{ action: 'broadcast' }, 'EHOOK_INVALID'],
        [{ action: 'broadcast', message: 3 }, 'EHOOK_INVALID'],
        [{ action: 'publish', topic: 'a', message: { big: 'x'.repeat(70_000) } }, 'EPAYLOAD_TOOLARGE'],
      ];
      for (const [frame, code] of frames) {
        socket.send(frame);
        const answer = await socket.next();
        expect(answer, JSON.stringify(frame).slice(0, 80)).toEqual(errorFrame(code));
        expect(Object.keys(answer).sort()).toEqual(['code', 'error']);
      }
      await subscribeTo(socket, 'ws-bad', 'a');
      socket.send({ action: 'publish', topic: 'a', message: { fine: true } });
      expect(await socket.next()).toEqual({ fine: true });
    });

    it('refuses with an error frame what the token does not allow, and applies its topics limit to delivery', async () => {
      const limited = await connect('ws-limit', { topics: ['feed/public', 'own/*'] });
      limited.send({ action: 'subscribe', topic: 'secret' });
      expect(await limited.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      limited.send({ action: 'publish', topic: 'feed/private', message: {} });
      expect(await limited.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      limited.send({ action: 'broadcast', message: {} });
      expect(await limited.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));

      // A pattern wider than the limit is accepted and filtered to what the limit allows.
      await subscribeTo(limited, 'ws-limit', 'feed/*', 'feed/public');
      await publish('ws-limit', 'feed/private', { secret: true });
      await publish('ws-limit', 'feed/public', { public: true });
      expect(await limited.next()).toEqual({ public: true });
      limited.send({ action: 'publish', topic: 'own/1', message: { mine: true } });
      limited.send({ action: 'publish', topic: 'feed/public', message: { again: true } });
      expect(await limited.next()).toEqual({ again: true });

      const readOnly = await connect('ws-limit', { scope: 'subscribe' });
      readOnly.send({ action: 'publish', topic: 'feed/public', message: {} });
      expect(await readOnly.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      readOnly.send({ action: 'broadcast', message: {} });
      expect(await readOnly.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));

      const writeOnly = await connect('ws-limit', { scope: 'publish' });
      writeOnly.send({ action: 'subscribe', topic: 'feed/public' });
      expect(await writeOnly.next()).toEqual(errorFrame('ESTATUS_FORBIDDEN'));
      // Receiving broadcasts needs the subscribe scope too: of the three sockets, two hear them.
      expect(app.fanout.subscriberCount('ws-limit', null)).toBe(2);
      writeOnly.send({ action: 'publish', topic: 'feed/public', message: { fromWriter: true } });
      expect(await limited.next()).toEqual({ fromWriter: true });
    });

    it('limits subscriptions per connection (MAX_SUBSCRIPTIONS_PER_CONNECTION) with an ERATE_LIMITED frame', async () => {
      const socket = await connect('ws-max');
      for (const topic of ['s/1', 's/2', 's/3', 's/*']) socket.send({ action: 'subscribe', topic });
      await waitForSubscribers(app, 'ws-max', 's/3', 2);
      socket.send({ action: 'subscribe', topic: 's/5' });
      expect(await socket.next()).toEqual(errorFrame('ERATE_LIMITED'));
      // Repeating one it has is no new subscription: no error.
      socket.send({ action: 'subscribe', topic: 's/1' });
      socket.send({ action: 'unsubscribe', topic: 's/*' });
      await waitForSubscribers(app, 'ws-max', 's/3', 1);
      await subscribeTo(socket, 'ws-max', 's/5');
      await publish('ws-max', 's/5', { fifth: true });
      expect(await socket.next()).toEqual({ fifth: true });
    });

    it('a broadcast reaches each connection of the audience once, however many subscriptions it holds (courier sent one per subscription)', async () => {
      const busy = await connect('ws-broadcast');
      const idle = await connect('ws-broadcast');
      const elsewhere = await connect('ws-broadcast-other');
      for (const topic of ['b/1', 'b/2', 'b/*', '**']) busy.send({ action: 'subscribe', topic });
      await waitForSubscribers(app, 'ws-broadcast', 'b/1', 3);
      await waitForSubscribers(app, 'ws-broadcast', null, 2);

      const sent = await hook('ws-broadcast', { action: 'broadcast', message: { n: 1 } });
      expect(sent.status).toBe(200);
      idle.send({ action: 'broadcast', message: { n: 2 } });
      expect(await idle.next()).toEqual({ n: 1 });
      expect(await idle.next()).toEqual({ n: 2 });
      await publish('ws-broadcast', 'b/1', { marker: true });
      expect(await busy.next()).toEqual({ n: 1 });
      expect(await busy.next()).toEqual({ n: 2 });
      expect(await busy.next()).toEqual({ marker: true });

      // Nothing crossed into the other audience: its first frame is its own broadcast.
      await hook('ws-broadcast-other', { action: 'broadcast', message: { other: true } });
      expect(await elsewhere.next()).toEqual({ other: true });
    });

    it('keeps audiences apart: same topic names, different tenants', async () => {
      const a = await connect('tenant-a');
      const b = await connect('tenant-b');
      await subscribeTo(a, 'tenant-a', 'shared');
      a.send({ action: 'subscribe', topic: '**' });
      await waitForSubscribers(app, 'tenant-a', 'shared', 2);
      await subscribeTo(b, 'tenant-b', 'shared');

      b.send({ action: 'publish', topic: 'shared', message: { from: 'b' } });
      b.send({ action: 'broadcast', message: { fromAll: 'b' } });
      expect(await b.next()).toEqual({ from: 'b' });
      expect(await b.next()).toEqual({ fromAll: 'b' });
      await publish('tenant-a', 'shared', { from: 'a' });
      expect(await a.next()).toEqual({ from: 'a' });
    });

    it('closes the socket with 4401 when the token that opened it expires', async () => {
      const socket = await openCourier(courierWsUrl(base, await tokenFor('ws-expiry', { exp: nowSeconds() + 2 })));
      socket.send({ action: 'subscribe', topic: 'soon' });
      await waitForSubscribers(app, 'ws-expiry', 'soon');
      expect(await socket.closed).toEqual({ code: 4401, reason: 'token expired' });
      await waitForSubscribers(app, 'ws-expiry', 'soon', 0);
      await waitForSubscribers(app, 'ws-expiry', null, 0);
    });

    it('closes a client that stops reading with 4008 (retried by stock clients) once its send buffer passes MAX_BUFFERED_BYTES, and keeps serving the others', async () => {
      const slow = await connect('ws-slow');
      const healthy = await connect('ws-slow');
      slow.send({ action: 'subscribe', topic: 'firehose' });
      healthy.send({ action: 'subscribe', topic: 'firehose' });
      await waitForSubscribers(app, 'ws-slow', 'firehose', 2);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

      const before = app.sendBufferLimit.closes;
      const big = 'x'.repeat(32 * 1024);
      let sent = 0;
      // Far more than the 64 KiB limit plus the kernel's socket buffers; stops once the server gives up on it.
      while (app.sendBufferLimit.closes === before && sent < 2000) await publish('ws-slow', 'firehose', { n: sent++, big });
      expect(app.sendBufferLimit.closes).toBe(before + 1);
      // Its subscription and its broadcasts entry are gone at once, before the socket has finished closing.
      expect(app.fanout.subscriberCount('ws-slow', 'firehose')).toBe(1);
      expect(app.fanout.subscriberCount('ws-slow', null)).toBe(1);

      for (let i = 0; i < sent; i++) expect((await healthy.next()).n).toBe(i);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await slow.closed).code).toBe(4008);
    });
  });

  describe('lifecycle events on system/events', () => {
    const event = (operation: string, table: string, record: unknown) => ({ type: 'database', operation, table, record });

    it('announces audiences and topics created or removed, through courier and GraphQL alike, once each, in their own audience', async () => {
      const token = await tokenFor('life');
      const watcher = await connect('life');
      const neighbour = await connect('life-other');
      await subscribeTo(watcher, 'life', 'system/events');
      await subscribeTo(neighbour, 'life-other', 'system/events');

      // A topic in an audience nobody registered: the audience row first, then the topic row.
      const created = (await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'orders' } })).body.data;
      const { audience, ...orders } = created;
      expect(await watcher.next()).toEqual(event('INSERT', 'audiences', audience));
      expect(await watcher.next()).toEqual(event('INSERT', 'topics', orders));

      // Repeats create nothing, so they announce nothing.
      await courierFetch(base, 'POST', '/v1/audience', { token });
      await courierFetch(base, 'POST', '/v1/topic', { token, body: { topic: 'orders' } });
      expect((await gql(herald.httpUrl, token, 'mutation { createAudience { id } }')).errors).toBeUndefined();
      const invoices = await gql(herald.httpUrl, token, 'mutation { createTopic(name: "invoices") { id name createdAt updatedAt } }');
      const invoice = invoices.data!.createTopic;
      expect(await watcher.next()).toEqual(
        event('INSERT', 'topics', {
          id: invoice.id,
          topic: 'invoices',
          audienceId: audience.id,
          createdAt: invoice.createdAt,
          updatedAt: invoice.updatedAt,
        }),
      );

      expect((await gql(herald.httpUrl, token, 'mutation { deleteTopic(name: "orders") }')).data).toEqual({ deleteTopic: true });
      expect(await watcher.next()).toEqual(event('DELETE', 'topics', orders));
      expect((await gql(herald.httpUrl, token, 'mutation { deleteTopic(name: "orders") }')).data).toEqual({ deleteTopic: false });
      await publish('life', 'system/events', { marker: 'after the repeats' });
      expect(await watcher.next()).toEqual({ marker: 'after the repeats' });

      // The same audience INSERT from GraphQL's createAudience.
      const fresh = await connect('life-fresh');
      await subscribeTo(fresh, 'life-fresh', 'system/*', 'system/events');
      const registered = await gql(herald.httpUrl, await tokenFor('life-fresh'), 'mutation { createAudience { id name createdAt updatedAt } }');
      expect(await fresh.next()).toEqual(event('INSERT', 'audiences', { ...registered.data!.createAudience, deletedAt: null }));

      // Nothing of `life` reached its neighbour.
      await publish('life-other', 'system/events', { marker: 'neighbour' });
      expect(await neighbour.next()).toEqual({ marker: 'neighbour' });
    });

    it("reaches GraphQL subscribers of system/events too, with a null publisher (the event is the gateway's)", async () => {
      const token = await tokenFor('life-graphql');
      const client = wsClient(herald.wsUrl, { connectionParams: { token } });
      try {
        const events = subscribe(client, 'subscription { topic(name: "system/events") { topic payload publisher } }');
        await waitForSubscribers(app, 'life-graphql', 'system/events');
        const audience = (await courierFetch(base, 'POST', '/v1/audience', { token })).body.data;
        expect((await events.next()).data).toEqual({
          topic: { topic: 'system/events', payload: event('INSERT', 'audiences', audience), publisher: null },
        });
      } finally {
        await client.dispose();
      }
    });
  });

  describe('across surfaces', () => {
    it('a courier publish reaches graphql-ws and SSE subscribers; GraphQL publishes and broadcasts reach courier sockets', async () => {
      const token = await tokenFor('cross');
      const client = wsClient(herald.wsUrl, { connectionParams: { token } });
      const sse = await openSse(herald.httpUrl, token, ON_TOPIC, { name: 'cross/news' });
      try {
        const graphql = subscribe(client, ON_TOPIC, { name: 'cross/news' });
        const graphqlBroadcasts = subscribe(client, 'subscription { broadcasts { payload } }');
        const socket = await connect('cross');
        await subscribeTo(socket, 'cross', 'cross/*', 'cross/news', 3);
        await waitForSubscribers(app, 'cross', null, 2);

        await publish('cross', 'cross/news', { via: 'hook' });
        socket.send({ action: 'publish', topic: 'cross/news', message: { via: 'frame' } });
        for (const via of ['hook', 'frame']) {
          expect((await graphql.next()).data).toEqual({ topic: { topic: 'cross/news', payload: { via } } });
          expect(await sse.next()).toEqual({ event: 'next', data: { data: { topic: { topic: 'cross/news', payload: { via } } } } });
          expect(await socket.next()).toEqual({ via });
        }

        const published = await gql(herald.httpUrl, token, 'mutation { publish(topic: "cross/news", payload: {via: "graphql", n: [1, 2]}) { id } }');
        expect(published.errors).toBeUndefined();
        expect(await socket.nextText()).toBe(JSON.stringify({ via: 'graphql', n: [1, 2] }));
        expect((await gql(herald.httpUrl, token, 'mutation { broadcast(payload: {all: "graphql"}) { id } }')).errors).toBeUndefined();
        expect(await socket.next()).toEqual({ all: 'graphql' });
        expect((await graphqlBroadcasts.next()).data).toEqual({ broadcasts: { payload: { all: 'graphql' } } });
        await hook('cross', { action: 'broadcast', message: { all: 'courier' } });
        expect((await graphqlBroadcasts.next()).data).toEqual({ broadcasts: { payload: { all: 'courier' } } });
      } finally {
        sse.abort.abort();
        await client.dispose();
      }
    });
  });
});

describe('courier without DEFAULT_SCOPES', () => {
  it("gives scope-less courier tokens only subscribe (Herald's least-privilege default), so a courier deployment must set DEFAULT_SCOPES", async () => {
    const herald = await startHerald();
    try {
      const token = await courierToken(TEST_SECRET, { aud: 'defaults' });
      const refused = await courierFetch(herald.baseUrl, 'POST', '/v1/hook', { token, body: { action: 'publish', topic: 't', message: {} } });
      expect(refused).toMatchObject({ status: 403, body: { status: 403, code: 'ESTATUS_FORBIDDEN', error: 'this needs the publish scope' } });
      expect((await courierFetch(herald.baseUrl, 'POST', '/v1/audience', { token })).status).toBe(403);
      const socket = await openCourier(courierWsUrl(herald.baseUrl, token));
      socket.send({ action: 'subscribe', topic: 't' });
      await waitForSubscribers(herald.app, 'defaults', 't');
      await socket.close();
    } finally {
      await herald.stop();
    }
  });
});

/** A Herald built like startHerald's, whose logs the test reads. */
async function startLoggedHerald(env: Record<string, string> = {}) {
  const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: '0', DATABASE_URL: ':memory:', DEFAULT_SCOPES: 'subscribe publish manage', ...env });
  const app = await createApp(config, { logger: pino({ level: 'info' }, sink) });
  const baseUrl = await app.start();
  return { app, baseUrl, config, messages: (text: string) => lines.filter((line) => line.msg.includes(text)) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('courier failures of the server side', () => {
  it('answers 503 ESERVER_UNAVAILABLE while the bus is unreachable, and keeps serving what needs no bus', async () => {
    // A Redis nobody listens on: the bus is unavailable from the start.
    const herald = await startLoggedHerald({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_PREFIX: 'courier-down' });
    try {
      const token = await courierToken(TEST_SECRET, { aud: 'down' });
      const refused = await courierFetch(herald.baseUrl, 'POST', '/v1/hook', { token, body: { action: 'broadcast', message: {} } });
      expect(refused).toMatchObject({ status: 503, body: courierError(503, 'ESERVER_UNAVAILABLE') });

      const socket = await openCourier(courierWsUrl(herald.baseUrl, token));
      socket.send({ action: 'publish', topic: 't', message: {} });
      expect(await socket.next()).toEqual(errorFrame('ESERVER_UNAVAILABLE'));
      await socket.close();

      // The store still works: the audience is registered; its lifecycle event could not go out, which is logged, not failed.
      const registered = await courierFetch(herald.baseUrl, 'POST', '/v1/audience', { token });
      expect(registered).toMatchObject({ status: 200, body: { data: { name: 'down' } } });
      expect(herald.messages('lifecycle event not published')).toHaveLength(1);
    } finally {
      await herald.app.stop();
    }
  });

  it('answers 500 ESERVER_UNKNOWN with a masked message for an unexpected failure, logs it, and serves the next request', async () => {
    const herald = await startLoggedHerald();
    try {
      const token = await courierToken(TEST_SECRET, { aud: 'broken' });
      await herald.app.services.store.close();
      const failed = await courierFetch(herald.baseUrl, 'GET', '/v1/topic', { token });
      expect(failed).toEqual({ status: 500, headers: expect.anything(), body: { status: 500, error: 'unexpected server error', code: 'ESERVER_UNKNOWN' } });
      expect(herald.messages('courier: internal error')).toHaveLength(1);
      const published = await courierFetch(herald.baseUrl, 'POST', '/v1/hook', { token, body: { action: 'publish', topic: 't', message: {} } });
      expect(published.status).toBe(200);
    } finally {
      await herald.app.stop().catch(() => {});
    }
  });
});

describe('courier with REQUIRE_DECLARED_TOPICS', () => {
  it('refuses undeclared topics with 404 ETOPIC_NOTFOUND (REST) and an ETOPIC_NOTFOUND frame (WebSocket) until POST /v1/topic declares them', async () => {
    const herald = await startHerald({ REQUIRE_DECLARED_TOPICS: 'true', DEFAULT_SCOPES: 'subscribe publish manage' });
    try {
      const token = await courierToken(TEST_SECRET, { aud: 'declared' });
      const body = { action: 'publish', topic: 'orders', message: { n: 1 } };
      expect(await courierFetch(herald.baseUrl, 'POST', '/v1/hook', { token, body })).toMatchObject({
        status: 404,
        body: courierError(404, 'ETOPIC_NOTFOUND'),
      });
      const socket = await openCourier(courierWsUrl(herald.baseUrl, token));
      socket.send({ action: 'subscribe', topic: 'orders' });
      expect(await socket.next()).toEqual(errorFrame('ETOPIC_NOTFOUND'));

      expect((await courierFetch(herald.baseUrl, 'POST', '/v1/topic', { token, body: { topic: 'orders' } })).status).toBe(200);
      socket.send({ action: 'subscribe', topic: 'orders' });
      await waitForSubscribers(herald.app, 'declared', 'orders');
      expect((await courierFetch(herald.baseUrl, 'POST', '/v1/hook', { token, body })).status).toBe(200);
      expect(await socket.next()).toEqual({ n: 1 });
      await socket.close();
    } finally {
      await herald.stop();
    }
  });
});

describe('courier connections', () => {
  it('count toward MAX_CONNECTIONS: past it the upgrade gets HTTP 503', async () => {
    const herald = await startHerald({ MAX_CONNECTIONS: '2' });
    try {
      const url = courierWsUrl(herald.baseUrl, await courierToken(TEST_SECRET, { aud: 'full' }));
      const open = [await openCourier(url), await openCourier(url)];
      expect((await upgradeRefusal(url)).status).toBe(503);
      expect((await courierFetch(herald.baseUrl, 'GET', '/v1/topic', { token: await courierToken(TEST_SECRET, { aud: 'full' }) })).status).toBe(200);
      await Promise.all(open.map((socket) => socket.close()));
    } finally {
      await herald.stop();
    }
  });

  it('are refused (403) for a token past its exp even within JWT_CLOCK_TOLERANCE, which still lets one REST request through', async () => {
    const herald = await startHerald({ JWT_CLOCK_TOLERANCE: '30' });
    try {
      const stale = await courierToken(TEST_SECRET, { aud: 'stale', exp: nowSeconds() - 5 });
      expect(await upgradeRefusal(courierWsUrl(herald.baseUrl, stale))).toEqual({ status: 403, body: courierError(403, 'ETOKEN_INVALID') });
      expect((await courierFetch(herald.baseUrl, 'GET', '/v1/topic', { token: stale })).status).toBe(200);
    } finally {
      await herald.stop();
    }
  });

  it('are closed with 1001 when the server shuts down', async () => {
    const herald = await startHerald();
    const socket = await openCourier(courierWsUrl(herald.baseUrl, await courierToken(TEST_SECRET, { aud: 'bye' })));
    socket.send({ action: 'subscribe', topic: 't' });
    await waitForSubscribers(herald.app, 'bye', 't');
    await herald.stop();
    expect(await socket.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  });

  describe('keep-alive (a surface of its own with a short ping interval)', () => {
    let herald: TestHerald;
    let server: Server;
    let url: string;
    beforeAll(async () => {
      herald = await startHerald();
      const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: '0', DATABASE_URL: ':memory:' });
      const surface = createCourierSurface(
        {
          services: herald.app.services,
          verifyToken: herald.app.verifyToken,
          limits: config.limits,
          logger: herald.app.logger,
          metrics: createMetrics(),
          sendBufferLimit: herald.app.sendBufferLimit,
          publicBaseUrl: () => herald.baseUrl,
        },
        { keepAliveMs: 40 },
      );
      server = createServer((request, response) => {
        if (!surface.handleRequest(request, response)) response.writeHead(404).end();
      });
      server.on('upgrade', (request, socket, head) => surface.handleUpgrade(request, socket, head));
      server.on('close', () => surface.close());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      url = courierWsUrl(`http://127.0.0.1:${port}`, await courierToken(TEST_SECRET, { aud: 'alive' }));
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await herald.stop();
    });

    it('pings every socket and cuts one that stops answering, while one that answers stays', async () => {
      const silent = await openCourier(url, { autoPong: false });
      const answering = await openCourier(url);
      let pings = 0;
      const thirdPing = new Promise<void>((resolve) => answering.ws.on('ping', () => ++pings === 3 && resolve()));
      // Terminated without a close frame: 1006 on the client's side.
      expect((await silent.closed).code).toBe(1006);
      await thirdPing;
      expect(answering.ws.readyState).toBe(answering.ws.OPEN);
      await answering.close();
    });
  });
});
