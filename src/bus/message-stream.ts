import { Repeater } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.js';
import type { Message } from '../publish/message.js';
import { closeAtExpiry } from '../auth/token-expiry.js';
import type { Fanout, Target } from './fanout.js';

/**
 * A GraphQL subscription's source: messages for `target` in the viewer's audience, filtered by its
 * topics limit. With `endAtExpiry` it ends when the token expires (SSE); over graphql-ws the socket
 * is closed with 4401 instead, and a stream ending first would send a misleading `complete`.
 */
export function openMessageStream(fanout: Fanout, viewer: Viewer, target: Target, endAtExpiry: boolean): AsyncIterable<Message> {
  return new Repeater<Message>(async (push, stop) => {
    const remove = fanout.add(viewer.audience, target, {
      deliver(message) {
        try {
          // Settles when consumed; once the stream has stopped there is nobody to tell.
          push(message).catch(() => {});
        } catch (error) {
          // A consumer 1024 messages behind overflows the repeater; end its stream rather than grow without bound.
          stop(error);
        }
      },
      ...(viewer.topics !== undefined && { accepts: viewer.allowsTopic }),
      close: () => stop(),
    });
    const cancelExpiry = endAtExpiry ? closeAtExpiry(viewer, () => stop()) : undefined;
    await stop;
    cancelExpiry?.();
    remove();
  });
}
