import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';

/**
 * Write coalescing for delivery sockets. Under load one event loop turn fans several events out to
 * the same socket (16 publishes read in one poll, each reaching every subscriber of a busy topic).
 * Written one by one, each frame is its own writev syscall and TCP segment, and the client wakes for
 * each: at max rate on one topic that per-write cost was most of the server's CPU.
 *
 * So a socket written to in a loop turn is corked, and one setImmediate, after the poll phase,
 * uncorks every corked socket, which then sends all of the turn's frames in one writev. ws's own
 * writes (pongs, close frames, `complete`) queue behind the same cork, so frame order on the socket
 * is unchanged. Holding costs latency, though: a frame waits for the rest of the turn (about 0.3 ms
 * at the median with one subscriber). So while the loop is mostly idle, a socket's first frame of a
 * turn goes out at once and only the later ones wait; once it is busy (half its time or more over
 * the last 100 ms), every frame waits, which measured best (10k subscribers on 100 topics at max
 * rate: 43k deliveries/s holding every frame, 36k holding from the second).
 */
export interface WriteCoalescer {
  /** Call before each delivery write to `socket`. */
  coalesce(socket: Socket): void;
}

/**
 * A socket holding this much flushes at once and keeps holding: a turn of large payloads must not
 * pile up towards MAX_BUFFERED_BYTES (16 publishes of 64 KiB are 1 MiB) and close a client that reads.
 */
export const FLUSH_HELD_BYTES = 64 * 1024;

export function createWriteCoalescer(isBusy: () => boolean): WriteCoalescer {
  /**
   * Sockets written to in this turn: true once corked until the turn ends. A new Map each turn, not
   * one cleared: a long-lived Map is in the old generation, and V8 allocates its new hash tables
   * there too, so clearing and refilling one every turn filled the old generation with dead tables
   * (about 0.5 MB per scavenge at 10 000 deliveries/s) and brought a mark-compact every few seconds.
   */
  let turn = new Map<Socket, boolean>();
  let turnEndScheduled = false;
  let holdFirst = false;

  const endTurn = (): void => {
    turnEndScheduled = false;
    const ended = turn;
    turn = new Map();
    // A socket destroyed meanwhile ignores uncork; one that ended flushed when it ended.
    for (const [socket, corked] of ended) if (corked) socket.uncork();
  };

  return {
    coalesce(socket) {
      const corked = turn.get(socket);
      if (corked === true) {
        if (socket.writableLength >= FLUSH_HELD_BYTES) {
          socket.uncork();
          socket.cork();
        }
        return;
      }
      if (!turnEndScheduled) {
        turnEndScheduled = true;
        holdFirst = isBusy();
        setImmediate(endTurn);
      }
      if (corked === undefined && !holdFirst) {
        turn.set(socket, false);
        return;
      }
      socket.cork();
      turn.set(socket, true);
    },
  };
}

/** Whether the event loop was busy at least `threshold` of the time, measured over windows of `windowMs`. */
export function createLoopBusyMeter(windowMs = 100, threshold = 0.5): () => boolean {
  let last = performance.eventLoopUtilization();
  let lastAt = performance.now();
  let busy = false;
  return () => {
    const now = performance.now();
    if (now - lastAt >= windowMs) {
      const current = performance.eventLoopUtilization();
      busy = performance.eventLoopUtilization(current, last).utilization >= threshold;
      last = current;
      lastAt = now;
    }
    return busy;
  };
}

// One event loop per process, so one coalescer for every surface.
const shared = createWriteCoalescer(createLoopBusyMeter());

export const coalesceWrites = (socket: Socket): void => shared.coalesce(socket);

/** The same for a ws WebSocket, through its underlying socket (absent before open and after close). */
export function coalesceWebSocketWrites(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket !== undefined) shared.coalesce(socket);
}
