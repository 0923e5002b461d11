import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Write coalescing for delivery sockets. One event loop turn can fan several events out to the same
 * socket (16 publishes read in one poll, each reaching every subscriber of a busy topic). Written
 * one by one, each frame is its own writev syscall and its own TCP segment, and the client wakes
 * for each: at max rate on one topic that per-write cost was most of the server's CPU. Instead the
 * first write of a turn corks the socket and one setImmediate, after the poll phase, uncorks every
 * socket written to: each gets all of the turn's frames in one writev. Nothing waits longer than the
 * rest of the turn it was written in, and ws's own writes (pongs, close frames, `complete`) queue
 * behind the same cork, so frame order on the socket is unchanged.
 */

const held = new Set<Socket>();
let flushScheduled = false;

/** Call before writing a delivery to `socket`: its writes in this loop turn leave together when the turn ends. */
export function holdUntilTurnEnds(socket: Socket): void {
  if (held.has(socket)) return;
  socket.cork();
  held.add(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushHeld);
  }
}

/** The same for a ws WebSocket, through its underlying socket (absent before open and after close). */
export function holdWebSocketUntilTurnEnds(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket !== undefined) holdUntilTurnEnds(socket);
}

function flushHeld(): void {
  flushScheduled = false;
  // A socket destroyed meanwhile ignores uncork; one that ended flushed when it ended.
  for (const socket of held) socket.uncork();
  held.clear();
}
