/**
 * `node --import tsx bench/frame-writes.ts`: the server-side CPU of writing one WebSocket text frame
 * as one buffer (a copy of the shared body) or as two (header, then the shared body, corked into one
 * writev), at several body sizes, on loopback to sockets read by a second process. It is the
 * measurement behind COPY_BODY_BELOW_BYTES in src/transport/text-frame.ts; rerun it when that
 * constant is in doubt. Bounded: 10 sockets, 200 000 frames per shape and size.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const SOCKETS = 10;
const FRAMES_PER_SOCKET = 20_000;
const SIZES = [150, 300, 500, 700, 1_000, 4_000];
const HEAD = Buffer.from('{"id":"1","type":"next","payload":');

function frameHeader(length: number, extra: number): Buffer {
  const first = Buffer.allocUnsafe(4 + extra);
  first[0] = 0x81;
  first[1] = 126;
  first.writeUInt16BE(length, 2);
  return first;
}

const shapes = {
  'one buffer': (socket: Socket, body: Buffer) => {
    const frame = frameHeader(HEAD.length + body.length, HEAD.length + body.length);
    HEAD.copy(frame, 4);
    body.copy(frame, 4 + HEAD.length);
    socket.write(frame);
  },
  'two, writev': (socket: Socket, body: Buffer) => {
    const first = frameHeader(HEAD.length + body.length, HEAD.length);
    HEAD.copy(first, 4);
    socket.cork();
    socket.write(first);
    socket.write(body);
    socket.uncork();
  },
};

async function main(): Promise<void> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const reader = fork(fileURLToPath(import.meta.url), ['reader', String((server.address() as AddressInfo).port)], { execArgv: ['--import', 'tsx'] });
  while (sockets.length < SOCKETS) await new Promise((resolve) => setTimeout(resolve, 10));

  console.log('body bytes   one buffer   two, writev   (CPU µs per frame, user + system)');
  for (const size of SIZES) {
    const body = Buffer.from(JSON.stringify({ data: { pad: 'x'.repeat(Math.max(0, size - 20)) } }));
    const row: string[] = [];
    for (const write of Object.values(shapes)) row.push((await measure(sockets, (socket) => write(socket, body))).toFixed(2).padStart(10));
    console.log(`${String(body.length).padStart(10)}  ${row.join('    ')}`);
  }
  reader.disconnect();
  server.close();
  for (const socket of sockets) socket.destroy();
}

/** CPU per frame over FRAMES_PER_SOCKET rounds, 20 rounds per loop turn so the reader keeps up. */
async function measure(sockets: Socket[], write: (socket: Socket) => void): Promise<number> {
  const before = process.cpuUsage();
  for (let round = 0; round < FRAMES_PER_SOCKET; round += 20) {
    for (let k = 0; k < 20; k++) for (const socket of sockets) write(socket);
    await new Promise((resolve) => setImmediate(resolve));
    // Let the kernel buffers drain, so both shapes write to sockets in the same state.
    while (sockets.some((socket) => socket.writableLength > 0)) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (FRAMES_PER_SOCKET * sockets.length);
}

if (process.argv[2] === 'reader') {
  // The reading side: drains its sockets until the parent goes.
  const port = Number(process.argv[3]);
  for (let i = 0; i < SOCKETS; i++) connect(port, '127.0.0.1').on('data', () => {});
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}
