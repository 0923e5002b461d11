import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { writeTextFrame } from '../src/transport/text-frame.js';

describe('writeTextFrame', () => {
  it('writes frames a WebSocket client reads as text, at every length encoding and in order', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const serverSide = once(server, 'connection');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const received: Array<{ text: string; binary: boolean }> = [];
    client.on('message', (data, isBinary) => received.push({ text: data.toString(), binary: isBinary }));
    const [socket] = (await serverSide) as [WebSocket];
    await once(client, 'open');

    // 7-bit, 16-bit and 64-bit payload lengths, with a multi-byte head, interleaved with ws's own sends.
    const sizes = [0, 10, 125 - 5, 126, 1_000, 65_535 - 5, 65_536, 200_000];
    const expected: string[] = [];
    for (const size of sizes) {
      const head = Buffer.from('héad');
      const body = Buffer.from('x'.repeat(size));
      writeTextFrame(socket, head, body);
      expected.push(`héad${'x'.repeat(size)}`);
      socket.send(`ws-${size}`);
      expected.push(`ws-${size}`);
    }
    while (received.length < expected.length) await once(client, 'message');
    expect(received.map((m) => m.text)).toEqual(expected);
    expect(received.every((m) => !m.binary)).toBe(true);
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
