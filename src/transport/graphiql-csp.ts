import { createHash } from 'node:crypto';

/**
 * The Content-Security-Policy of the GraphiQL page, made from the page itself: it allows what the
 * page needs (checked in Chromium, test/graphiql.test.ts) and nothing else.
 *
 * - script-src: the hash of each inline script. The page is one inline script (GraphiQL, Monaco and
 *   Yoga's glue inlined) and loads no other, so neither 'self' nor 'unsafe-inline' is needed.
 * - worker-src blob:: Monaco's workers (editor, JSON, GraphQL language) are made from blob: URLs
 *   of code the page carries; without it the editor loses completion and validation.
 * - style-src 'unsafe-inline': Monaco and GraphiQL add <style> elements and style attributes as they
 *   run, which no hash can name. Styles cannot run code; the scripts stay hash-locked.
 * - img-src and font-src data:: the favicon, icons and fonts are data: URLs inside the page.
 * - connect-src 'self': queries, and subscriptions (GraphiQL subscribes over SSE, a fetch), go to
 *   this origin only.
 * - everything else 'none', including being framed (the page may carry a bearer token), <base>
 *   and form targets, which default-src does not cover.
 */
export function graphiqlContentSecurityPolicy(html: string): string {
  const directives: ReadonlyArray<readonly [string, ...string[]]> = [
    ['default-src', "'none'"],
    ['script-src', ...inlineScripts(html).map(sha256Source)],
    ['worker-src', 'blob:'],
    ['style-src', "'unsafe-inline'"],
    ['img-src', 'data:'],
    ['font-src', 'data:'],
    ['connect-src', "'self'"],
    ['base-uri', "'none'"],
    ['form-action', "'none'"],
    ['frame-ancestors', "'none'"],
  ];
  return directives.map((directive) => directive.join(' ')).join('; ');
}

/** The text of every inline <script> of the page, as the browser hashes it (its parser turns CR LF into LF). */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]!.replace(/\r\n?/g, '\n'));
}

const sha256Source = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
