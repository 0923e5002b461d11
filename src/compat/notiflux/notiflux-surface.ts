import type { CompatDeps, CompatSurface } from '../surface.js';
import { REFUSAL_HEADERS } from '../../transport/body-limit.js';
import { answerError, BROADCAST_PATH, createBroadcastRoute } from './broadcast-route.js';
import { createNotifluxSockets, type NotifluxSocketOptions } from './socket.js';

export const NOTIFLUX_WS_PATH = '/ws';

/** What a notiflux surface can be tuned with; every field has notiflux's value as its default. */
export type NotifluxOptions = NotifluxSocketOptions;

/**
 * notiflux's text-command WebSocket (/ws without a token) and POST /broadcast; see contract/compat.md §B.
 * GET /health is the app's own (Yoga answers 200 while the process runs).
 */
export function createNotifluxSurface(deps: CompatDeps, options: NotifluxOptions = {}): CompatSurface {
  const sockets = createNotifluxSockets(deps, options);
  const broadcast = createBroadcastRoute(deps);
  const isBroadcast = (request: { url?: string | undefined }): boolean => new URL(request.url ?? '/', 'http://localhost').pathname === BROADCAST_PATH;
  return {
    handleRequest(request, response) {
      if (!isBroadcast(request)) return false;
      broadcast(request, response);
      return true;
    },
    answerRefusal(request, response, { code, message, status }) {
      if (!isBroadcast(request)) return false;
      answerError(response, code, message, status, REFUSAL_HEADERS);
      return true;
    },
    // /ws?token=… is courier's (its token rides in the URL); notiflux's tokens ride in /subscribe commands.
    ownsUpgrade: (url) => url.pathname === NOTIFLUX_WS_PATH && !url.searchParams.has('token'),
    handleUpgrade: (request, socket, head) => sockets.handleUpgrade(request, socket, head),
    get connections() {
      return sockets.connections;
    },
    get subscriptions() {
      return sockets.subscriptions;
    },
    close: () => sockets.close(),
  };
}
