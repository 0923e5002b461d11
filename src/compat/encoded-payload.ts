import type { Message } from '../publish/message.js';

/**
 * The payload as a compat surface sends it, encoded once per message however many sockets get it.
 * The fan-out registry hands one message to every subscriber in turn, synchronously, so remembering
 * the last message is enough; the Buffer goes to every ws.send as is (no copy, no re-encoding).
 */
export function createPayloadEncoder(encode: (message: Message) => string): (message: Message) => Buffer {
  let last: Message | undefined;
  let bytes = Buffer.alloc(0);
  return (message) => {
    if (message !== last) {
      bytes = Buffer.from(encode(message), 'utf8');
      last = message;
    }
    return bytes;
  };
}
