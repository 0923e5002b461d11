import type { WebSocket } from 'ws';
import { closeAtExpiry } from '../../auth/token-expiry.js';
import type { Viewer } from '../../auth/viewer.js';
import type { Fanout, Subscriber } from '../../bus/fanout.js';
import { HeraldError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Message } from '../../publish/message.js';
import type { SendBufferLimit } from '../../transport/send-buffer-limit.js';
import { coalesceWebSocketWrites } from '../../transport/write-coalescing.js';
import type { AuthorizeSubscription } from './authorize-subscribe.js';
import { parseCommand, type Command } from './commands.js';
import { errorReply, quoteTopic } from './replies.js';

export interface SessionDeps {
  readonly fanout: Fanout;
  readonly authorize: AuthorizeSubscription;
  readonly sendBufferLimit: SendBufferLimit;
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION. */
  readonly maxSubscriptions: number;
  /** A message's payload as the frame carries it, encoded once for every socket. */
  readonly encode: (message: Message) => Buffer;
  readonly logger: Logger;
}

/** The protocol state of one notiflux WebSocket: its subscriptions, keyed by topic as the commands name them. */
export interface NotifluxSession {
  /** A text frame from the client. */
  receive(text: string): void;
  /** Drops every subscription and writes nothing more (the socket is closing). Idempotent. */
  end(): void;
  /** Subscriptions open now. */
  readonly size: number;
}

/** One `/subscribe`, with its own token (so its own audience, topics limit and expiry): ends its fan-out entry and expiry timer. */
interface Subscription {
  remove(): void;
}

export function createNotifluxSession(socket: WebSocket, deps: SessionDeps): NotifluxSession {
  const { fanout, authorize, sendBufferLimit, maxSubscriptions, encode, logger } = deps;
  const subscriptions = new Map<string, Subscription>();
  let ended = false;
  // Commands run one after another, so replies come in command order and a `/subscribe` still
  // verifying its token cannot be overtaken by the `/unsubscribe` sent after it.
  let queue: Promise<void> = Promise.resolve();

  /** Every write goes through here: after it, a socket over MAX_BUFFERED_BYTES is being closed (4429) and gets nothing more. */
  const write = (data: Buffer | string): void => {
    if (ended || socket.readyState !== socket.OPEN) return;
    coalesceWebSocketWrites(socket);
    socket.send(data, { binary: false });
    if (sendBufferLimit.exceeded(socket)) end();
  };

  const deliver = (message: Message): void => write(encode(message));

  /** Ends `entry` if it is still the subscription of `topic` (a re-subscribe may have replaced it). */
  const drop = (topic: string, entry: Subscription): boolean => {
    if (subscriptions.get(topic) !== entry) return false;
    subscriptions.delete(topic);
    entry.remove();
    return true;
  };

  async function subscribe(topic: string, token: string): Promise<void> {
    const refuse = (code: ErrorCode, reason: string): void => write(errorReply(code, `cannot subscribe to ${quoteTopic(topic)}: ${reason}`));
    const existing = subscriptions.get(topic);
    if (existing === undefined && subscriptions.size >= maxSubscriptions) {
      return refuse('RATE_LIMITED', `this connection has ${maxSubscriptions} subscriptions already (MAX_SUBSCRIPTIONS_PER_CONNECTION)`);
    }
    let viewer: Viewer;
    try {
      viewer = await authorize(topic, token);
    } catch (error) {
      if (error instanceof HeraldError) return refuse(error.code, error.message);
      throw error;
    }
    if (ended) return;
    // Within JWT_CLOCK_TOLERANCE a token past its exp still verifies; it would only end at once.
    if (viewer.expiresAt !== undefined && viewer.expiresAt.getTime() <= Date.now()) return refuse('UNAUTHENTICATED', 'token expired');

    const subscriber: Subscriber = {
      deliver,
      ...(viewer.topics !== undefined && { accepts: viewer.allowsTopic }),
      // Shutdown: the socket is being closed with 1001 anyway.
      close: () => void drop(topic, entry),
    };
    // The new entry is added before the one it replaces is removed, so the topic never has zero
    // listeners in between (on the Redis bus that would unsubscribe and resubscribe the channel).
    const removeFromFanout = fanout.add(viewer.audience, { kind: 'topic', name: topic }, subscriber);
    let cancelExpiry = (): void => {};
    const entry: Subscription = {
      remove: () => {
        cancelExpiry();
        removeFromFanout();
      },
    };
    subscriptions.set(topic, entry);
    existing?.remove();
    cancelExpiry = closeAtExpiry(viewer, () => {
      if (drop(topic, entry)) {
        write(
          errorReply('UNAUTHENTICATED', `the token of the subscription to ${quoteTopic(topic)} expired; it has ended (subscribe again with a fresh token)`),
        );
      }
    });
  }

  function unsubscribe(topic: string): void {
    const entry = subscriptions.get(topic);
    if (entry !== undefined) drop(topic, entry);
  }

  function unsubscribeAll(): void {
    for (const entry of subscriptions.values()) entry.remove();
    subscriptions.clear();
  }

  async function run(command: Command): Promise<void> {
    if (ended) return;
    switch (command.kind) {
      case 'subscribe':
        return subscribe(command.topic, command.token);
      case 'unsubscribe':
        return unsubscribe(command.topic);
      case 'unsubscribe-all':
        return unsubscribeAll();
      case 'invalid':
        return write(command.reply);
      case 'ignored':
        return;
    }
  }

  function end(): void {
    if (ended) return;
    ended = true;
    unsubscribeAll();
  }

  return {
    receive(text) {
      const command = parseCommand(text);
      if (command.kind === 'ignored') return;
      queue = queue
        .then(() => run(command))
        .catch((error: unknown) => {
          logger.error({ err: error }, 'notiflux command failed');
          write(errorReply('INTERNAL_SERVER_ERROR', 'Unexpected error.'));
        });
    },
    end,
    get size() {
      return subscriptions.size;
    },
  };
}
