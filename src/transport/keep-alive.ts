import type { WebSocket } from 'ws';
import { startStaggeredSweep } from './staggered-sweep.js';

/**
 * Server-side keep-alive for the WebSocket surfaces that ping (graphql-ws, courier): every
 * `intervalMs` each watched socket is pinged, and one that has not answered its previous ping by
 * then is terminated. The pings are spread over the interval (see staggered-sweep.ts).
 */
export interface KeepAlive {
  /** Pings `socket` from its slice's next turn on; forgets it when it closes. */
  watch(socket: WebSocket): void;
  stop(): void;
}

export function startKeepAlive(intervalMs: number): KeepAlive {
  /** Pinged by its last turn and silent since. */
  const awaitingPong = new Set<WebSocket>();
  const sweep = startStaggeredSweep<WebSocket>(intervalMs, (socket) => {
    if (awaitingPong.has(socket)) {
      socket.terminate();
      return;
    }
    awaitingPong.add(socket);
    socket.ping();
  });
  return {
    watch(socket) {
      sweep.add(socket);
      socket.on('pong', () => awaitingPong.delete(socket));
      socket.once('close', () => {
        sweep.delete(socket);
        awaitingPong.delete(socket);
      });
    },
    stop: () => sweep.stop(),
  };
}
