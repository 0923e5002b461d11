import { Repeater } from 'graphql-yoga';
import { closeAtExpiry } from '../auth/token-expiry.js';
import type { Viewer } from '../auth/viewer.js';
import type { Message } from '../publish/message.js';
import type { Fanout, Target } from './fanout.js';

/**
 * What the Subscription resolvers return: a description of the subscription (whose messages, which
 * target) that is also an AsyncIterable. Transports that iterate it (SSE through Yoga) get a
 * per-subscriber stream; the graphql-ws engine recognises it and joins a shared group in the
 * fan-out registry instead, never iterating it (see transport/subscription-groups.ts).
 */
export class MessageSource implements AsyncIterable<Message> {
  constructor(
    readonly fanout: Fanout,
    readonly viewer: Viewer,
    readonly target: Target,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return openMessageStream(this.fanout, this.viewer, this.target)[Symbol.asyncIterator]();
  }
}

/**
 * Messages for `target` in the viewer's audience, filtered by its topics limit, ending when the token
 * expires (SSE streams end at exp; graphql-ws never iterates a MessageSource, its socket closes with 4401).
 */
function openMessageStream(fanout: Fanout, viewer: Viewer, target: Target): AsyncIterable<Message> {
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
    const cancelExpiry = closeAtExpiry(viewer, () => stop());
    await stop;
    cancelExpiry();
    remove();
  });
}
