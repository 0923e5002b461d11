import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { tokenFromUrl } from '../../auth/bearer.js';
import type { Viewer } from '../../auth/viewer.js';
import { HeraldError } from '../../errors.js';
import { closeCodeLabel } from '../../metrics/labels.js';
import { payloadJsonOf, type Message } from '../../publish/message.js';
import type { ConnectionSubscriptions } from '../../subscribe/connection-subscriptions.js';
import { closeOf, TOKEN_EXPIRED_CLOSE_CODE } from '../../sessions/sessions.js';
import { credentialHolds } from '../../subscribe/credential.js';
import { isPattern } from '../../topics/topic-name.js';
import { compilePattern } from '../../topics/topic-pattern.js';
import { startKeepAlive } from '../../transport/keep-alive.js';
import { SHUTDOWN_CLOSE_CODE } from '../../transport/shutdown-close-code.js';
import { coalesceWebSocketWrites } from '../../transport/write-coalescing.js';
import { createPayloadEncoder } from '../encoded-payload.js';
import type { CompatDeps } from '../surface.js';
import { FRAME_ACTIONS, readAction } from './actions.js';
import { CourierError, errorBody, errorFrame, reasonPhrase, toCourierError } from './errors.js';
import { isJsonObject } from './http-json.js';

/**
 * The token that opened the socket expired. The same code as graphql-ws (4401): courier closed
 * nothing at expiry, so its clients see a close they did not see before and reconnect with a fresh
 * token or /v1/sign key, as they do after any close.
 */
export { TOKEN_EXPIRED_CLOSE_CODE };

export interface CourierSocketOptions {
  /**
   * Server-side ping interval, in milliseconds; a socket that has not answered the previous ping by
   * the next sweep is terminated. Browsers and gorilla/websocket answer pings by themselves.
   * Default 12 000 ms (as the graphql-ws server).
   */
  readonly keepAliveMs?: number;
  /**
   * Client frames read but not yet handled on one socket past which reading from it pauses until
   * the backlog drains (a client sending faster than its publishes complete). Default 32.
   */
  readonly maxQueuedFrames?: number;
}

export interface CourierSockets {
  /** Verifies `?token=` and completes the upgrade, or answers HTTP 401/403 with a courier error body. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Sockets open now (those closing included, until they have closed), and upgrades still verifying their token. */
  readonly connections: number;
  /** Topic subscriptions open now, all sockets. */
  readonly subscriptions: number;
  /** Graceful shutdown: every socket closed with 1001, cut after SHUTDOWN_TIMEOUT_MS if the client does not finish the close. */
  close(): void;
}

interface Connection {
  readonly socket: WebSocket;
  readonly viewer: Viewer;
  /** Its topic subscriptions (the per-connection cap and their release), through the subscribe service. */
  readonly open: ConnectionSubscriptions<string>;
  /** Topic or pattern → its matcher, in subscribe order (which decides who delivers an overlapping message). */
  readonly matchers: Map<string, (topic: string) => boolean>;
  patterns: number;
  stopBroadcasts: () => void;
  cancelExpiry: () => void;
  /** False once closing for any reason: nothing more is written, nothing more registered. */
  live: boolean;
  /** Frames are handled one after another, so a client's publishes keep their order. */
  pending: Promise<void>;
  queued: number;
}

/**
 * courier's JSON WebSocket at GET /ws?token=…. On open the server sends the connection id (one text
 * frame); the client sends `{"action","topic","message"}` frames (subscribe, unsubscribe, publish,
 * broadcast); each delivered message is a text frame holding exactly the published JSON.
 *
 * Delivery rules beyond courier's: a message reaches a connection once, however many of its
 * subscriptions match (the first subscription, in subscribe order, that matches delivers it); a
 * broadcast reaches each connection once (one broadcasts entry per connection in the fan-out
 * registry); bad frames get an error frame and the socket stays open.
 */
export function createCourierSockets(deps: CompatDeps, options: CourierSocketOptions = {}): CourierSockets {
  const { services, verifyToken, limits, logger, sendBufferLimit, metrics } = deps;
  const delivered = metrics.delivered.courier;
  const deliver = (connection: Connection, message: Message): void => {
    delivered.add(1);
    write(connection, encode(message));
  };
  /** A refusal said to the client in courier's shape, counted by its Herald code. */
  const refusal = (error: unknown): CourierError => {
    metrics.refused(
      'courier',
      error instanceof HeraldError ? error.code : error instanceof CourierError && error.status < 500 ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR',
    );
    return toCourierError(error, logger);
  };
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const maxQueuedFrames = options.maxQueuedFrames ?? 32;
  // Bounds a client's frames like the HTTP body limit bounds requests (ws closes with 1009 past it).
  const server = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes, clientTracking: false });
  // One encoding per message for every courier socket: the fan-out hands a message to all its subscribers in turn.
  const encode = createPayloadEncoder(payloadJsonOf);
  const connections = new Set<Connection>();
  // Upgrades whose ?token= is still being verified (a JWKS fetch can take a while): they hold their
  // place under MAX_CONNECTIONS, which the gateway checks as each upgrade arrives.
  let verifying = 0;
  let closing = false;

  const keepAlive = startKeepAlive(keepAliveMs);

  /** Writes one text frame; a socket over MAX_BUFFERED_BYTES is being closed and is written to no more. */
  const write = (connection: Connection, frame: Buffer | string): void => {
    if (!connection.live || connection.socket.readyState !== connection.socket.OPEN) return;
    coalesceWebSocketWrites(connection.socket);
    connection.socket.send(frame, { binary: false });
    if (sendBufferLimit.exceeded(connection.socket)) stop(connection);
  };

  /** Ends everything the connection holds in the registry; its socket is closing or closed. */
  function stop(connection: Connection): void {
    if (!connection.live) return;
    connection.live = false;
    connection.cancelExpiry();
    connection.stopBroadcasts();
    connection.open.endAll();
  }

  /** Whether `topic` is the first of the connection's subscriptions that matches `name`. */
  const deliversFor = (connection: Connection, topic: string, name: string): boolean => {
    // Exact names never overlap one another; only a pattern can make two subscriptions match one topic.
    if (connection.patterns === 0) return true;
    for (const [candidate, matches] of connection.matchers) {
      if (matches(name)) return candidate === topic;
    }
    return false;
  };

  async function subscribe(connection: Connection, topic: string): Promise<void> {
    const { viewer, open } = connection;
    if (open.has(topic)) return; // idempotent
    open.assertRoom(topic);
    await services.subscriptions.authorize(viewer, { kind: 'topic', name: topic }, 'topic');
    if (!connection.live || open.has(topic)) return;

    const pattern = isPattern(topic);
    const regex = pattern ? compilePattern(topic) : undefined;
    connection.matchers.set(topic, regex === undefined ? (name) => name === topic : (name) => regex.test(name));
    if (pattern) connection.patterns++;
    const stopReceiving = services.subscriptions.open(
      viewer,
      { kind: 'topic', name: topic },
      {
        deliver: (message) => deliver(connection, message),
        // After the token's topics limit (the subscribe service's): one copy per connection.
        accepts: (name) => deliversFor(connection, topic, name),
        close: () => void open.end(topic),
      },
    );
    open.set(topic, () => {
      stopReceiving();
      connection.matchers.delete(topic);
      if (pattern) connection.patterns--;
    });
  }

  async function handleFrame(connection: Connection, data: RawData): Promise<void> {
    if (!connection.live) return;
    try {
      let body: unknown;
      try {
        body = JSON.parse(rawText(data));
      } catch {
        throw new CourierError(400, 'EBODY_INVALID', 'frame is not valid JSON');
      }
      if (!isJsonObject(body)) throw new CourierError(400, 'EBODY_INVALID', 'frame must be a JSON object');
      const action = readAction(body, FRAME_ACTIONS);
      const { viewer } = connection;
      switch (action.action) {
        case 'subscribe':
          return await subscribe(connection, action.topic);
        case 'unsubscribe':
          return void connection.open.end(action.topic); // idempotent
        case 'publish':
          await services.publisher.publish(viewer, action.topic, action.message);
          return;
        case 'broadcast':
          await services.publisher.broadcast(viewer, action.message);
          return;
      }
    } catch (error) {
      write(connection, errorFrame(refusal(error)));
    }
  }

  function open(socket: WebSocket, viewer: Viewer): void {
    const connection: Connection = {
      socket,
      viewer,
      open: services.subscriptions.connection(),
      matchers: new Map(),
      patterns: 0,
      stopBroadcasts: () => {},
      cancelExpiry: () => {},
      live: true,
      pending: Promise.resolve(),
      queued: 0,
    };
    connections.add(connection);
    keepAlive.watch(socket);
    socket.on('error', (error) => logger.debug({ err: error }, 'courier socket error'));
    socket.once('close', (code: number) => {
      metrics.closed('courier', closeCodeLabel(code));
      connections.delete(connection);
      stop(connection);
    });
    socket.on('message', (data) => {
      if (++connection.queued === maxQueuedFrames) socket.pause();
      connection.pending = connection.pending
        .then(() => handleFrame(connection, data))
        .catch((error: unknown) => logger.error({ err: error }, 'courier frame handling failed'))
        .finally(() => {
          if (connection.queued-- === maxQueuedFrames) socket.resume();
        });
    });

    write(connection, randomUUID());
    // Receiving broadcasts is subscribing to the audience's announcements (as the GraphQL `broadcasts`
    // subscription); a token the subscribe service refuses them to only publishes on this socket.
    services.subscriptions.authorize(viewer, { kind: 'broadcasts' }).then(
      () => {
        if (!connection.live) return;
        connection.stopBroadcasts = services.subscriptions.open(
          viewer,
          { kind: 'broadcasts' },
          {
            deliver: (message) => deliver(connection, message),
            close: () => connection.stopBroadcasts(),
          },
        );
      },
      () => {},
    );
    // Armed last: an already expired token (within the clock tolerance) closes at once.
    connection.cancelExpiry = services.subscriptions.watch(viewer, (ended) => {
      stop(connection);
      const { code, reason } = closeOf(ended);
      socket.close(code, reason);
    });
  }

  return {
    handleUpgrade(request, socket, head) {
      // Until ws owns the socket, a client that resets it mid-verification must not crash the process.
      const onError = (): void => void socket.destroy();
      socket.on('error', onError);
      verifying++;
      let verified = false;
      const settle = (): void => {
        if (!verified) verifying--;
        verified = true;
      };
      verifyToken(tokenFromUrl(request.url))
        .then(
          (viewer) => {
            // Synchronously before the socket is counted as a connection (or refused): no moment uncounted.
            settle();
            socket.off('error', onError);
            if (socket.destroyed) return;
            if (closing) return rejectUpgrade(socket, new CourierError(503, 'ESERVER_UNAVAILABLE', 'server shutting down'));
            // The verifier accepts a token up to JWT_CLOCK_TOLERANCE past its exp, which is right for one
            // request; a socket would be closed (4401) the moment it opened, so a client reconnecting with
            // a stale key gets a plain 403 instead of a socket that opens and closes in a loop.
            if (!credentialHolds(viewer)) {
              return rejectUpgrade(socket, new CourierError(403, 'ETOKEN_INVALID', 'token expired'));
            }
            server.handleUpgrade(request, socket, head, (ws) => open(ws, viewer));
          },
          (error: unknown) => {
            settle();
            socket.off('error', onError);
            // A client's bad token: info, with the reason and never the token (anything else, toCourierError logs at error).
            if (error instanceof HeraldError) logger.info({ reason: error.message }, 'courier WebSocket refused');
            if (!socket.destroyed) rejectUpgrade(socket, refusal(error));
          },
        )
        .catch((error: unknown) => {
          settle();
          logger.error({ err: error }, 'courier upgrade failed');
          socket.destroy();
        });
    },

    get connections() {
      return connections.size + verifying;
    },
    get subscriptions() {
      let open = 0;
      for (const connection of connections) open += connection.open.size;
      return open;
    },

    close() {
      closing = true;
      keepAlive.stop();
      for (const connection of connections) {
        stop(connection);
        connection.socket.close(SHUTDOWN_CLOSE_CODE, 'server shutting down');
      }
      if (connections.size > 0) {
        const cut = setTimeout(() => {
          for (const connection of connections) connection.socket.terminate();
        }, limits.shutdownTimeoutMs);
        cut.unref();
      }
      server.close();
    },
  };
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** An HTTP answer instead of the upgrade, with a courier error body. */
function rejectUpgrade(socket: Duplex, error: CourierError): void {
  const body = JSON.stringify(errorBody(error));
  socket.end(
    `HTTP/1.1 ${error.status} ${reasonPhrase(error.status)}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
