import type { ErrorCode } from '../../errors.js';
import type { Tally } from '../../metrics/tally.js';
import type { WebSocket } from 'ws';
import type { VerifyToken } from '../../auth/verify-token.js';
import type { Viewer } from '../../auth/viewer.js';
import { HeraldError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Message } from '../../publish/message.js';
import { errorOf } from '../../sessions/sessions.js';
import type { SubscribeService } from '../../subscribe/subscribe-service.js';
import type { SendBufferLimit } from '../../transport/send-buffer-limit.js';
import { coalesceWebSocketWrites } from '../../transport/write-coalescing.js';
import { parseCommand, type Command } from './commands.js';
import { errorReply, quoteTopic } from './replies.js';

export interface SessionDeps {
  readonly subscriptions: SubscribeService;
  readonly verifyToken: VerifyToken;
  readonly sendBufferLimit: SendBufferLimit;
  /** A message's payload as the frame carries it, encoded once for every socket. */
  readonly encode: (message: Message) => Buffer;
  readonly logger: Logger;
  /** notiflux's deliveries (metrics). */
  readonly delivered: Tally;
  /** Counts a refused command by the Herald code its error reply carries. */
  readonly refused: (code: ErrorCode) => void;
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

/**
 * notiflux's wire format over the subscribe service. Each `/subscribe <topic> <token>` carries its own
 * token, so its own audience, topics limit and credential: the subscription (not the connection)
 * ends when that credential does, with an error reply.
 */
export function createNotifluxSession(socket: WebSocket, deps: SessionDeps): NotifluxSession {
  const { subscriptions: service, verifyToken, sendBufferLimit, encode, logger, delivered, refused } = deps;
  const open = service.connection<string>();
  // Commands run one after another, so replies come in command order and a `/subscribe` still
  // verifying its token cannot be overtaken by the `/unsubscribe` sent after it.
  let queue: Promise<void> = Promise.resolve();

  /** Every write goes through here: after it, a socket over MAX_BUFFERED_BYTES is being closed and gets nothing more. */
  const write = (data: Buffer | string): void => {
    if (open.closed || socket.readyState !== socket.OPEN) return;
    coalesceWebSocketWrites(socket);
    socket.send(data, { binary: false });
    if (sendBufferLimit.exceeded(socket)) open.endAll();
  };

  const deliver = (message: Message): void => {
    delivered.add(1);
    write(encode(message));
  };

  async function subscribe(topic: string, token: string): Promise<void> {
    let viewer: Viewer;
    try {
      open.assertRoom(topic);
      viewer = await verifyToken(token);
      await service.authorize(viewer, { kind: 'topic', name: topic }, 'topic');
    } catch (error) {
      if (!(error instanceof HeraldError)) throw error;
      refused(error.code);
      return write(errorReply(error.code, `cannot subscribe to ${quoteTopic(topic)}: ${error.message}`));
    }
    if (open.closed) return;

    // A re-subscribe replaces the entry; the new one registers before the old one ends, so the topic
    // never has zero listeners in between (on the Redis bus that would unsubscribe the channel).
    const stopReceiving = service.open(
      viewer,
      { kind: 'topic', name: topic },
      {
        deliver,
        // Shutdown: the socket is being closed with 1001 anyway.
        close: () => void open.end(topic),
      },
    );
    let stopWatching = (): void => {};
    open.end(topic);
    open.set(topic, () => {
      stopWatching();
      stopReceiving();
    });
    stopWatching = service.watch(viewer, (ended) => {
      if (!open.end(topic)) return;
      if (ended.kind === 'expired') {
        return write(
          errorReply('UNAUTHENTICATED', `the token of the subscription to ${quoteTopic(topic)} expired; it has ended (subscribe again with a fresh token)`),
        );
      }
      const error = errorOf(ended, `the subscription to ${quoteTopic(topic)} has ended`);
      write(errorReply(error.code, error.message));
    });
  }

  async function run(command: Command): Promise<void> {
    if (open.closed) return;
    switch (command.kind) {
      case 'subscribe':
        return subscribe(command.topic, command.token);
      case 'unsubscribe':
        return void open.end(command.topic);
      case 'unsubscribe-all':
        return open.endEach();
      case 'invalid':
        refused('BAD_USER_INPUT');
        return write(command.reply);
      case 'ignored':
        return;
    }
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
    end: () => open.endAll(),
    get size() {
      return open.size;
    },
  };
}
