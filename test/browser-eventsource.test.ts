import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { until } from './helpers/until.js';
import { hasChromium, launchChromium } from './helpers/browser.js';

/**
 * A real browser's EventSource against GraphQL over SSE: the URL carries the query and a
 * signSubscription token (EventSource cannot set headers); the test cuts the TCP connection, messages
 * are published meanwhile, and the browser reconnects on its own with Last-Event-ID. The page must
 * end with every message exactly once, in order. Needs /usr/bin/chromium (CI installs the Debian package).
 */

const SIGNING_SECRET = 'browser-test-signing-secret-0123456789';
const SIGN = 'mutation ($topics: [String!]) { signSubscription(topics: $topics) { token } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const SUBSCRIBE = 'subscription { topic(name: "live/feed") { id payload } }';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>herald eventsource</title></head><body><script>
  window.received = [];
  window.opens = 0;
  window.start = (url) => {
    const source = new EventSource(url);
    source.onopen = () => window.opens++;
    source.addEventListener('next', (event) => {
      window.received.push({ lastEventId: event.lastEventId, result: JSON.parse(event.data) });
    });
  };
</script></body></html>`;

/** A TCP proxy of the test's own in front of Herald: the test can cut every connection, and sees each request's head. */
interface CuttingProxy {
  readonly port: number;
  /** The head (request line and headers) of every request seen, in order. */
  readonly heads: string[];
  cut(): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<CuttingProxy> {
  const open = new Set<Socket>();
  const heads: string[] = [];
  const server: Server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1');
    open.add(client).add(upstream);
    let head = '';
    client.on('data', (chunk: Buffer) => {
      if (!head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) heads.push(head.slice(0, head.indexOf('\r\n\r\n')));
      }
    });
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    heads,
    cut: () => {
      for (const socket of open) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.runIf(hasChromium)('browser EventSource', () => {
  let herald: TestHerald;
  let browser: Browser;
  let proxy: CuttingProxy;
  beforeAll(async () => {
    herald = await startHerald({ SIGNING_SECRET });
    proxy = await startProxy(Number(new URL(herald.baseUrl).port));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser.close();
    await proxy.close();
    await herald.stop();
  });

  it('reconnects on its own after the server side cut the stream, with Last-Event-ID, and ends with every message once', async () => {
    const audience = 'browser';
    const manager = await token({ audience, scopes: ['manage'], topics: ['live/*'] });
    const publisher = await token({ audience, scopes: ['publish'] });
    const signed = await gql<{ signSubscription: { token: string } }>(herald.httpUrl, manager, SIGN, { topics: ['live/feed'] });
    expect(signed.errors).toBeUndefined();
    const origin = `http://127.0.0.1:${proxy.port}`;
    const streamUrl = `${origin}/graphql?query=${encodeURIComponent(SUBSCRIBE)}&token=${encodeURIComponent(signed.data!.signSubscription.token)}`;

    const page = await browser.newPage();
    // The page is the test's, on the proxy's origin, so EventSource is same-origin and needs no CORS.
    await page.route(`${origin}/page.html`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto(`${origin}/page.html`);
    const publish = async (n: number): Promise<string> => {
      const response = await gql<{ publish: { id: string } }>(herald.httpUrl, publisher, PUBLISH, { topic: 'live/feed', payload: n });
      expect(response.errors).toBeUndefined();
      return response.data!.publish.id;
    };
    const received = () => page.evaluate(() => (window as unknown as { received: Array<{ lastEventId: string; result: any }> }).received);

    await page.evaluate((url) => (window as unknown as { start: (url: string) => void }).start(url), streamUrl);
    await waitForSubscribers(herald.app, audience, 'live/feed');
    const ids = [await publish(1), await publish(2)];
    await until(async () => (await received()).length === 2, 'the first two messages in the page');

    const started = Date.now();
    proxy.cut();
    await waitForSubscribers(herald.app, audience, 'live/feed', 0);
    // Published while the browser has no stream.
    ids.push(await publish(3), await publish(4), await publish(5));
    await waitForSubscribers(herald.app, audience, 'live/feed');
    await until(async () => (await received()).length === 5, 'the replay after the reconnect', 15_000);
    const reconnectMs = Date.now() - started;
    ids.push(await publish(6));
    await until(async () => (await received()).length === 6, 'the live message after the reconnect');

    const events = await received();
    expect(events.map((event) => event.result.data.topic.payload)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events.map((event) => event.lastEventId)).toEqual(ids);
    expect(events.map((event) => event.result.data.topic.id)).toEqual(ids);
    expect(await page.evaluate(() => (window as unknown as { opens: number }).opens)).toBe(2);
    // The second request is the browser's own reconnect, carrying the last id it saw.
    const streamHeads = proxy.heads.filter((head) => head.startsWith('GET /graphql?'));
    expect(streamHeads).toHaveLength(2);
    expect(streamHeads[0]).not.toMatch(/^last-event-id:/im);
    expect(streamHeads[1]).toMatch(new RegExp(`^last-event-id: ${ids[1]}$`, 'im'));
    console.info(`browser EventSource: reconnected and caught up in ${reconnectMs} ms`);
    await page.close();
  });
});
