import type { IncomingMessage, ServerResponse } from 'node:http';
import { CourierError, errorBody } from './errors.js';

/** JSON in and out of courier's /v1 routes. */

/**
 * The request body as a JSON object. The app's body limit has already refused a declared
 * Content-Length over MAX_BODY_BYTES; counting here as well keeps the bound without relying on it.
 * Unparsable JSON, and JSON that is not an object (courier decoded bodies into structs), is EBODY_INVALID.
 */
export async function readJsonObject(request: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new CourierError(413, 'EPAYLOAD_TOOLARGE', `request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof CourierError) throw error;
    // The client went away mid-body: its mistake, not the server's (and nobody is left to read the answer).
    throw new CourierError(400, 'EBODY_INVALID', 'request body was cut off');
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CourierError(400, 'EBODY_INVALID', 'request body is not valid JSON');
  }
  if (!isJsonObject(value)) throw new CourierError(400, 'EBODY_INVALID', 'request body must be a JSON object');
  return value;
}

export const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A success: `{"data": …}` with 200 (courier answered 200 for every success, creations included). */
export function sendData(response: ServerResponse, data: unknown): void {
  send(response, 200, { data });
}

/** A failure: `{"status", "error", "code"}` with that status. */
export function sendError(response: ServerResponse, error: CourierError, headers: Record<string, string> = {}): void {
  send(response, error.status, errorBody(error), headers);
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}
