import { Agent, request } from 'node:http';

/** Header values node:http will send: no control characters but tab. */
export const headerSafe = (text: string): string => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');

/**
 * A raw HTTP exchange for the fuzz suite: node:http (not fetch, which refuses many headers a
 * hostile client can send), a body sent with a Content-Length unless `chunked`. One connection per
 * request: a reset then belongs to the request that caused it, not to the next one that reused the
 * connection.
 * An SSE answer is read for a moment and then abandoned, as a client that goes away would.
 */
export interface HttpInput {
  readonly method: string;
  /** Path and query string. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  /** Send the body chunked, without Content-Length. */
  readonly chunked?: boolean;
  /** Declare the whole body's Content-Length, send half of it and go away (a client that drops mid-request); no answer is read. */
  readonly cutOff?: boolean;
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  /** The answer was an event stream, read for `sseReadMs` and then abandoned. */
  readonly abandonedStream: boolean;
  /** The client went away mid-body (`cutOff`): there is no answer, status 0. */
  readonly cutOff: boolean;
}

export function createHttpClient(baseUrl: string, options: { readonly sseReadMs?: number } = {}) {
  const agent = new Agent({ keepAlive: false, maxSockets: 16 });
  const sseReadMs = options.sseReadMs ?? 150;
  const { hostname, port } = new URL(baseUrl);

  function send(input: HttpInput): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...input.headers };
      if (input.body !== undefined && !input.chunked) headers['content-length'] = String(Buffer.byteLength(input.body));
      // node:http frames a GET, HEAD or DELETE body in chunks only when told to (otherwise it sends it unframed).
      if (input.body !== undefined && input.chunked) headers['transfer-encoding'] = 'chunked';
      const req = request({ host: hostname, port, method: input.method, path: input.target, headers, agent }, (res) => {
        const contentType = res.headers['content-type'] ?? '';
        const chunks: Buffer[] = [];
        let abandoned = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        const finish = (): void =>
          resolve({ status: res.statusCode ?? 0, contentType, text: Buffer.concat(chunks).toString('utf8'), abandonedStream: abandoned, cutOff: false });
        if (contentType.startsWith('text/event-stream')) {
          const timer = setTimeout(() => {
            abandoned = true;
            req.destroy();
            finish();
          }, sseReadMs);
          res.on('end', () => {
            clearTimeout(timer);
            finish();
          });
          res.on('error', () => {});
          return;
        }
        res.on('end', finish);
        res.on('error', reject);
      });
      if (input.cutOff && input.body !== undefined && !input.chunked) {
        req.on('error', () => {});
        const bytes = Buffer.from(input.body);
        // Once the half is handed to the kernel, the connection goes: the server reads it, then the reset.
        req.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => {
          req.destroy();
          resolve({ status: 0, contentType: '', text: '', abandonedStream: false, cutOff: true });
        });
        return;
      }
      req.on('error', (error) =>
        reject(
          new Error(
            `${input.method} ${input.target.slice(0, 200)} ${JSON.stringify(input.headers).slice(0, 300)} body ${JSON.stringify(input.body?.slice(0, 200))}${input.chunked ? ' chunked' : ''}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      if (input.body === undefined) req.end();
      else if (input.chunked) {
        req.write(input.body);
        req.end();
      } else req.end(input.body);
    });
  }

  return { send, close: () => agent.destroy() };
}
