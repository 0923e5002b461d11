import type { ErrorCode } from '../../errors.js';
import { closeCodeLabel } from '../../metrics/labels.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { payloadJsonOf } from '../../publish/message.js';
import { createPayloadEncoder } from '../encoded-payload.js';
import { SHUTDOWN_CLOSE_CODE } from '../../transport/shutdown-close-code.js';
import { startStaggeredSweep } from '../../transport/staggered-sweep.js';
import type { CompatDeps } from '../surface.js';
import { createNotifluxSession, type NotifluxSession } from './session.js';

/** A connection from which nothing arrived for idleTimeoutMs (no frame, no pong). */
export const IDLE_CLOSE_CODE = 4408;

export interface NotifluxSocketOptions {
  /** How often the server pings every connection. Default 15 000 ms (notiflux's heartbeat interval). */
  readonly pingIntervalMs?: number;
  /**
   * A connection is silent when the client sent nothing for this long: no frame of any kind (text,
   * binary, ping) and no pong to the server's pings. A silent connection is closed with 4408 and cut
   * if it does not finish the close handshake. Checked at each ping, so it is noticed up to one ping
   * interval late. Default 30 000 ms (notiflux's client timeout).
   */
  readonly idleTimeoutMs?: number;
}

/** notiflux's WebSocket endpoint: the sockets, their keep-alive, and their sessions. */
export interface NotifluxSockets {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Sockets open now. */
  readonly connections: number;
  /** Subscriptions open now, all sockets. */
  readonly subscriptions: number;
  /** Graceful shutdown: every socket closed with 1001, cut after SHUTDOWN_TIMEOUT_MS. */
  close(): void;
}

interface Connection {
  readonly socket: WebSocket;
  readonly session: NotifluxSession;
  lastHeardAt: number;
  /** Being closed (idle or shutdown); still counted until the socket has closed. */
  closing: boolean;
}

// A client that does not finish the close handshake (it stopped reading) is cut after this long.
const CLOSE_GRACE_MS = 5_000;

export function createNotifluxSockets(deps: CompatDeps, options: NotifluxSocketOptions = {}): NotifluxSockets {
  const { services, limits, logger, sendBufferLimit, metrics } = deps;
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  // Bounds a client's incoming frames like the HTTP body limit bounds requests (ws closes with 1009 past it).
  const server = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes, clientTracking: false });
  const sessionDeps = {
    subscriptions: services.subscriptions,
    verifyToken: deps.verifyToken,
    sendBufferLimit,
    // One encoder for every socket: a message is serialised once however many subscribe to it.
    encode: createPayloadEncoder((message) => (typeof message.payload === 'string' ? message.payload : payloadJsonOf(message))),
    logger,
    delivered: metrics.delivered.notiflux,
    refused: (code: ErrorCode) => metrics.refused('notiflux', code),
  };
  const connections = new Set<Connection>();
  let closing = false;

  // Pings spread over the interval, one timer for every connection (see staggered-sweep.ts).
  const heartbeat = startStaggeredSweep<Connection>(pingIntervalMs, (connection) => {
    if (connection.closing) return;
    if (Date.now() - connection.lastHeardAt >= idleTimeoutMs) {
      closeConnection(connection, IDLE_CLOSE_CODE, `idle: nothing received for ${idleTimeoutMs} ms`, CLOSE_GRACE_MS);
    } else {
      connection.socket.ping();
    }
  });

  const accept = (socket: WebSocket): void => {
    const connection: Connection = { socket, session: createNotifluxSession(socket, sessionDeps), lastHeardAt: Date.now(), closing: false };
    connections.add(connection);
    heartbeat.add(connection);
    const heard = (): void => void (connection.lastHeardAt = Date.now());
    socket.on('message', (data, isBinary) => {
      heard();
      // notiflux ignored binary frames; so does Herald.
      // A Buffer: binaryType is ws's default, nodebuffer.
      if (!isBinary) connection.session.receive((data as Buffer).toString());
    });
    socket.on('pong', heard);
    socket.on('ping', heard);
    socket.on('error', (error) => logger.debug({ err: error }, 'notiflux socket error'));
    socket.once('close', (code: number) => {
      metrics.closed('notiflux', closeCodeLabel(code));
      connections.delete(connection);
      heartbeat.delete(connection);
      connection.session.end();
    });
  };

  return {
    handleUpgrade(request, socket, head) {
      if (closing) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      server.handleUpgrade(request, socket, head, accept);
    },
    get connections() {
      return connections.size;
    },
    get subscriptions() {
      let open = 0;
      for (const connection of connections) open += connection.session.size;
      return open;
    },
    close() {
      if (closing) return;
      closing = true;
      heartbeat.stop();
      for (const connection of connections) closeConnection(connection, SHUTDOWN_CLOSE_CODE, 'server shutting down', limits.shutdownTimeoutMs);
    },
  };
}

/** Ends the session at once (nothing more is written) and closes the socket, cutting it after `graceMs`. */
function closeConnection(connection: Connection, code: number, reason: string, graceMs: number): void {
  connection.closing = true;
  connection.session.end();
  connection.socket.close(code, reason);
  setTimeout(() => connection.socket.terminate(), graceMs).unref();
}
