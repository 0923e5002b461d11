import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { es256KidKey, nowSeconds } from './helpers/auth-fixtures.js';
import { courierWsUrl } from './helpers/courier.js';
import { startHerald, type TestHerald } from './helpers/herald.js';

/**
 * MAX_CONNECTIONS is checked when an upgrade arrives, but a courier socket is only counted once its
 * `?token=` has been verified. With JWKS_URL, verification can wait on a fetch of the key set (the
 * first tokens after a start, a new kid): every upgrade arriving meanwhile saw room, as after a
 * restart when every client reconnects at once. The key set's answer is held here until release.
 */

const MAX_CONNECTIONS = 2;
const ATTEMPTS = 5;

interface HeldJwks {
  readonly url: string;
  /** Resolves when the gateway has asked for the key set. */
  readonly requested: Promise<void>;
  release(): void;
  stop(): Promise<void>;
}

async function startHeldJwks(body: string): Promise<HeldJwks> {
  let requestedNow: () => void = () => {};
  const requested = new Promise<void>((resolve) => (requestedNow = resolve));
  let released = false;
  const waiting: Array<() => void> = [];
  const server: Server = createServer((_request, response) => {
    const answer = (): void => void response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    requestedNow();
    if (released) answer();
    else waiting.push(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    requested,
    release() {
      released = true;
      for (const answer of waiting.splice(0)) answer();
    },
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Opens a courier socket: 'open', or the HTTP status that refused the upgrade. */
function attempt(url: string): { outcome: Promise<number | 'open'>; socket: WebSocket } {
  const socket = new WebSocket(url);
  socket.on('error', () => {});
  const outcome = new Promise<number | 'open'>((resolve) => {
    socket.once('open', () => resolve('open'));
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
  });
  return { outcome, socket };
}

describe('MAX_CONNECTIONS with upgrades still being verified', () => {
  const key = es256KidKey('held-1');
  let jwks: HeldJwks;
  let herald: TestHerald;

  beforeAll(async () => {
    jwks = await startHeldJwks(JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: 'ES256', use: 'sig' }] }));
    herald = await startHerald({ JWT_SECRET: '', JWKS_URL: jwks.url, MAX_CONNECTIONS: String(MAX_CONNECTIONS) });
  });
  afterAll(async () => {
    await herald.stop();
    await jwks.stop();
  });

  it('counts courier upgrades waiting for their token check: past the limit they get 503', async () => {
    const token = await key.sign({ aud: 'limit', scope: 'subscribe', exp: nowSeconds() + 300 });
    const attempts = Array.from({ length: ATTEMPTS }, () => attempt(courierWsUrl(herald.baseUrl, token)));
    await jwks.requested;
    // Every upgrade has reached the gateway once a later request on another connection has been answered.
    expect((await fetch(`${herald.baseUrl}/health`)).status).toBe(200);
    jwks.release();
    const outcomes = await Promise.all(attempts.map((each) => each.outcome));
    expect(outcomes.filter((outcome) => outcome === 'open')).toHaveLength(MAX_CONNECTIONS);
    expect(outcomes.filter((outcome) => outcome !== 'open')).toEqual(Array.from({ length: ATTEMPTS - MAX_CONNECTIONS }, () => 503));
    for (const { socket } of attempts) socket.terminate();
  });
});
