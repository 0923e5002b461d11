import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from 'graphql-ws';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../src/console/console-pages.js';
import { hasChromium, launchChromium, openOfflinePage } from './helpers/browser.js';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

/**
 * The operator's console (src/console/): its files over HTTP, then the page itself in Chromium with
 * no network but 127.0.0.1, driven as an operator would, against a real gateway, a real graphql-ws
 * subscriber and the real curl.
 */

const run = promisify(execFile);

describe('console over HTTP', () => {
  let herald: TestHerald;
  let off: TestHerald;
  beforeAll(async () => {
    [herald, off] = await Promise.all([startHerald({ CONSOLE: 'on' }), startHerald({ CONSOLE: 'off' })]);
  });
  afterAll(async () => {
    await Promise.all([herald.stop(), off.stop()]);
  });

  it('serves the page under a strict CSP, revalidated on every visit', async () => {
    const response = await fetch(`${herald.baseUrl}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toContain('<script src="/console/graphql-ws.js" defer></script>');
    expect(html).toContain('<script type="module" src="/console/console.js"></script>');
    // Nothing from another origin, nothing inline for the CSP to refuse.
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style|style=/);

    const etag = response.headers.get('etag')!;
    const again = await fetch(`${herald.baseUrl}/console`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it("serves graphql-ws's browser bundle, the script and the style sheet, each as what it is", async () => {
    const bundle = await fetch(`${herald.baseUrl}/console/graphql-ws.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(bundle.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    const text = await bundle.text();
    expect(text).toContain('graphqlWs');
    expect(text).toContain('createClient');
    const script = await fetch(`${herald.baseUrl}/console/console.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('window.graphqlWs.createClient');
    const style = await fetch(`${herald.baseUrl}/console/console.css`);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${herald.baseUrl}/console/console.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 404 for any other path under /console, as for any unknown path', async () => {
    for (const path of ['/console/x', '/console/console.html', '/console/console-pages.ts', '/console/../package.json', '/consoles']) {
      expect((await fetch(`${herald.baseUrl}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${herald.baseUrl}/nowhere`)).status).toBe(404);
  });

  it('is not served when CONSOLE is off', async () => {
    for (const path of ['/console', '/console/console.js', '/console/graphql-ws.js']) {
      const response = await fetch(`${off.baseUrl}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-security-policy')).toBeNull();
    }
  });
});

/** How long one step of a browser test may take (Playwright's own default, 30 s, is past the test's timeout). */
const STEP_MS = 5_000;

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

describe.runIf(hasChromium)('console in Chromium', () => {
  const audience = 'console';
  const topic = 'orders/42';
  let herald: TestHerald;
  let browser: Browser;
  let subscriber: Client | undefined;
  beforeAll(async () => {
    [herald, browser] = await Promise.all([startHerald(), launchChromium()]);
  });
  afterAll(async () => {
    await subscriber?.dispose();
    await browser.close();
    await herald.stop();
  });

  /** The server counts `count` subscribers of the topic; bounded, so a failure still reaches the test's finally (and its screenshot). */
  const counted = async (count: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server never counted ${count} subscribers of ${topic}`)), STEP_MS);
    });
    try {
      await Promise.race([waitForSubscribers(herald.app, audience, topic, count), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** The subscriber count the page shows for `name`, once it reads `count`. */
  const subscriberCountShown = (page: Page, name: string, count: number) =>
    page.locator(`#topics tr[data-topic="${name}"] td.count`, { hasText: new RegExp(`^${count}$`) }).waitFor();

  it('shows a subscriber arriving, tails what curl publishes, publishes what a subscriber receives, and charts the rate', async () => {
    const operator = await token({ audience, subject: 'operator', scopes: ['manage', 'publish', 'subscribe'] });
    const created = await gql(herald.httpUrl, operator, 'mutation ($name: String!) { createTopic(name: $name) { name } }', { name: topic });
    expect(created.errors).toBeUndefined();
    const offline = await openOfflinePage(browser);
    const { page } = offline;
    page.setDefaultTimeout(STEP_MS);
    try {
      await page.goto(`${herald.baseUrl}/console#token=${operator}`);
      // The token left the address bar for session storage.
      expect(page.url()).toBe(`${herald.baseUrl}/console`);
      await page.locator('#viewer', { hasText: 'audience console' }).waitFor();
      // The chart's own subscription to every topic (`**`) is the first subscriber the page counts.
      await counted(1);
      await subscriberCountShown(page, topic, 1);

      subscriber = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${await token({ audience, scopes: ['subscribe'] })}` } });
      const received = subscribe<{ topic: { id: string; payload: unknown } }>(subscriber, `subscription { topic(name: "${topic}") { id payload } }`);
      await counted(2);
      await subscriberCountShown(page, topic, 2);
      await offline.screenshot('console-subscribers');

      await page.fill('#tail-topic', 'orders/*');
      await page.click('#tail-form button[type=submit]');
      await counted(3);
      const publisher = await token({ audience, scopes: ['publish'] });
      const { stdout } = await run('curl', [
        '-sS',
        herald.httpUrl,
        '-H',
        'content-type: application/json',
        '-H',
        `authorization: Bearer ${publisher}`,
        '-d',
        JSON.stringify({ query: PUBLISH, variables: { topic, payload: { from: 'curl', n: 1 } } }),
      ]);
      const fromCurl = (JSON.parse(stdout) as { data: { publish: { id: string } } }).data.publish.id;
      const tailed = page.locator(`#tail tbody tr[data-id="${fromCurl}"]`);
      await tailed.waitFor();
      expect(await tailed.locator('td').allTextContents()).toEqual([expect.any(String), topic, fromCurl, '{"from":"curl","n":1}']);
      expect((await received.next()).data?.topic).toEqual({ id: fromCurl, payload: { from: 'curl', n: 1 } });

      await page.fill('#publish-topic', topic);
      await page.fill('#publish-payload', 'not json');
      await page.click('#publish-form button[type=submit]');
      await page.locator('#publish-result', { hasText: 'The payload is not JSON' }).waitFor();
      await page.fill('#publish-payload', '{"from": "console"}');
      await page.click('#publish-form button[type=submit]');
      const fromPage = (await received.next()).data!.topic;
      expect(fromPage.payload).toEqual({ from: 'console' });
      await page.locator('#publish-result', { hasText: `id ${fromPage.id}` }).waitFor();
      // Newest first.
      await page.locator(`#tail tbody tr:first-child[data-id="${fromPage.id}"]`).waitFor();

      // Two messages arrived on the chart's subscription; the chart redraws every second.
      await page.waitForFunction(
        () => [...document.querySelectorAll<SVGElement>('#chart rect.bar')].reduce((sum, bar) => sum + Number(bar.dataset.count), 0) >= 2,
      );
      await offline.screenshot('console-live');
      expect(offline.offsite).toEqual([]);
      expect(offline.errors).toEqual([]);
    } finally {
      await offline.screenshot('console-end');
      await offline.close();
    }
  });

  it('without the subscribe scope, says FORBIDDEN in the chart and the tail, counts nothing, and stays connected', async () => {
    const manager = await token({ audience, subject: 'publisher-only', scopes: ['manage', 'publish'] });
    const offline = await openOfflinePage(browser);
    const { page } = offline;
    page.setDefaultTimeout(STEP_MS);
    try {
      await page.goto(`${herald.baseUrl}/console#token=${manager}`);
      await page.locator('#viewer', { hasText: 'audience console' }).waitFor();
      await page.locator('#rate-error', { hasText: 'FORBIDDEN: this needs the subscribe scope' }).waitFor();
      await page.fill('#tail-topic', topic);
      await page.click('#tail-form button[type=submit]');
      await page.locator('#tail-error', { hasText: 'FORBIDDEN' }).waitFor();
      await page.locator('#tail-state', { hasText: `Stopped tailing ${topic}.` }).waitFor();
      // After the next redraw (it replaces the chart's elements), the refusals were not counted as messages.
      const axis = await page.locator('#chart line.axis').elementHandle();
      await page.waitForFunction((element) => !element.isConnected, axis);
      expect(await page.locator('#chart rect.bar').count()).toBe(0);
      expect(await page.locator('#rate-summary').textContent()).toContain('· 0 in the last 5 minutes');
      await page.locator('#status', { hasText: 'connected' }).waitFor();
      await offline.screenshot('console-no-subscribe');
      expect(offline.offsite).toEqual([]);
      expect(offline.errors).toEqual([]);
    } finally {
      await offline.close();
    }
  });

  it('names what is wrong with the token: UNAUTHENTICATED for a bad one, FORBIDDEN without manage', async () => {
    const offline = await openOfflinePage(browser);
    const { page } = offline;
    page.setDefaultTimeout(STEP_MS);
    try {
      await page.goto(`${herald.baseUrl}/console`);
      await page.fill('#token', 'not-a-token');
      await page.click('#token-form button[type=submit]');
      await page.locator('#error', { hasText: /^UNAUTHENTICATED \(close code 4401\): / }).waitFor();
      await offline.screenshot('console-unauthenticated');

      await page.fill('#token', await token({ audience, scopes: ['subscribe'] }));
      await page.click('#token-form button[type=submit]');
      await page.locator('#error', { hasText: 'FORBIDDEN: this needs the manage scope' }).waitFor();
      await offline.screenshot('console-forbidden');
      // A reload keeps the token (session storage) and so the same answer.
      await page.reload();
      await page.locator('#error', { hasText: 'FORBIDDEN: this needs the manage scope' }).waitFor();
      expect(offline.offsite).toEqual([]);
      expect(offline.errors).toEqual([]);
    } finally {
      await offline.close();
    }
  });
});
