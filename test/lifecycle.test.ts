import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { subscribe } from './helpers/subscription.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

describe('health and readiness', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('GET /health answers 200 without a token', async () => {
    const response = await fetch(`${herald.baseUrl}/health`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  });

  it('GET /ready answers 200 without a token while the store answers', async () => {
    const response = await fetch(`${herald.baseUrl}/ready`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  });

  it("keeps an idle keep-alive connection open past Node's 5 s default, for load balancers that reuse it", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(`${herald.baseUrl}/health`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get()).toEqual({ status: 200, reused: false });
      // The idle time is what is under test: past Node's 5 s default (closed by 6 s), well inside KEEP_ALIVE_TIMEOUT_MS.
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      expect(await get()).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  }, 20_000);
});

describe('readiness follows the store', () => {
  it('GET /ready fails once the store cannot be reached, while /health stays 200', async () => {
    const herald = await startHerald();
    try {
      await herald.app.services.store.close();
      const ready = await fetch(`${herald.baseUrl}/ready`);
      expect(ready.status).toBeGreaterThanOrEqual(500);
      await ready.arrayBuffer();
      const health = await fetch(`${herald.baseUrl}/health`);
      expect(health.status).toBe(200);
      await health.arrayBuffer();
    } finally {
      await herald.stop().catch(() => {});
    }
  });
});

describe('in-process stop()', () => {
  it('closes open WebSockets with 1001 and stops listening', async () => {
    const herald = await startHerald();
    const audience = 'lifecycle-stop';
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
    const sub = subscribe(client, ON_TOPIC, { name: 'events' });
    await waitForSubscribers(herald.app, audience, 'events');
    await herald.stop();
    expect(await closed).toBe(1001);
    expect(await sub.ended).toEqual({ error: expect.objectContaining({ code: 1001 }) });
    await expect(fetch(`${herald.baseUrl}/health`)).rejects.toThrow();
    // Idempotent.
    await herald.stop();
    await client.dispose();
  });
});

describe('graceful shutdown of the real process', () => {
  let scratch: string;
  let herald: HeraldProcess | undefined;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'herald-lifecycle-'));
  });
  afterAll(async () => {
    await herald?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('on SIGTERM closes WebSockets with 1001 and exits 0', async () => {
    const port = await freePort();
    herald = await startHeraldProcess({ PORT: String(port) }, scratch);
    const { baseUrl, child } = herald;
    // The banner names the configured port.
    expect(baseUrl).toBe(`http://127.0.0.1:${port}`);
    const health = await fetch(`${baseUrl}/health`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();

    const audience = 'lifecycle-sigterm';
    const publisher = await token({ audience, scopes: ['publish', 'manage'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
    const sub = subscribe(client, ON_TOPIC, { name: 'events' });

    // Another process: no fan-out to wait on, so ask the gateway until it counts the subscriber.
    expect((await gql(herald.httpUrl, publisher, 'mutation { createTopic(name: "events") { name } }')).errors).toBeUndefined();
    for (;;) {
      const counted = await gql(herald.httpUrl, publisher, '{ topic(name: "events") { subscriberCount } }');
      if (counted.data?.topic?.subscriberCount === 1) break;
      expect(child.exitCode).toBeNull();
    }
    const sent = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'events', payload: { live: true } });
    expect(sent.errors).toBeUndefined();
    expect((await sub.next()).data).toEqual({ topic: { id: sent.data!.publish.id, payload: { live: true } } });

    expect(child.kill('SIGTERM')).toBe(true);
    expect(await closed).toBe(1001);
    expect(await herald.exited).toEqual({ code: 0, signal: null });
    expect(herald.stderr()).toBe('');
    await client.dispose();
  });
});

/** A port nobody listens on right now (the OS picks it; closed again before Herald binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
