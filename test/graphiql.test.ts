import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_AUDIENCE, DEMO_TOPIC } from '../src/cli/serve.js';
import { hasChromium, launchChromium, openOfflinePage, type OfflinePage } from './helpers/browser.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { gql, startHerald, token, type TestHerald } from './helpers/herald.js';
import { until } from './helpers/until.js';

/**
 * GraphiQL works with no internet: the page carries GraphiQL (@graphql-yoga/render-graphiql) instead
 * of loading it from a CDN, under a Content-Security-Policy that allows only what it needs.
 */

const PAGE_REQUEST = { headers: { accept: 'text/html' } };

/** The policy's directives by name: `script-src 'sha256-…'` → { 'script-src': ["'sha256-…'"] }. */
function directives(policy: string): Record<string, string[]> {
  return Object.fromEntries(
    policy.split(';').map((directive) => {
      const [name, ...sources] = directive.trim().split(/\s+/);
      return [name!, sources];
    }),
  );
}

describe('GraphiQL over HTTP', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('is a page that loads nothing from elsewhere, under a policy that allows only what it needs', async () => {
    const response = await fetch(herald.httpUrl, PAGE_REQUEST);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toContain('<title>Herald</title>');
    // Yoga's own page loads its scripts and styles from unpkg.
    expect(html).not.toMatch(/https?:\/\/[^"'\s]*(unpkg|cdn|jsdelivr)/i);
    expect(html).not.toMatch(/<(script|link)\b[^>]*\b(src|href)=["']?(https?:)?\/\//i);

    expect(directives(response.headers.get('content-security-policy') ?? '')).toEqual({
      'default-src': ["'none'"],
      'script-src': [expect.stringMatching(/^'sha256-[A-Za-z0-9+/]{43}='$/)],
      'worker-src': ['blob:'],
      'style-src': ["'unsafe-inline'"],
      'img-src': ['data:'],
      'font-src': ['data:'],
      'connect-src': ["'self'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('vary')).toBe('Accept, Accept-Encoding');
  });

  it('is gzipped for a browser that accepts it, and the same page', async () => {
    const plain = await fetch(herald.httpUrl, { headers: { ...PAGE_REQUEST.headers, 'accept-encoding': 'identity' } });
    const gzipped = await fetch(herald.httpUrl, { headers: { ...PAGE_REQUEST.headers, 'accept-encoding': 'gzip, deflate, br' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    expect(Number(gzipped.headers.get('content-length'))).toBeLessThan(Number(plain.headers.get('content-length')) / 2);
    // fetch decodes the gzip.
    expect(await gzipped.text()).toBe(await plain.text());
  });

  it('the policy is on the page only', async () => {
    const response = await fetch(herald.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token({ audience: 'a', scopes: ['subscribe'] })}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBeNull();
  });

  it('GRAPHIQL=off: no page', async () => {
    const off = await startHerald({ GRAPHIQL: 'off' });
    try {
      const response = await fetch(off.httpUrl, PAGE_REQUEST);
      expect(response.status).toBe(406);
      expect(response.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect(response.headers.get('content-security-policy')).toBeNull();
      expect(await response.text()).not.toContain('<html');
    } finally {
      await off.stop();
    }
  });
});

/**
 * What a developer gets from `npm start` (the real CLI process, its demo token and subscription in
 * GraphiQL) in Chromium that can reach 127.0.0.1 only: the subscription runs from GraphiQL's run
 * button and a message published with curl shows in the result pane.
 */
describe.runIf(hasChromium)('GraphiQL in Chromium, offline', () => {
  let herald: HeraldProcess;
  let browser: Browser;
  let offline: OfflinePage;
  beforeAll(async () => {
    [herald, browser] = await Promise.all([startHeraldProcess({}), launchChromium()]);
    offline = await openOfflinePage(browser);
  });
  /** A screenshot, pass or fail, and what the page tried elsewhere or reported (a blank page says nothing else). */
  const evidence = async (name: string): Promise<void> => {
    const path = await offline.screenshot(name);
    if (offline.offsite.length > 0 || offline.errors.length > 0) console.warn({ screenshot: path, offsite: offline.offsite, errors: offline.errors });
  };
  afterAll(async () => {
    await offline.close();
    await browser.close();
    await herald.stop();
  });

  it('loads with nothing from elsewhere and no policy violation, pre-filled with the demo subscription', async () => {
    const { page } = offline;
    try {
      const response = await page.goto(herald.httpUrl);
      await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
      await page.locator('.graphiql-execute-button').waitFor();
      expect(offline.offsite).toEqual([]);
      expect(offline.errors).toEqual([]);
      // It ran under the policy.
      expect(response?.status()).toBe(200);
      expect(await response?.headerValue('content-security-policy')).toMatch(/script-src 'sha256-/);
      // Monaco shows spaces as no-break spaces.
      const query = (await page.locator('.graphiql-query-editor').innerText()).replaceAll('\u00a0', ' ');
      expect(query).toContain(`topic(name: "${DEMO_TOPIC}")`);
    } finally {
      await evidence('graphiql-loaded');
    }
  }, 60_000);

  it('runs the pre-filled subscription; a message published with curl appears in the result pane', async () => {
    const { page } = offline;
    const manager = await token({ audience: DEMO_AUDIENCE, scopes: ['manage', 'publish'] });
    const marker = `offline-${randomUUID()}`;
    try {
      // Declared, so the gateway can say how many subscribe to it.
      expect(
        (await gql(herald.httpUrl, manager, 'mutation ($name: String!) { createTopic(name: $name) { id } }', { name: DEMO_TOPIC })).errors,
      ).toBeUndefined();
      await page.locator('.graphiql-execute-button').click();
      // Another process: no fan-out to listen to, so ask it.
      await until(async () => (await subscriberCount(herald.httpUrl, manager)) === 1, 'GraphiQL to subscribe');

      const publish = {
        query: 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }',
        variables: { topic: DEMO_TOPIC, payload: { hello: marker } },
      };
      const { stdout } = await promisify(execFile)('curl', [
        '--silent',
        '--show-error',
        '--fail',
        herald.httpUrl,
        '-H',
        'content-type: application/json',
        '-H',
        `authorization: Bearer ${manager}`,
        '-d',
        JSON.stringify(publish),
      ]);
      expect(JSON.parse(stdout)).toMatchObject({ data: { publish: { id: expect.any(String) } } });

      await page.waitForFunction((text) => document.querySelector<HTMLElement>('.graphiql-response')?.innerText.includes(text), marker);
      expect(offline.offsite).toEqual([]);
      expect(offline.errors).toEqual([]);
    } finally {
      await evidence('graphiql-result');
    }
  }, 60_000);
});

async function subscriberCount(url: string, manager: string): Promise<number | undefined> {
  const response = await gql<{ topic: { subscriberCount: number } | null }>(url, manager, 'query ($name: String!) { topic(name: $name) { subscriberCount } }', {
    name: DEMO_TOPIC,
  });
  return response.data?.topic?.subscriberCount;
}
