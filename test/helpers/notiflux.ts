import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';

/**
 * notiflux as its deployed clients speak it: a plain `ws` WebSocket, text frames in and out, and
 * keys made the way notiflux's README says (openssl, P-256), nothing of Herald's.
 */

/** `openssl ecparam -genkey -name prime256v1` then `openssl ec -pubout`, in `dir`; the PEMs as notiflux users have them. */
export function makeOpensslKeyPair(dir: string, name = 'es256'): { privateKey: KeyObject; publicKeyB64: string } {
  const privatePem = join(dir, `${name}_private.pem`);
  const publicPem = join(dir, `${name}_public.pem`);
  execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', privatePem], { stdio: 'ignore' });
  execFileSync('openssl', ['ec', '-in', privatePem, '-pubout', '-out', publicPem], { stdio: 'ignore' });
  return { privateKey: createPrivateKey(readFileSync(privatePem)), publicKeyB64: readFileSync(publicPem).toString('base64') };
}

export interface RawClient {
  readonly ws: WebSocket;
  send(text: string): void;
  /** The next text frame (failing after `timeoutMs`, or when the socket closes first). */
  next(timeoutMs?: number): Promise<string>;
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function notifluxWsUrl(herald: { baseUrl: string }, path = '/ws'): string {
  return `${herald.baseUrl.replace(/^http/, 'ws')}${path}`;
}

export async function connectNotiflux(url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
  const ws = new WebSocket(url, options);
  const frames: string[] = [];
  const waiting: Array<(frame: string) => void> = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) throw new Error('notiflux sends text frames only');
    const frame = (data as Buffer).toString();
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(frame);
    else frames.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    send: (text) => ws.send(text),
    next(timeoutMs = 5_000) {
      const queued = frames.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
        const waiter = (frame: string): void => {
          clearTimeout(timer);
          resolve(frame);
        };
        waiting.push(waiter);
        void closed.then(({ code }) => {
          if (!waiting.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`socket closed (${code}) before a frame came`));
        });
      });
    },
    closed,
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      ws.close();
      await closed;
    },
  };
}
