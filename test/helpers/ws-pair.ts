import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface WebSocketPair {
  /** The server side's WebSocket, which the code under test writes to. */
  readonly socket: WebSocket;
  /** Its TCP socket. */
  readonly raw: Socket;
  /** What the client has received so far, in order. */
  readonly received: ReadonlyArray<{ readonly text: string; readonly binary: boolean }>;
  /** Waits until the client has received `count` messages; their texts. */
  readonly receive: (count: number) => Promise<string[]>;
  readonly close: () => Promise<void>;
}

/** A plain ws server on a port of its own with one client connected over loopback: for tests of raw frame writes. */
export async function openWebSocketPair(): Promise<WebSocketPair> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const serverSide = once(server, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const received: Array<{ text: string; binary: boolean }> = [];
  client.on('message', (data, isBinary) => received.push({ text: (data as Buffer).toString(), binary: isBinary }));
  const [socket] = (await serverSide) as [WebSocket];
  await once(client, 'open');
  return {
    socket,
    raw: (socket as unknown as { _socket: Socket })._socket,
    received,
    async receive(count) {
      while (received.length < count) await once(client, 'message');
      return received.map((message) => message.text);
    },
    async close() {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
