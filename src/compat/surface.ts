import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Limits } from '../config.js';
import type { RequestRefusal } from '../transport/body-limit.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Services } from '../schema/context.js';
import type { SendBufferLimit } from '../transport/send-buffer-limit.js';

/**
 * A wire protocol of a server Herald replaces (courier, notiflux), as a thin adapter over the same
 * auth, publish service, fan-out registry and store as the GraphQL API. createApp routes HTTP
 * requests and WebSocket upgrades to it and counts its sockets toward MAX_CONNECTIONS.
 */
export interface CompatSurface {
  /** Serves the request when it is one of this surface's routes and returns true; false: not its route. */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean;
  /**
   * A request refused before routing (body over MAX_BODY_BYTES, no Content-Length): answers it in
   * this surface's own error shape and returns true when it is one of its routes; false otherwise.
   */
  answerRefusal(request: IncomingMessage, response: ServerResponse, refusal: RequestRefusal): boolean;
  /** Whether this surface serves a WebSocket upgrade to `url`. */
  ownsUpgrade(url: URL): boolean;
  /** Authenticates (when the protocol does at the upgrade) and completes the upgrade, or answers with an HTTP error. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** WebSocket connections open now. */
  readonly connections: number;
  /** Subscriptions open now on those connections (counted when asked: metrics scrapes). */
  readonly subscriptions: number;
  /** Graceful shutdown: closes every socket with 1001. */
  close(): void;
}

/** What a compat surface is built from: the app's shared parts, nothing of its own. */
export interface CompatDeps {
  readonly services: Services;
  readonly verifyToken: VerifyToken;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly sendBufferLimit: SendBufferLimit;
  readonly metrics: Metrics;
  /** The base URL clients reach this instance at (PUBLIC_URL, or where it listens): http(s)://host:port. */
  readonly publicBaseUrl: () => string;
}
