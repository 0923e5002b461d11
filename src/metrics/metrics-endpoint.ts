import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenFromAuthorization } from '../auth/bearer.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

export const METRICS_PATH = '/metrics';

/**
 * GET /metrics in Prometheus's text format. With METRICS_TOKEN, only a scraper sending it as a bearer
 * token is answered (401 otherwise, with nothing about the gateway in the body).
 */
export function createMetricsEndpoint(
  metrics: Metrics,
  token: string | undefined,
  logger: Logger,
): (request: IncomingMessage, response: ServerResponse) => void {
  // Compared as digests, so the comparison takes the same time whatever the length of the guess.
  const expected = token === undefined ? undefined : digest(token);
  return (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      return void response.end();
    }
    if (expected !== undefined) {
      const given = tokenFromAuthorization(request.headers.authorization);
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        const body = 'metrics need the METRICS_TOKEN bearer token\n';
        response.writeHead(401, {
          'www-authenticate': 'Bearer realm="metrics"',
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        });
        return void response.end(body);
      }
    }
    metrics.scrape().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics scrape failed');
        response.writeHead(500, { 'content-length': 0 });
        response.end();
      },
    );
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
