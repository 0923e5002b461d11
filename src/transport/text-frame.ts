import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { coalesceWrites } from './write-coalescing.js';

/** What this module reads of `ws` internals; checked on every call, with ws.send as the fallback. */
interface WsInternals {
  _socket?: Socket;
  _sender?: { _state: number; _queue: unknown[] };
}

const SENDER_IDLE = 0; // ws Sender's DEFAULT state: nothing deflating or waiting on a Blob

/**
 * Writes one unmasked text frame whose data is `head` followed by `body`: the frame header with
 * `head` in one small buffer and `body` (shared by every subscriber of a group) written as is, both
 * corked into one writev, as ws's own Sender does for [header, data]. (Copying a short body into
 * the first buffer saved CPU in a micro-benchmark of single writes, but not measurably in the
 * benchmark's paired runs, where frames of one turn are written together anyway: it was removed.) A socket's later frames in the same loop turn wait to go together
 * (write-coalescing.ts). Falls back to ws.send when ws has frames queued (never the case without
 * compression), so frame order on the socket is always ws's order.
 */
export function writeTextFrame(ws: WebSocket, head: Buffer, body: Buffer): void {
  const { _socket: socket, _sender: sender } = ws as unknown as WsInternals;
  if (socket === undefined || sender === undefined || sender._state !== SENDER_IDLE || sender._queue.length > 0) {
    ws.send(Buffer.concat([head, body]), { binary: false });
    return;
  }
  const length = head.length + body.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const first = Buffer.allocUnsafe(headerLength + head.length);
  first[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    first[1] = length;
  } else if (length < 65_536) {
    first[1] = 126;
    first.writeUInt16BE(length, 2);
  } else {
    first[1] = 127;
    first.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    first.writeUInt32BE(length >>> 0, 6);
  }
  head.copy(first, headerLength);
  coalesceWrites(socket);
  socket.cork();
  socket.write(first);
  socket.write(body);
  socket.uncork();
}
