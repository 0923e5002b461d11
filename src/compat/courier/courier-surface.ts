import type { CompatDeps, CompatSurface } from '../surface.js';
import { COURIER_WS_PATH, createCourierRoutes } from './routes.js';
import { createCourierSockets, type CourierSocketOptions } from './socket.js';

export type CourierOptions = CourierSocketOptions;

/**
 * courier's REST routes (/v1/*) and JSON WebSocket (/ws?token=…); see contract/compat.md §A.
 * The WebSocket is courier's only when the URL carries a `token` parameter: notiflux's /ws has none
 * (its tokens travel inside each /subscribe command).
 */
export function createCourierSurface(deps: CompatDeps, options: CourierOptions = {}): CompatSurface {
  const handleRequest = createCourierRoutes(deps);
  const sockets = createCourierSockets(deps, options);
  return {
    handleRequest,
    ownsUpgrade: (url) => url.pathname === COURIER_WS_PATH && url.searchParams.has('token'),
    handleUpgrade: (request, socket, head) => sockets.handleUpgrade(request, socket, head),
    get connections() {
      return sockets.connections;
    },
    close: () => sockets.close(),
  };
}
