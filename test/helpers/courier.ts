import { SignJWT, type JWTPayload } from 'jose';
import WebSocket from 'ws';

/**
 * A courier client as courier's users wrote them: fetch for the REST API and a plain `ws` WebSocket,
 * nothing of Herald's. Tokens are made as courier's users made them: HS256 over the shared secret,
 * `aud` naming the audience, no `scope` claim.
 */

/** An HS256 token with exactly these claims plus `exp` (now + ttlSeconds unless `exp` is given) and no scope unless given. */
export function courierToken(secret: string, claims: JWTPayload & { ttlSeconds?: number } = {}): Promise<string> {
  const { ttlSeconds = 300, ...payload } = claims;
  const exp = payload.exp ?? Math.floor(Date.now() / 1000) + ttlSeconds;
  return new SignJWT({ ...payload, exp }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

export interface CourierResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body (undefined for an empty one). */
  readonly body: any;
}

/** One REST call. `body` is sent as JSON unless it is a string (sent as is, for malformed bodies). */
export async function courierFetch(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string | undefined; body?: unknown } = {},
): Promise<CourierResponse> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** An open courier WebSocket whose incoming frames queue up for the test to pull. */
export interface CourierSocket {
  readonly ws: WebSocket;
  /** The first frame the server sent: the connection id. */
  readonly id: string;
  /** The next frame as text (frames the test has not pulled yet wait in order). */
  nextText(): Promise<string>;
  /** The next frame, parsed. */
  next(): Promise<any>;
  /** Frames received and not yet pulled. */
  readonly unread: readonly string[];
  send(frame: unknown): void;
  /** Resolves with the close code and reason once the socket has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** ws://host:port/ws?token=… */
export const courierWsUrl = (baseUrl: string, token: string): string => `${baseUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`;

/** Opens the socket and waits for the connection id frame. `options` go to the `ws` constructor. */
export async function openCourier(url: string, options: WebSocket.ClientOptions = {}): Promise<CourierSocket> {
  const ws = new WebSocket(url, options);
  const unread: string[] = [];
  const waiting: Array<(text: string) => void> = [];
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) throw new Error('courier sent a binary frame');
    const text = data.toString('utf8');
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(text);
    else unread.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
  );
  const nextText = (): Promise<string> => {
    const text = unread.shift();
    if (text !== undefined) return Promise.resolve(text);
    return new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      void closed.then(({ code }) => reject(new Error(`socket closed (${code}) while a frame was awaited`)));
    });
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const id = await nextText();
  return {
    ws,
    id,
    nextText,
    next: async () => JSON.parse(await nextText()),
    unread,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    closed,
    async close() {
      if (ws.readyState !== WebSocket.CLOSED) {
        ws.close();
        await closed;
      }
    },
  };
}

/** What the server answered instead of upgrading: the HTTP status and the JSON body. */
export function upgradeRefusal(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => {});
    ws.on('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) });
        ws.terminate();
      });
    });
  });
}
