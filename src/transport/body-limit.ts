import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Refuses request bodies larger than `maxBytes` before anything reads them (413). A body without a
 * Content-Length (chunked) cannot be bounded up front, so it is refused with 411; every GraphQL
 * client sends the length.
 */
export function limitRequestBody(maxBytes: number, next: Handler): Handler {
  return (req, res) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (Number(declared) > maxBytes) {
        return reply(res, 'PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`);
      }
    } else if (req.headers['transfer-encoding'] !== undefined) {
      return reply(res, 'BAD_USER_INPUT', 'a request body needs a Content-Length header', 411);
    }
    next(req, res);
  };
}

/** A GraphQL-shaped error response for failures that happen before GraphQL runs. */
export function reply(res: ServerResponse, code: ErrorCode, message: string, status: number = ERROR_STATUS[code]): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
