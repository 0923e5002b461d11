import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Where the operator's console is served (CONSOLE). */
export const CONSOLE_PATH = '/console';

/**
 * The page may load only its own files and talk only to this origin (the GraphQL endpoint over
 * graphql-ws): no inline script or style, no CDN, no framing. `img-src data:` is for the empty
 * favicon, which keeps Chromium from asking for /favicon.ico.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface ConsolePages {
  /** Answers GET/HEAD of the console's files; false (nothing written) for anything else, which then 404s like any unknown path. */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The console's page, script and style (hand-written, in this folder) and graphql-ws's browser bundle, read once. */
export function createConsolePages(): ConsolePages {
  const here = import.meta.dirname;
  const asset = (path: string, type: string): Asset => {
    const body = readFileSync(path);
    return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  };
  const page = asset(join(here, 'console.html'), 'text/html; charset=utf-8');
  const assets = new Map<string, Asset>([
    [CONSOLE_PATH, page],
    [`${CONSOLE_PATH}/`, page],
    [`${CONSOLE_PATH}/console.js`, asset(join(here, 'console.js'), 'text/javascript; charset=utf-8')],
    [`${CONSOLE_PATH}/console.css`, asset(join(here, 'console.css'), 'text/css; charset=utf-8')],
    [`${CONSOLE_PATH}/graphql-ws.js`, asset(graphqlWsBundle(), 'text/javascript; charset=utf-8')],
  ]);

  return {
    handle(request, response) {
      const target = request.url;
      // Every other request (publishes above all) leaves after this one comparison.
      if (target === undefined || !target.startsWith(CONSOLE_PATH)) return false;
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const query = target.indexOf('?');
      const found = assets.get(query === -1 ? target : target.slice(0, query));
      if (found === undefined) return false;
      const headers = {
        'content-type': found.type,
        // No hashed file names: the browser revalidates each time and gets 304 while the files are unchanged.
        'cache-control': 'no-cache',
        etag: found.etag,
        'content-security-policy': CONSOLE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      };
      if (request.headers['if-none-match'] === found.etag) {
        response.writeHead(304, headers);
        response.end();
        return true;
      }
      response.writeHead(200, { ...headers, 'content-length': found.body.length });
      response.end(request.method === 'HEAD' ? undefined : found.body);
      return true;
    },
  };
}

/** graphql-ws's UMD build (it defines `window.graphqlWs`), found through the installed package rather than a node_modules path. */
function graphqlWsBundle(): string {
  // The package exports no ./umd subpath, but it exports its package.json, and umd/ sits beside it.
  const packageJson = createRequire(import.meta.url).resolve('graphql-ws/package.json');
  return join(dirname(packageJson), 'umd', 'graphql-ws.min.js');
}
