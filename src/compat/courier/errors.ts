import { STATUS_CODES } from 'node:http';
import { AuthError } from '../../auth/auth-error.js';
import { HeraldError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';

/**
 * courier's error vocabulary. The codes courier itself had keep their meaning (ETOKEN_INVALID,
 * ESTATUS_FORBIDDEN, ETOPIC_INVALID, EHOOK_INVALID, EBODY_INVALID, ESERVER_UNKNOWN); the rest name
 * failures courier never reported (limits, outages, routing) in the same E<THING>_<STATE> style.
 * EAUD_NOTFOUND is part of the vocabulary but Herald never needs it: nothing requires an audience
 * to be registered first (GET /v1/topic of an unregistered audience is an empty list).
 */
export const COURIER_CODES = [
  'ETOKEN_INVALID',
  'ESTATUS_FORBIDDEN',
  'EAUD_NOTFOUND',
  'ETOPIC_INVALID',
  'ETOPIC_NOTFOUND',
  'EHOOK_INVALID',
  'EBODY_INVALID',
  'EPARAM_INVALID',
  'EPAYLOAD_TOOLARGE',
  'ERATE_LIMITED',
  'EROUTE_NOTFOUND',
  'EMETHOD_NOTALLOWED',
  'ESERVER_UNAVAILABLE',
  'ESERVER_UNKNOWN',
] as const;
export type CourierCode = (typeof COURIER_CODES)[number];

/** A failure as courier reports it: the HTTP status and code of its error body (WebSocket error frames carry code and message). */
export class CourierError extends Error {
  constructor(
    readonly status: number,
    readonly code: CourierCode,
    message: string,
  ) {
    super(message);
    this.name = 'CourierError';
  }
}

/** Herald's stable codes → courier's. UNAUTHENTICATED depends on why (see toCourierError). */
const BY_HERALD_CODE: Readonly<Record<Exclude<ErrorCode, 'UNAUTHENTICATED' | 'INTERNAL_SERVER_ERROR'>, readonly [number, CourierCode]>> = {
  FORBIDDEN: [403, 'ESTATUS_FORBIDDEN'],
  BAD_USER_INPUT: [400, 'EBODY_INVALID'],
  // Only renewConnection over HTTP produces it; no courier route does.
  BAD_REQUEST: [400, 'EBODY_INVALID'],
  // Only REQUIRE_DECLARED_TOPICS produces it on courier's routes: the topic was never declared.
  NOT_FOUND: [404, 'ETOPIC_NOTFOUND'],
  PAYLOAD_TOO_LARGE: [413, 'EPAYLOAD_TOOLARGE'],
  RATE_LIMITED: [429, 'ERATE_LIMITED'],
  // Courier's sockets close a slow reader (SLOW_CONSUMER_CLOSE_CODE) instead; no route answers it.
  SLOW_CONSUMER: [429, 'ERATE_LIMITED'],
  UNAVAILABLE: [503, 'ESERVER_UNAVAILABLE'],
  // Courier has no resume; no route answers it.
  CURSOR_EXPIRED: [410, 'EBODY_INVALID'],
};

const UNEXPECTED_MESSAGE = 'unexpected server error';

/**
 * Any error thrown while serving courier → the CourierError the client sees. Herald's client errors
 * keep their message; anything unexpected is logged with its stack and masked as ESERVER_UNKNOWN.
 * `badInput` replaces the generic BAD_USER_INPUT mapping where a route knows better what was wrong.
 */
export function toCourierError(error: unknown, logger: Logger, badInput?: readonly [number, CourierCode]): CourierError {
  if (error instanceof CourierError) return error;
  if (error instanceof AuthError) {
    // courier: 401 when no token came at all, 403 when one came and was refused (invalid, expired).
    return new CourierError(error.failure === 'missing' ? 401 : 403, 'ETOKEN_INVALID', error.message);
  }
  if (error instanceof HeraldError) {
    if (error.code === 'UNAUTHENTICATED') return new CourierError(403, 'ETOKEN_INVALID', error.message);
    if (error.code !== 'INTERNAL_SERVER_ERROR') {
      const [status, code] = error.code === 'BAD_USER_INPUT' && badInput !== undefined ? badInput : BY_HERALD_CODE[error.code];
      return new CourierError(status, code, error.message);
    }
  }
  logger.error({ err: error }, 'courier: internal error');
  return new CourierError(500, 'ESERVER_UNKNOWN', UNEXPECTED_MESSAGE);
}

/** courier's HTTP error body. */
export function errorBody(error: CourierError): { status: number; error: string; code: CourierCode } {
  return { status: error.status, error: error.message, code: error.code };
}

/** courier's WebSocket error frame (the original sent nothing; Herald says what went wrong and keeps the socket). */
export function errorFrame(error: CourierError): string {
  return JSON.stringify({ error: error.message, code: error.code });
}

/** The reason phrase of an HTTP status, for raw upgrade responses. */
export const reasonPhrase = (status: number): string => STATUS_CODES[status] ?? 'Error';
