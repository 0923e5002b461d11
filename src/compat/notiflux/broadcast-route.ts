import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError } from '../../auth/auth-error.js';
import { ERROR_STATUS, HeraldError, type ErrorCode } from '../../errors.js';
import type { CompatDeps } from '../surface.js';

export const BROADCAST_PATH = '/broadcast';

/**
 * POST /broadcast `{"topic", "message", "token"}`: notiflux's publish. The token needs the
 * `broadcast` scope (Herald's publish) and must list the topic; the message goes through the one
 * publish service, so MAX_PAYLOAD_BYTES, REQUIRE_DECLARED_TOPICS and UNAVAILABLE apply as on GraphQL.
 *
 * Success: 200, empty body. Failure: `{"error": "<reason>", "code": "<CODE>"}` with Herald's stable
 * code and its status: 400 BAD_USER_INPUT (not JSON, a field missing or of the wrong type, a bad
 * topic name), 401 UNAUTHENTICATED (no token, or one that does not verify), 403 FORBIDDEN (no
 * broadcast scope, topic not in the token), 404 NOT_FOUND (undeclared topic under
 * REQUIRE_DECLARED_TOPICS), 413 PAYLOAD_TOO_LARGE, 503 UNAVAILABLE (the bus is unreachable).
 * The body limit (MAX_BODY_BYTES: 413, no Content-Length: 411) is enforced before this handler runs.
 */
export function createBroadcastRoute(
  deps: Pick<CompatDeps, 'verifyToken' | 'services' | 'limits' | 'logger'>,
): (request: IncomingMessage, response: ServerResponse) => void {
  const { verifyToken, services, limits, logger } = deps;

  async function broadcast(request: IncomingMessage): Promise<void> {
    const body = parseBody(await readBody(request, limits.maxBodyBytes));
    const viewer = await verifyToken(body.token);
    await services.publisher.publish(viewer, body.topic, body.message);
  }

  return (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      return answerError(response, 'BAD_USER_INPUT', `${BROADCAST_PATH} takes POST`, 405);
    }
    broadcast(request).then(
      () => {
        response.writeHead(200, { 'content-length': 0 });
        response.end();
      },
      (error: unknown) => {
        if (response.headersSent) return;
        if (error instanceof HeraldError) {
          logger.debug({ err: error }, 'notiflux broadcast refused');
          return answerError(response, error.code, error.message);
        }
        logger.error({ err: error }, 'notiflux broadcast failed');
        answerError(response, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
      },
    );
  };
}

interface BroadcastBody {
  readonly topic: string;
  readonly message: unknown;
  /** Undefined: absent, which is a 401 rather than a malformed body. */
  readonly token: string | undefined;
}

function parseBody(text: string): BroadcastBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw malformed('the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw malformed('the body is not a JSON object');
  const { topic, message, token } = body as Record<string, unknown>;
  if (typeof topic !== 'string') throw malformed('"topic" must be a string');
  // notiflux took only a string; any JSON value is published as is, and reaches notiflux sockets as its JSON text.
  if (message === undefined) throw malformed('"message" is missing');
  if (token !== undefined && token !== null && typeof token !== 'string') throw malformed('"token" must be a string');
  if (token === undefined || token === null || token === '') throw new AuthError('missing', '"token" is required');
  return { topic, message, token };
}

const malformed = (reason: string): HeraldError =>
  new HeraldError('BAD_USER_INPUT', `${reason}; expected {"topic": "<topic>", "message": "<message>", "token": "<jwt>"}`);

/** The request body as text, never more than `maxBytes` (body-limit.ts has already refused a larger declared length). */
function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.destroy();
        reject(new HeraldError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // The client went away mid-body: its mistake, not the server's (and nobody is left to read the answer).
    request.on('error', () => reject(new HeraldError('BAD_USER_INPUT', 'the request body was cut off')));
  });
}

/** notiflux's error body (the original had none): `{"error", "code"}` with Herald's stable code. */
export function answerError(
  response: ServerResponse,
  code: ErrorCode,
  message: string,
  status: number = ERROR_STATUS[code],
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: message, code });
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}
