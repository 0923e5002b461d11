import { mkdtempSync, rmSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courierFetch, courierToken, courierWsUrl, openCourier, type CourierSocket } from './helpers/courier.js';
import { gql, startHerald, TEST_SECRET, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { connectNotiflux, makeOpensslKeyPair, notifluxWsUrl, type RawClient } from './helpers/notiflux.js';
import { openSse, type SseStream } from './helpers/sse.js';
import { subscribe, type Subscription } from './helpers/subscription.js';

/**
 * One system, not three: a message published through any surface (GraphQL, courier's POST /v1/hook,
 * a courier WebSocket publish, notiflux's POST /broadcast) reaches every matching subscriber on every
 * surface (graphql-ws, SSE, courier WebSocket, notiflux WebSocket) in the same audience, once each.
 *
 * One gateway trusting both legacy keys, configured as a migration would: courier's HS256 secret
 * (tokens with `aud`, no scope, DEFAULT_SCOPES as courier behaved) and notiflux's openssl P-256 key
 * (JWT_PUBLIC_KEY_B64; tokens with `scope` and `topics`, no `aud`, so the default audience).
 */

const AUDIENCE = 'default';
const TOPIC = 'orders/42';
const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

let keyDir: string;
let notifluxKey: KeyObject;
let publicKeyB64: string;
let herald: TestHerald;

const notifluxToken = (scope: 'subscribe' | 'broadcast'): Promise<string> =>
  new SignJWT({ sub: 'legacy-app', exp: Math.floor(Date.now() / 1000) + 300, topics: [TOPIC], scope })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .sign(notifluxKey);

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'herald-cross-'));
  ({ privateKey: notifluxKey, publicKeyB64 } = makeOpensslKeyPair(keyDir));
  herald = await startHerald({ JWT_PUBLIC_KEY_B64: publicKeyB64, DEFAULT_SCOPES: 'subscribe publish manage' });
});
afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await herald?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

/** A receiving surface: how it subscribes, and its next delivered payload. */
interface Receiver {
  readonly name: string;
  next(): Promise<unknown>;
  close(): Promise<void>;
}

async function openReceivers(): Promise<Receiver[]> {
  const graphqlToken = await token({ audience: AUDIENCE, scopes: ['subscribe'] });

  const client = wsClient(herald.wsUrl, { connectionParams: { token: graphqlToken } });
  const graphqlWs: Subscription<any> = subscribe(client, ON_TOPIC, { name: TOPIC });

  const sse: SseStream = await openSse(herald.httpUrl, graphqlToken, ON_TOPIC, { name: TOPIC });

  const courier: CourierSocket = await openCourier(courierWsUrl(herald.baseUrl, await courierToken(TEST_SECRET, { aud: AUDIENCE })));
  courier.send({ action: 'subscribe', topic: TOPIC });

  const notiflux: RawClient = await connectNotiflux(notifluxWsUrl(herald));
  notiflux.send(`/subscribe ${TOPIC} ${await notifluxToken('subscribe')}`);

  await waitForSubscribers(herald.app, AUDIENCE, TOPIC, 4);
  return [
    { name: 'graphql-ws', next: async () => (await graphqlWs.next()).data?.topic.payload, close: () => client.dispose() as Promise<void> },
    {
      name: 'SSE',
      async next() {
        for (;;) {
          const event = await sse.next();
          if (event === null) throw new Error('SSE stream ended');
          if (event.event === 'next') return event.data.data.topic.payload;
        }
      },
      close: async () => sse.abort.abort(),
    },
    // courier delivers the message's JSON text, exactly.
    { name: 'courier WS', next: async () => JSON.parse(await courier.nextText()), close: () => courier.close() },
    {
      name: 'notiflux WS',
      // notiflux delivers a string as the bare string and anything else as its JSON text.
      async next() {
        const frame = await notiflux.next();
        return frame.startsWith('{') ? JSON.parse(frame) : frame;
      },
      close: () => notiflux.close(),
    },
  ];
}

/** A publishing surface: publishes a payload to TOPIC in AUDIENCE and resolves once the surface accepted it. */
interface Publisher {
  readonly name: string;
  /** What this surface's publishers typically send (notiflux messages are strings). */
  readonly payload: unknown;
  publish(payload: unknown): Promise<void>;
}

async function publishers(): Promise<Publisher[]> {
  const courierPublisher = await courierToken(TEST_SECRET, { aud: AUDIENCE });
  const courierSocket = await openCourier(courierWsUrl(herald.baseUrl, courierPublisher));
  return [
    {
      name: 'GraphQL publish',
      payload: { via: 'graphql' },
      async publish(payload) {
        const response = await gql(herald.httpUrl, await token({ audience: AUDIENCE, scopes: ['publish'] }), PUBLISH, { topic: TOPIC, payload });
        expect(response.errors).toBeUndefined();
      },
    },
    {
      name: 'POST /v1/hook',
      payload: { via: 'courier hook' },
      async publish(payload) {
        const response = await courierFetch(herald.baseUrl, 'POST', '/v1/hook', {
          token: courierPublisher,
          body: { action: 'publish', topic: TOPIC, message: payload },
        });
        expect(response.status).toBe(200);
      },
    },
    {
      name: 'courier WS publish',
      payload: { via: 'courier socket' },
      // courier answers a good publish with silence; the receivers' next() is the acknowledgement.
      async publish(payload) {
        courierSocket.send({ action: 'publish', topic: TOPIC, message: payload });
      },
    },
    {
      name: 'POST /broadcast',
      payload: 'via notiflux broadcast',
      async publish(payload) {
        const response = await fetch(`${herald.baseUrl}/broadcast`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: TOPIC, message: payload, token: await notifluxToken('broadcast') }),
        });
        expect(response.status).toBe(200);
      },
    },
  ];
}

describe('cross-surface delivery', () => {
  it('every publishing surface reaches every receiving surface, exactly once', async () => {
    const receivers = await openReceivers();
    const senders = await publishers();
    try {
      const seen: Record<string, unknown[]> = Object.fromEntries(receivers.map((receiver) => [receiver.name, []]));
      for (const sender of senders) {
        await sender.publish(sender.payload);
        // Each receiver's next delivery must be this publisher's message: nothing lost, nothing doubled before it.
        for (const receiver of receivers) seen[receiver.name]!.push(await receiver.next());
      }
      // A sentinel behind everything: a duplicate of any earlier message would arrive before it.
      await senders[0]!.publish('sentinel');
      for (const receiver of receivers) seen[receiver.name]!.push(await receiver.next());

      const expected = [...senders.map((sender) => sender.payload), 'sentinel'];
      expect(seen).toEqual(Object.fromEntries(receivers.map((receiver) => [receiver.name, expected])));
    } finally {
      for (const receiver of receivers) await receiver.close();
    }
  });
});
