/**
 * The Node floor (`--floor`): not a product, the least a Node.js process can do per delivery, to
 * tell what the runtime itself costs apart from what any server built on it adds. Subscribing is
 * ws's handshake on `/sub/<channel>`; publishing is `POST /pub/<channel>` with the message as the
 * body, as nchan takes it, so nothing is parsed but the HTTP request (`POST /pub-many`, a JSON array
 * of {channel, payload}, is its batch, for the rows where Herald publishes with publishMany). Per message the text frame
 * (header and body) is built once, in one buffer, and written with one `socket.write` to each
 * subscriber's TCP socket, past ws's sender: no JSON, no envelope, no per-socket frame, no cork.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { serveBenchControl } from './control.js';

const subscribers = new Map<string, Set<Socket>>();

/** An unmasked, final text frame holding `body`. */
function textFrame(body: Buffer): Buffer {
  const length = body.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  body.copy(frame, headerLength);
  return frame;
}

function deliver(channel: string, body: Buffer): void {
  const frame = textFrame(body);
  for (const socket of subscribers.get(channel) ?? []) socket.write(frame);
}

const server = createServer((req, res) => {
  const url = req.url ?? '';
  const many = url === '/pub-many';
  if (req.method !== 'POST' || !(many || url.startsWith('/pub/'))) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (many) {
      // A batch, as Herald's publishMany takes one: the least a JSON batch costs, a parse and each message's text.
      const items = JSON.parse(body.toString('utf8')) as Array<{ channel: string; payload: unknown }>;
      for (const { channel, payload } of items) deliver(channel, Buffer.from(JSON.stringify(payload)));
    } else {
      deliver(url.slice('/pub/'.length), body);
    }
    res.writeHead(200, { 'content-length': '0' }).end();
  });
});

// As the ws baseline (baseline.ts): Herald's keep-alive, so no publish connection is reset mid-run.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

const sockets = new WebSocketServer({ server });
sockets.on('connection', (ws, request) => {
  const channel = (request.url ?? '').slice('/sub/'.length);
  // ws's own socket: after the handshake the floor writes frames straight to it.
  const socket = (ws as unknown as { _socket: Socket })._socket;
  let set = subscribers.get(channel);
  if (set === undefined) subscribers.set(channel, (set = new Set()));
  set.add(socket);
  ws.on('close', () => set.delete(socket));
});

server.listen(0, '127.0.0.1', () => serveBenchControl((server.address() as AddressInfo).port));
