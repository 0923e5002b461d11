import type { GraphQLFormattedError } from 'graphql';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';

/**
 * Close codes that become a label value as they are: the standard ones and those Herald and its
 * clients use (README, close codes). Any other code a client sends is `other`, so a label cannot grow
 * with what clients choose.
 */
const KNOWN_CLOSE_CODES = new Set([
  1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 4000, 4008, 4010, 4400, 4401, 4403, 4406, 4408, 4409, 4429, 4500,
]);

export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/** The documented code of an error a client received; anything else was masked as INTERNAL_SERVER_ERROR. */
export function errorCodeOf(error: GraphQLFormattedError): ErrorCode {
  const code = error.extensions?.code;
  return typeof code === 'string' && code in ERROR_STATUS ? (code as ErrorCode) : 'INTERNAL_SERVER_ERROR';
}
