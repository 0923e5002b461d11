import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Why a request was refused before any route read it. */
export interface RequestRefusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly status: number;
}

/** Answers a refused request; the default is GraphQL's error shape. The body is left unread, so the connection closes. */
export type RefusalAnswer = (req: IncomingMessage, res: ServerResponse, refusal: RequestRefusal) => void;

/**
 * Refuses request bodies larger than `maxBytes` before anything reads them (413). A body without a
 * Content-Length (chunked) cannot be bounded up front, so it is refused with 411; every GraphQL
 * client sends the length.
 */
export function limitRequestBody(maxBytes: number, next: Handler, refuse: RefusalAnswer = answerAsGraphql): Handler {
  return (req, res) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (Number(declared) > maxBytes) {
        return refuse(req, res, { code: 'PAYLOAD_TOO_LARGE', message: `request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`, status: 413 });
      }
    } else if (req.headers['transfer-encoding'] !== undefined) {
      return refuse(req, res, { code: 'BAD_USER_INPUT', message: 'a request body needs a Content-Length header', status: 411 });
    }
    next(req, res);
  };
}

/** Headers for a refusal: the unread body makes the connection unusable for another request. */
export const REFUSAL_HEADERS = { connection: 'close' } as const;

const answerAsGraphql: RefusalAnswer = (_req, res, { code, message, status }) => reply(res, code, message, status);

/** A GraphQL-shaped error response for failures that happen before GraphQL runs. */
export function reply(res: ServerResponse, code: ErrorCode, message: string, status: number = ERROR_STATUS[code]): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
