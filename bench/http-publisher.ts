/**
 * The load client's publisher: HTTP/1.1 POSTs over a pool of keep-alive sockets, one request at a
 * time per socket, each written as one string and its answer read only as far as the status line,
 * the length (Content-Length or chunked) and the body.
 *
 * Why not node:http: at 1k subscribers on 100 topics and at publish-max the load client, not
 * either server, was the limit (92–98% of a core), and Node's HTTP client with its agent took
 * about half of the client's busy time (a `--profile` of the client: its own frames a quarter,
 * the streams and socket writes under it about as much again). A client that costs more per
 * request than the servers measure mostly itself, and Herald's requests are the larger (a
 * GraphQL document and a bearer token), so the ratio read the client's costs too.
 */
import { connect, type Socket } from 'node:net';

export interface PostAnswer {
  readonly status: number;
  readonly body: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** Up to `maxSockets` connections to 127.0.0.1:`port`; requests past that wait for a free one. */
export class HttpPublisher {
  readonly #idle: Connection[] = [];
  readonly #waiting: Array<(connection: Connection) => void> = [];
  readonly #all = new Set<Connection>();

  constructor(
    private readonly port: number,
    private readonly maxSockets: number,
  ) {}

  /** POSTs `body` (JSON) to `path` with `headers` (each line ending in CRLF, may be empty). */
  async post(path: string, headers: string, body: string): Promise<PostAnswer> {
    const connection = await this.#acquire();
    try {
      return await connection.post(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } finally {
      this.#release(connection);
    }
  }

  close(): void {
    for (const connection of this.#all) connection.destroy();
  }

  #acquire(): Promise<Connection> {
    for (let connection = this.#idle.pop(); connection !== undefined; connection = this.#idle.pop()) {
      if (connection.usable) return Promise.resolve(connection);
      this.#all.delete(connection);
    }
    if (this.#all.size < this.maxSockets) return Promise.resolve(this.#open());
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(connection: Connection): void {
    let handed = connection;
    if (!connection.usable) {
      // The server closed it (or it failed): a waiting request gets a fresh one in its place.
      this.#all.delete(connection);
      if (this.#waiting.length === 0) return;
      handed = this.#open();
    }
    const next = this.#waiting.shift();
    if (next !== undefined) next(handed);
    else this.#idle.push(handed);
  }

  #open(): Connection {
    const connection = new Connection(this.port);
    this.#all.add(connection);
    return connection;
  }
}

/** One keep-alive socket carrying one request at a time. */
class Connection {
  readonly #socket: Socket;
  #received: Buffer = Buffer.alloc(0);
  #pending: { resolve: (answer: PostAnswer) => void; reject: (error: Error) => void } | undefined;
  #closed = false;

  constructor(port: number) {
    this.#socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.#socket.on('data', (chunk: Buffer) => {
      this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
      this.#answer();
    });
    const fail = (error: Error): void => {
      this.#closed = true;
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(error);
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(new Error('socket hang up')));
  }

  get usable(): boolean {
    return !this.#closed;
  }

  post(request: string): Promise<PostAnswer> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(request);
    });
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** Resolves the pending request once its whole answer has arrived. */
  #answer(): void {
    const received = this.#received;
    const headerEnd = received.indexOf(HEADER_END);
    if (headerEnd === -1 || this.#pending === undefined) return;
    const head = received.toString('latin1', 0, headerEnd).toLowerCase();
    const status = Number(head.slice(9, 12));
    const bodyStart = headerEnd + HEADER_END.length;
    const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
    let body: string;
    let end: number;
    if (length !== null) {
      end = bodyStart + Number(length[1]);
      if (received.length < end) return;
      body = received.toString('utf8', bodyStart, end);
    } else if (head.includes('\r\ntransfer-encoding: chunked')) {
      const chunked = readChunked(received, bodyStart);
      if (chunked === undefined) return;
      ({ body, end } = chunked);
    } else {
      this.#socket.destroy(new Error(`unsupported answer framing: ${head}`));
      return;
    }
    this.#received = received.subarray(end);
    if (head.includes('\r\nconnection: close')) this.#closed = true;
    const pending = this.#pending;
    this.#pending = undefined;
    pending.resolve({ status, body });
  }
}

/** A chunked body starting at `from`, or undefined until all of it (through the last chunk) has arrived. */
function readChunked(received: Buffer, from: number): { body: string; end: number } | undefined {
  const parts: string[] = [];
  for (let at = from; ;) {
    const lineEnd = received.indexOf(CRLF, at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(received.toString('latin1', at, lineEnd), 16);
    const dataEnd = lineEnd + CRLF.length + size;
    if (size === 0) {
      // No trailers from either server: the last chunk is "0\r\n\r\n".
      const end = dataEnd + CRLF.length;
      return received.length < end ? undefined : { body: parts.join(''), end };
    }
    if (received.length < dataEnd + CRLF.length) return undefined;
    parts.push(received.toString('utf8', lineEnd + CRLF.length, dataEnd));
    at = dataEnd + CRLF.length;
  }
}
