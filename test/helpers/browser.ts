import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core (no browser download). CI installs the package, so a
 * suite that needs it fails there when it is missing; elsewhere it is skipped with `describe.runIf(hasChromium)`.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI (apt-get install -y chromium)`);

/** Screenshots of browser tests, for looking at a failure (git-ignored). */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');

export function launchChromium(): Promise<Browser> {
  // Without --disable-background-networking Chromium keeps calling Google's hosts, which this network refuses.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** A page whose context can reach 127.0.0.1 only, as on a machine with no internet; `offsite` lists what it tried to load elsewhere. */
export interface OfflinePage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every request the page made to a host other than 127.0.0.1/localhost (each one was aborted). */
  readonly offsite: string[];
  /** Console errors and uncaught page errors, in order. */
  readonly errors: string[];
  /** Saves test/artifacts/<name>.png (full page). */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openOfflinePage(browser: Browser): Promise<OfflinePage> {
  const context = await browser.newContext();
  const offsite: string[] = [];
  const errors: string[] = [];
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname) && url.protocol !== 'data:' && url.protocol !== 'blob:',
    (route) => {
      offsite.push(route.request().url());
      return route.abort('internetdisconnected');
    },
  );
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return {
    page,
    context,
    offsite,
    errors,
    async screenshot(name) {
      mkdirSync(ARTIFACTS, { recursive: true });
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    close: () => context.close(),
  };
}
