import type { Viewer } from './viewer.js';

/**
 * Whether a credential that came in a URL (`?token=`) may be used. URLs end up in access logs,
 * proxies and browser history, so only signSubscription tokens (short-lived, subscribe-only, signed
 * by the gateway) may ride there, and only to subscribe: over HTTP that is GraphQL over SSE, whose
 * browser client (EventSource) cannot set headers; on the WebSocket upgrade `operation` is not
 * known yet and is left out. Every other token belongs in the Authorization header.
 */
export function mayAuthenticateFromUrl(viewer: Viewer, operation?: 'query' | 'mutation' | 'subscription'): boolean {
  return viewer.signed && (operation === undefined || operation === 'subscription');
}

/** What a refused `?token=` is told. */
export const URL_TOKEN_REFUSAL =
  'a token in the URL (?token=) is accepted only from signSubscription for a subscription; send it in the Authorization header: Bearer <token>';
