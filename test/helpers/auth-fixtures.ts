import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, type JWTPayload } from 'jose';
import { wsClient } from './herald.js';

/** Seconds since the epoch, as JWT claims count time. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** An unsigned `alg: none` token, built by hand (jose refuses to make one). */
export function unsignedToken(payload: JWTPayload): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
}

/** An HS256 token whose HMAC key is the UTF-8 bytes of `secret`, with exactly the given claims (no defaults). */
export function hs256Token(secret: string, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

export interface PemPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export function rsaPemPair(): PemPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return toPem(privateKey, publicKey);
}

export function ecPemPair(): PemPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return toPem(privateKey, publicKey);
}

function toPem(privateKey: KeyObject, publicKey: KeyObject): PemPair {
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** An ES256 key with a kid, for JWKS tests. */
export interface KidKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** An ES256 token with `kid` in its header, signed by this key. */
  sign(payload: JWTPayload, kid?: string): Promise<string>;
}

export function es256KidKey(kid: string): KidKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    kid,
    privateKey,
    publicKey,
    sign: (payload, headerKid = kid) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: headerKid }).sign(privateKey),
  };
}

export interface JwksServer {
  readonly url: string;
  /** How many times the key set was fetched. */
  readonly fetches: () => number;
  stop(): Promise<void>;
}

/** A real HTTP server on port 0 serving `{ keys: [...] }` for the given public keys at /.well-known/jwks.json. */
export async function startJwksServer(keys: readonly KidKey[]): Promise<JwksServer> {
  const jwks = {
    keys: await Promise.all(keys.map(async (key) => ({ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: 'ES256', use: 'sig' }))),
  };
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    const body = JSON.stringify(jwks);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a graphql-ws connection attempt came to: the viewer query's result, or the socket's close. */
export type WsOutcome =
  { readonly kind: 'result'; readonly data: unknown; readonly errors: unknown } | { readonly kind: 'closed'; readonly code: number; readonly reason: string };

/**
 * Opens a real graphql-ws connection and runs `{ viewer { audience subject } }` on it. A refused
 * connection_init surfaces as the close event (code and reason) instead of a result.
 */
export async function wsViewerOutcome(url: string, connectionParams?: Record<string, unknown>): Promise<WsOutcome> {
  let closed: { code: number; reason: string } | undefined;
  const client = wsClient(url, {
    ...(connectionParams !== undefined && { connectionParams }),
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        closed ??= { code, reason };
      },
    },
  });
  try {
    return await new Promise<WsOutcome>((resolve) => {
      let result: { data: unknown; errors: unknown } | undefined;
      client.subscribe(
        { query: '{ viewer { audience subject } }' },
        {
          next: (value) => (result = { data: value.data, errors: value.errors }),
          error: (error) => {
            const { code, reason } = (closed ?? error) as { code: number; reason: string };
            resolve({ kind: 'closed', code, reason });
          },
          complete: () => resolve(result === undefined ? { kind: 'closed', code: -1, reason: 'completed without a result' } : { kind: 'result', ...result }),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

/** A GraphQL-over-SSE request (POST, Accept: text/event-stream) whose body the test reads as it arrives. */
export interface SseStream {
  readonly status: number;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the received text satisfies `done`. */
  until(done: (text: string) => boolean): Promise<string>;
  /** Resolves with the whole body and the time (ms) the stream finished. */
  readonly finished: Promise<{ text: string; at: number }>;
  cancel(): Promise<void>;
}

export async function openSse(url: string, bearer: string | undefined, query: string, variables?: Record<string, unknown>): Promise<SseStream> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }),
    },
    body: JSON.stringify({ query, variables }),
  });
  if (response.body === null) throw new Error('SSE response has no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let received = '';
  let ended = false;
  const waiters: Array<{ done: (text: string) => boolean; resolve: (text: string) => void; reject: (error: Error) => void }> = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i]!;
      if (waiter.done(received)) {
        waiters.splice(i, 1);
        waiter.resolve(received);
      }
    }
  };
  const finished = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
      check();
    }
    const at = Date.now();
    ended = true;
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`SSE stream ended before the awaited text; got:\n${received}`));
    return { text: received, at };
  })();
  finished.catch(() => {});
  return {
    status: response.status,
    text: () => received,
    until: (done) =>
      new Promise<string>((resolve, reject) => {
        if (done(received)) return resolve(received);
        if (ended) return reject(new Error(`SSE stream ended before the awaited text; got:\n${received}`));
        waiters.push({ done, resolve, reject });
      }),
    finished,
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/** The JSON data lines of the `next` events of an SSE body. */
export function sseNextPayloads(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((event) => /^event: next$/m.test(event))
    .map((event) => JSON.parse(/^data: (.*)$/m.exec(event)?.[1] ?? 'null') as unknown);
}
