import { HeraldError } from '../../errors.js';
import { REFUSAL_HEADERS } from '../../transport/body-limit.js';
import type { CompatDeps, CompatSurface } from '../surface.js';
import { CourierError, toCourierError } from './errors.js';
import { sendError } from './http-json.js';
import { COURIER_WS_PATH, createCourierRoutes, isCourierPath } from './routes.js';
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
    answerRefusal(request, response, { code, message, status }) {
      if (!isCourierPath(new URL(request.url ?? '/', 'http://localhost').pathname)) return false;
      // courier's code for the Herald code, with the refusal's own status (411 has no Herald code of its own).
      const courier = toCourierError(new HeraldError(code, message), deps.logger);
      sendError(response, new CourierError(status, courier.code, courier.message), REFUSAL_HEADERS);
      return true;
    },
    ownsUpgrade: (url) => url.pathname === COURIER_WS_PATH && url.searchParams.has('token'),
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
