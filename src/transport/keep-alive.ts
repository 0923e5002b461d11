import type { WebSocket } from 'ws';

/**
 * Server-side keep-alive for the WebSocket surfaces that ping (graphql-ws, courier): every
 * `intervalMs` each watched socket is pinged, and one that has not answered the previous ping by
 * then is terminated. One sweep for every socket rather than a timer each: at 10k sockets the
 * timers alone weigh.
 */
export interface KeepAlive {
  /** Pings `socket` from the next sweep on; forgets it when it closes. */
  watch(socket: WebSocket): void;
  stop(): void;
}

export function startKeepAlive(intervalMs: number): KeepAlive {
  const sockets = new Set<WebSocket>();
  /** Pinged by the last sweep and silent since. */
  const awaitingPong = new Set<WebSocket>();
  const sweep = setInterval(() => {
    for (const socket of sockets) {
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
  }, intervalMs);
  sweep.unref();
  return {
    watch(socket) {
      sockets.add(socket);
      socket.on('pong', () => awaitingPong.delete(socket));
      socket.once('close', () => {
        sockets.delete(socket);
        awaitingPong.delete(socket);
      });
    },
    stop: () => clearInterval(sweep),
  };
}
