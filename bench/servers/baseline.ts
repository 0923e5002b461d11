/**
 * The baseline: the fastest honest fan-out a plain `ws` server can do. POST /publish {topic, payload}
 * stringifies once and sends the same string to every socket subscribed to the topic
 * (ws://…/?topic=<name>). Herald is measured against this in the same run.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveBenchControl } from './control.js';

const subscribers = new Map<string, Set<WebSocket>>();

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const { topic, payload } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { topic: string; payload: unknown };
    const frame = JSON.stringify(payload);
    for (const socket of subscribers.get(topic) ?? []) socket.send(frame);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});

// Herald's keep-alive settings (KEEP_ALIVE_TIMEOUT_MS in src/app.ts, not imported: that would load
// Herald's whole module graph into the baseline's heap). With Node's 5 s default, one full bench
// saw the baseline reset a publish twice (ECONNRESET at 10k-1t-max, "socket hang up" at
// 10k-100t-10k/s) and lose its deliveries, as Herald did before it took 65 s.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

const sockets = new WebSocketServer({ server });
sockets.on('connection', (socket, request) => {
  const topic = new URL(request.url ?? '/', 'http://localhost').searchParams.get('topic') ?? '';
  let set = subscribers.get(topic);
  if (set === undefined) subscribers.set(topic, (set = new Set()));
  set.add(socket);
  socket.on('close', () => set.delete(socket));
});

server.listen(0, '127.0.0.1', () => serveBenchControl((server.address() as AddressInfo).port));
