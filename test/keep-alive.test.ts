import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startKeepAlive, type KeepAlive } from '../src/transport/keep-alive.js';

/** The ping sweep graphql-ws and courier share, on a real ws server with a short interval. */
describe('keep-alive sweep', () => {
  let server: WebSocketServer | undefined;
  let keepAlive: KeepAlive | undefined;
  afterEach(async () => {
    keepAlive?.stop();
    for (const client of server?.clients ?? []) client.terminate();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('keeps a socket that answers pings, and terminates one that stops answering', async () => {
    keepAlive = startKeepAlive(30);
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => keepAlive!.watch(socket));
    await once(server, 'listening');
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const answering = new WebSocket(url);
    // autoPong off: this client receives pings and never answers them.
    const silent = new WebSocket(url, { autoPong: false });
    await Promise.all([once(answering, 'open'), once(silent, 'open')]);
    const silentClosed = once(silent, 'close');

    // Three pings answered: three sweeps in which the answering socket was kept.
    let pings = 0;
    await new Promise<void>((resolve) => answering.on('ping', () => ++pings === 3 && resolve()));
    const [code] = (await silentClosed) as [number];
    expect(code).toBe(1006); // terminated: no close frame
    expect(answering.readyState).toBe(WebSocket.OPEN);
    answering.close();
  });
});
