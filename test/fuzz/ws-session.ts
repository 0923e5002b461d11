import WebSocket from 'ws';
import { within } from './fuzz-run.js';

/** One frame a fuzz client sends on a WebSocket. */
export type WsFrame =
  | { readonly text: string }
  | { readonly binary: Uint8Array }
  | { readonly oversized: number }
  /** A text frame whose bytes are not UTF-8 (RFC 6455 requires text frames to be). */
  | { readonly invalidText: Uint8Array };

/** What came back on a raw WebSocket: the server's text frames and, if it closed, its code. */
export interface WsTranscript {
  readonly received: string[];
  /** The close code and reason; undefined while open. */
  closed: { readonly code: number; readonly reason: string; readonly byClient: boolean } | undefined;
}

export interface RawSocket {
  readonly ws: WebSocket;
  readonly transcript: WsTranscript;
  send(frame: WsFrame): void;
  /** Resolves once a received frame satisfies `done`, or the socket closed; fails (a hang) after `ms`. */
  until(done: (frame: string) => boolean, what: string, ms?: number): Promise<void>;
  /** Closes from the client side (1000) and waits for the close to finish. */
  close(): Promise<void>;
  /** Drops the connection without a close handshake (a client that goes away), and waits until it is gone. */
  abort(): Promise<void>;
  /** Frames handed to the socket (a frame sent once the socket was closing is not). */
  readonly sent: number;
}

/** The server answered the upgrade with an HTTP response instead of a socket (a refused credential, a limit). */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status}`);
    this.name = 'UpgradeRefused';
  }
}

/** Opens a raw `ws` socket; resolves once open, or rejects with UpgradeRefused (status and body) when the server answers HTTP instead. */
export function openRawSocket(url: string, protocols?: string | string[]): Promise<RawSocket> {
  const ws = new WebSocket(url, protocols);
  const transcript: WsTranscript = { received: [], closed: undefined };
  let clientClosing = false;
  const listeners = new Set<() => void>();
  const notify = (): void => listeners.forEach((listener) => listener());
  ws.on('message', (data) => {
    transcript.received.push((data as Buffer).toString());
    notify();
  });
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code, reason) => {
      transcript.closed = { code, reason: String(reason), byClient: clientClosing };
      notify();
      resolve();
    }),
  );
  ws.on('error', () => {});
  let sent = 0;
  const socket: RawSocket = {
    ws,
    transcript,
    get sent() {
      return sent;
    },
    send(frame) {
      if (ws.readyState !== ws.OPEN) return;
      sent++;
      if ('text' in frame) ws.send(frame.text);
      else if ('binary' in frame) ws.send(frame.binary, { binary: true });
      else if ('invalidText' in frame) ws.send(frame.invalidText, { binary: false });
      else ws.send('x'.repeat(frame.oversized));
    },
    until(done, what, ms = 5_000) {
      return within(
        ms,
        what,
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (transcript.closed !== undefined || transcript.received.some(done)) {
              listeners.delete(check);
              resolve();
            }
          };
          listeners.add(check);
          check();
        }),
      );
    },
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      clientClosing = true;
      ws.close(1000);
      await within(5_000, 'the close handshake', closed);
    },
    async abort() {
      if (ws.readyState === ws.CLOSED) return;
      clientClosing = true;
      ws.terminate();
      await within(5_000, 'the connection drop', closed);
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', () => {});
      response.on('end', () => {
        reject(new UpgradeRefused(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}
