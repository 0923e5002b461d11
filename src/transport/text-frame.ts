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
 * Frames shorter than this are written as one buffer (header, head and a copy of body); longer ones
 * share `body` without copying. `node --import tsx bench/frame-writes.ts` on this 2-core machine,
 * mean of three runs: a 150-byte body cost 3.1 µs of CPU per frame as one write against 3.7 µs as
 * two chunks in one writev, a 300-byte one 3.5 against 4.0 µs (kernel time drops too, not only the
 * stream bookkeeping); at 1 KB one write was still 0.3 µs cheaper, and at 4 KB the copy cost more
 * than the second chunk.
 */
export const COPY_BODY_BELOW_BYTES = 1024;

/**
 * Writes one unmasked text frame whose data is `head` followed by `body`. A small frame is one
 * buffer; a large one is the frame header with `head` in one small buffer and `body` (shared by every
 * subscriber of a group) written as is, both corked into one writev, as ws's own Sender does for
 * [header, data]. A socket's later frames in the same loop turn wait to go together
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
  const copy = length < COPY_BODY_BELOW_BYTES;
  const first = Buffer.allocUnsafe(headerLength + head.length + (copy ? body.length : 0));
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
  if (copy) {
    body.copy(first, headerLength + head.length);
    socket.write(first);
    return;
  }
  socket.cork();
  socket.write(first);
  socket.write(body);
  socket.uncork();
}
