import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';

/**
 * The client stopped reading and its send buffer passed MAX_BUFFERED_BYTES. A private-use code that
 * graphql-ws's client retries (its shouldRetryConnectOrThrow treats only its own protocol codes and
 * 1000-1999 as fatal), so a stock Apollo or urql client that fell behind reconnects. It was 4429,
 * which graphql-ws defines as TooManyInitialisationRequests and never retries.
 */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

/**
 * MAX_BUFFERED_BYTES for every WebSocket surface (graphql-ws, courier, notiflux): writes never wait
 * for the client, so after each write the socket's queue is checked, and a socket over the limit is
 * closed with SLOW_CONSUMER_CLOSE_CODE. Memory stays bounded however slow a client is.
 */
export interface SendBufferLimit {
  /** Call after writing to `socket`: true when it is over the limit and is being closed (stop writing to it). */
  exceeded(socket: WebSocket): boolean;
  /** Sockets closed for going over the limit, all surfaces (metrics, tests). */
  readonly closes: number;
}

export function createSendBufferLimit(maxBufferedBytes: number, logger: Logger): SendBufferLimit {
  let closes = 0;
  return {
    exceeded(socket) {
      if (socket.bufferedAmount <= maxBufferedBytes) return false;
      if (socket.readyState !== socket.OPEN) return true;
      closes++;
      logger.warn({ bufferedBytes: socket.bufferedAmount, limit: maxBufferedBytes }, 'closing a slow consumer');
      // The close frame waits behind what is queued; a client that never reads never completes the
      // close handshake either, so it is cut after 5 s.
      socket.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: send buffer over MAX_BUFFERED_BYTES');
      setTimeout(() => socket.terminate(), 5_000).unref();
      return true;
    },
    get closes() {
      return closes;
    },
  };
}
