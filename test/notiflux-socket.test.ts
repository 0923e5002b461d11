import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/mint-token.js';
import { createNotifluxSockets, IDLE_CLOSE_CODE, type NotifluxSockets } from '../src/compat/notiflux/socket.js';
import { loadConfig } from '../src/config.js';
import { startHerald, TEST_SECRET, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { until } from './helpers/until.js';

/**
 * The notiflux socket module's timers (ping every 15 s, close after 30 s of silence) with short
 * values. createApp builds the surface with notiflux's defaults, so here the module runs on a plain
 * HTTP server of its own on port 0, built from a real app's parts (verifier, fan-out, publish service,
 * send buffer limit); clients are plain `ws` WebSockets.
 */
const PING_MS = 40;
const IDLE_MS = 200;

describe('notiflux sockets: keep-alive', () => {
  let herald: TestHerald;
  let sockets: NotifluxSockets;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    herald = await startHerald();
    const { limits } = loadConfig({ JWT_SECRET: TEST_SECRET });
    sockets = createNotifluxSockets(
      {
        services: herald.app.services,
        verifyToken: herald.app.verifyToken,
        limits,
        logger: herald.app.logger,
        metrics: createMetrics(),
        sendBufferLimit: herald.app.sendBufferLimit,
        publicBaseUrl: () => herald.baseUrl,
      },
      { pingIntervalMs: PING_MS, idleTimeoutMs: IDLE_MS },
    );
    server = createServer((_request, response) => response.writeHead(404).end());
    server.on('upgrade', (request, socket, head) => sockets.handleUpgrade(request, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  });
  afterAll(async () => {
    sockets.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await herald.stop();
  });

  const open = async (options: WebSocket.ClientOptions = {}) => {
    const ws = new WebSocket(url, options);
    const closed = new Promise<{ code: number; at: number }>((resolve) => ws.on('close', (code) => resolve({ code, at: Date.now() })));
    await new Promise((resolve) => ws.once('open', resolve));
    return { ws, closed, openedAt: Date.now() };
  };

  const subscribeToken = async (topic: string) => (await mintToken({ secret: TEST_SECRET }, { ttlSeconds: 60, scopes: ['subscribe'], topics: [topic] })).token;

  it('pings every interval, and a client that answers the pings stays open and subscribed however long it says nothing', async () => {
    const { ws, closed } = await open();
    let pings = 0;
    ws.on('ping', () => pings++);
    ws.send(`/subscribe keepalive ${await subscribeToken('keepalive')}`);
    await waitForSubscribers(herald.app, 'default', 'keepalive');
    // ws answers each ping with a pong by itself: many idle timeouts pass, the socket stays.
    await new Promise<void>((resolve) => ws.on('ping', () => pings >= (IDLE_MS / PING_MS) * 4 && resolve()));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(sockets.connections).toBe(1);
    expect(herald.app.fanout.subscriberCount('default', 'keepalive')).toBe(1);
    ws.close();
    await closed;
    await waitForSubscribers(herald.app, 'default', 'keepalive', 0);
  });

  it('closes a silent connection (no frame, no pong) with 4408 after the idle timeout and drops its subscriptions', async () => {
    const { ws, closed } = await open({ autoPong: false });
    const token = await subscribeToken('silent');
    const sentAt = Date.now();
    ws.send(`/subscribe silent ${token}`);
    await waitForSubscribers(herald.app, 'default', 'silent');
    const { code, at } = await closed;
    expect(code).toBe(IDLE_CLOSE_CODE);
    // Silence counts from the last frame; the check runs at each ping, so it is seen up to one interval
    // late (plus scheduling slack on a loaded machine).
    expect(at - sentAt).toBeGreaterThanOrEqual(IDLE_MS);
    expect(at - sentAt).toBeLessThan(IDLE_MS + PING_MS + 400);
    await waitForSubscribers(herald.app, 'default', 'silent', 0);
    // The server counts the socket until its side of the close is done, a moment after the client's.
    await until(() => sockets.connections === 0, 'the server to finish closing');
  });

  it('counts any frame from the client as not silent: text that is not a command, or a ping', async () => {
    const talking = await open({ autoPong: false });
    const pinging = await open({ autoPong: false });
    const start = Date.now();
    // Each says something every half idle timeout for four idle timeouts, without ever answering a ping.
    while (Date.now() - start < IDLE_MS * 4) {
      talking.ws.send('still here');
      pinging.ws.ping();
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 2));
    }
    expect(talking.ws.readyState).toBe(WebSocket.OPEN);
    expect(pinging.ws.readyState).toBe(WebSocket.OPEN);
    // Then silence: both are closed.
    expect((await talking.closed).code).toBe(IDLE_CLOSE_CODE);
    expect((await pinging.closed).code).toBe(IDLE_CLOSE_CODE);
  });
});
