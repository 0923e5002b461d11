import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Write coalescing for delivery sockets. Under load one event loop turn fans several events out to
 * the same socket (16 publishes read in one poll, each reaching every subscriber of a busy topic).
 * Written one by one, each frame is its own writev syscall and TCP segment, and the client wakes for
 * each: at max rate on one topic that per-write cost was most of the server's CPU.
 *
 * So the first delivery of a turn to a socket goes out at once (an unloaded server adds no
 * latency), and the next ones in the same turn cork the socket; one setImmediate, after the poll
 * phase, uncorks every corked socket, which then gets the rest of the turn's frames in one writev.
 * ws's own writes (pongs, close frames, `complete`) queue behind the same cork, so frame order on
 * the socket is unchanged.
 */

/** Sockets written to in this turn: true once corked until the turn ends. */
const turn = new Map<Socket, boolean>();
let turnEndScheduled = false;

/** Call before each delivery write to `socket`. */
export function coalesceWrites(socket: Socket): void {
  const corked = turn.get(socket);
  if (corked === true) return;
  if (corked === undefined) {
    turn.set(socket, false);
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      setImmediate(endTurn);
    }
    return;
  }
  socket.cork();
  turn.set(socket, true);
}

/** The same for a ws WebSocket, through its underlying socket (absent before open and after close). */
export function coalesceWebSocketWrites(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket !== undefined) coalesceWrites(socket);
}

function endTurn(): void {
  turnEndScheduled = false;
  // A socket destroyed meanwhile ignores uncork; one that ended flushed when it ended.
  for (const [socket, corked] of turn) if (corked) socket.uncork();
  turn.clear();
}
