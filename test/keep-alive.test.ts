import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
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

  it('spreads the pings over the interval instead of pinging every socket at once', async () => {
    // Only the sweep's timer is faked, so each tick can be run and counted; the sockets are real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      keepAlive = startKeepAlive(400); // four slices of 100 ms
      server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      const pinged = new Map<WebSocket, number>();
      server.on('connection', (socket) => {
        const ping = socket.ping.bind(socket);
        socket.ping = (...args: Parameters<typeof socket.ping>) => {
          pinged.set(socket, (pinged.get(socket) ?? 0) + 1);
          ping(...args);
        };
        keepAlive!.watch(socket);
      });
      await once(server, 'listening');
      const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const clients = Array.from({ length: 8 }, () => new WebSocket(url));
      await Promise.all(clients.map((client) => once(client, 'open')));
      await new Promise<void>((resolve) => (server!.clients.size === 8 ? resolve() : server!.on('connection', () => server!.clients.size === 8 && resolve())));

      vi.advanceTimersByTime(100);
      expect([...pinged.values()]).toEqual([1, 1]);
      vi.advanceTimersByTime(300);
      expect(pinged.size).toBe(8);
      expect([...pinged.values()].every((count) => count === 1)).toBe(true);
      for (const client of clients) client.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
