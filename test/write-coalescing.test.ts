import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { writeTextFrame } from '../src/transport/text-frame.js';
import { coalesceWebSocketWrites } from '../src/transport/write-coalescing.js';

/** A connected pair over loopback; `writes` counts the server socket's writes to the kernel (chunks in each). */
async function connectedPair() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const serverSide = once(server, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push(data.toString()));
  const [socket] = (await serverSide) as [WebSocket];
  await once(client, 'open');

  const raw = (socket as unknown as { _socket: Socket & { _writev: Function; _write: Function } })._socket;
  const writes: number[] = [];
  const writev = raw._writev;
  const write = raw._write;
  raw._writev = function (chunks: unknown[], callback: unknown) {
    writes.push(chunks.length);
    return writev.call(this, chunks, callback);
  };
  raw._write = function (chunk: unknown, encoding: unknown, callback: unknown) {
    writes.push(1);
    return write.call(this, chunk, encoding, callback);
  };
  const receive = async (count: number): Promise<string[]> => {
    while (received.length < count) await once(client, 'message');
    return received;
  };
  const close = async (): Promise<void> => {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { socket, writes, receive, close };
}

describe('write coalescing', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('sends a socket’s first frame of a loop turn at once and the rest of the turn in one write, in order, with ws’s own sends among them', async () => {
    const pair = await connectedPair();
    close = pair.close;
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      writeTextFrame(pair.socket, Buffer.from(`{"n":${i},"body":`), Buffer.from('"shared"}'));
      expected.push(`{"n":${i},"body":"shared"}`);
      if (i === 2) {
        pair.socket.send('ws-own'); // a pong or a `complete` goes through ws.send
        expected.push('ws-own');
      }
    }
    // Each frame is two chunks (header with head, shared body); ws.send adds header and data.
    expect(pair.writes).toEqual([2]); // the first at once, the rest held until the turn ends
    expect(await pair.receive(expected.length)).toEqual(expected);
    expect(pair.writes).toEqual([2, 10]);
  });

  it('coalesces ws.send the same way (courier and notiflux deliveries), afresh in every turn', async () => {
    const pair = await connectedPair();
    close = pair.close;
    for (const text of ['a', 'b', 'c']) {
      coalesceWebSocketWrites(pair.socket);
      pair.socket.send(text);
    }
    await pair.receive(3);
    expect(pair.writes).toEqual([2, 4]);

    await new Promise((resolve) => setImmediate(resolve));
    coalesceWebSocketWrites(pair.socket);
    pair.socket.send('d');
    expect(pair.writes).toEqual([2, 4, 2]); // a new turn: its first frame goes at once
    expect(await pair.receive(4)).toEqual(['a', 'b', 'c', 'd']);
  });
});
