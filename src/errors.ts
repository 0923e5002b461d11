import { GraphQLError } from 'graphql';

/**
 * The stable error codes clients branch on (`extensions.code`), with the HTTP status each maps to.
 * Compat surfaces translate these to their own shapes; nothing branches on message text.
 */
export const ERROR_STATUS = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  /** An operation sent where it cannot work: renewConnection over HTTP or SSE (there is no connection to renew). */
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL_SERVER_ERROR: 500,
  /** A backing service (Redis bus, database) is unreachable right now; retrying later can succeed. */
  UNAVAILABLE: 503,
  /**
   * A reader too slow for MAX_BUFFERED_BYTES: its stream ends with this error. It only ever ends a
   * stream that already answered (SSE); the status serves the maps of the compat surfaces.
   */
  SLOW_CONSUMER: 429,
  /**
   * A resume cursor (`after`) whose gap can no longer be filled: trimmed past HISTORY_SIZE, expired after
   * HISTORY_TTL, from a history that was lost (a restart, a Redis that lost its data), or history off.
   * The client re-reads its state and subscribes without `after`.
   */
  CURSOR_EXPIRED: 410,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * A client-facing failure. Instances of GraphQLError, so Yoga's masking lets them through as they are.
 * `details` go into `extensions` beside the code (CURSOR_EXPIRED's `latest`): clients read them there.
 */
export class HeraldError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    details?: Readonly<Record<string, unknown>>,
  ) {
    super(message, { extensions: { ...details, code, http: { status: ERROR_STATUS[code] } } });
    this.name = 'HeraldError';
  }
}
