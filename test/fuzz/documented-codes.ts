import { COURIER_CODES } from '../../src/compat/courier/errors.js';

/**
 * Every answer the fuzz suite accepts from the gateway, in one place. Anything else is a failure:
 * a 5xx, graphql-ws's 4500, INTERNAL_SERVER_ERROR, courier's ESERVER_UNKNOWN, or a code nobody documented.
 */

/** HTTP statuses of /graphql, /health and the compat routes. */
export const HTTP_STATUSES: ReadonlySet<number> = new Set([
  200, 400, 401, 403, 404, 405, 406, 413, 415, 429,
  // README, Configuration (MAX_BODY_BYTES): a body without Content-Length (chunked) gets 411.
  411,
]);

/**
 * An OPTIONS request to /graphql is a CORS preflight, which Yoga answers 204 with no body. The
 * README does not document it; accepted for OPTIONS only.
 */
export const PREFLIGHT_STATUS = 204;

/** courier's routes add 422 (README, Migrating from courier, Error codes: EHOOK_INVALID, ETOPIC_INVALID). */
export const COURIER_HTTP_STATUSES: ReadonlySet<number> = new Set([...HTTP_STATUSES, 422]);

/** Herald's stable error codes (`extensions.code`, notiflux's `{"code"}` and `Error: <CODE>:` replies). */
export const ERROR_CODES: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED']);

/** courier's E* codes (src/compat/courier/errors.ts), less the two that are 5xx answers. */
export const COURIER_ERROR_CODES: ReadonlySet<string> = new Set(COURIER_CODES.filter((code) => code !== 'ESERVER_UNKNOWN' && code !== 'ESERVER_UNAVAILABLE'));

/** The slow-consumer close on every WebSocket surface (README's close-code table). */
const SLOW_CONSUMER_CLOSE_CODES = [4008];

/**
 * graphql-ws close codes (README's close-code table): graphql-ws's own 4400, 4401, 4403, 4406, 4408,
 * 4409, 4429; 1000 normal, 1001 shutdown, 1007 a text frame that is not UTF-8, 1009 a frame over MAX_BODY_BYTES.
 */
export const GRAPHQL_WS_CLOSE_CODES: ReadonlySet<number> = new Set([
  1000,
  1001,
  1007,
  1009,
  4400,
  4401,
  4403,
  4406,
  4408,
  4409,
  4429,
  ...SLOW_CONSUMER_CLOSE_CODES,
]);

/** courier's socket (README, Migrating from courier): 4401 token expired, 1009 frame over MAX_BODY_BYTES, 1001 shutdown. */
export const COURIER_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1007, 1009, 4401, ...SLOW_CONSUMER_CLOSE_CODES]);

/** notiflux's socket (README's close-code table): 4408 idle, 1001 shutdown, 1009 a frame over MAX_BODY_BYTES. */
export const NOTIFLUX_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1007, 1009, 4408, ...SLOW_CONSUMER_CLOSE_CODES]);

/** notiflux's replies that are not `Error: <CODE>: …` (src/compat/notiflux/replies.ts). */
export const NOTIFLUX_PLAIN_REPLIES: ReadonlySet<string> = new Set([
  'Invalid subscribe command, it should be: /subscribe <topic> <token>',
  'Unknown command',
  'Invalid unsubscribe command, it should be: /unsubscribe <topic>',
  'Invalid unsubscribe-all command, it should be: /unsubscribe-all',
]);
