import { COURIER_ERROR_CODES, COURIER_HTTP_STATUSES, ERROR_CODES, HTTP_STATUSES, NOTIFLUX_PLAIN_REPLIES } from './documented-codes.js';

/**
 * What makes an answer documented, per surface. Each returns the problem, or undefined when the
 * answer is one the README documents.
 */

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Every `extensions.code` of a GraphQL result (or of a list of errors). */
export function graphqlErrorCodes(result: unknown): unknown[] {
  const errors = Array.isArray(result) ? result : (result as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((error) => (error as { extensions?: { code?: unknown } } | null)?.extensions?.code);
}

export function undocumentedGraphqlCodes(result: unknown): string | undefined {
  const bad = graphqlErrorCodes(result).filter((code) => typeof code !== 'string' || !ERROR_CODES.has(code));
  return bad.length > 0 ? `error codes ${JSON.stringify(bad)} in ${JSON.stringify(result).slice(0, 400)}` : undefined;
}

/** /graphql (and anything Yoga answers): a documented status; a JSON body's errors carry documented codes; SSE events too. */
export function graphqlHttpProblem(status: number, contentType: string, text: string): string | undefined {
  if (!HTTP_STATUSES.has(status)) return `status ${status}: ${text.slice(0, 400)}`;
  if (contentType.startsWith('text/event-stream')) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const problem = undocumentedGraphqlCodes(parse(line.slice(5).trim()));
      if (problem !== undefined) return `SSE ${problem}`;
    }
    return undefined;
  }
  if (!contentType.includes('json')) return undefined;
  return undocumentedGraphqlCodes(parse(text));
}

/** courier's /v1 routes: a documented status; a success is `{"data": …}`; an error body is `{"status","error","code"}` with an E* code. */
export function courierHttpProblem(status: number, text: string): string | undefined {
  if (!COURIER_HTTP_STATUSES.has(status)) return `status ${status}: ${text.slice(0, 400)}`;
  if (status === 200) {
    const body = parse(text);
    return isObject(body) && 'data' in body ? undefined : `200 without {"data"}: ${text.slice(0, 400)}`;
  }
  const body = parse(text) as { status?: unknown; code?: unknown; error?: unknown } | undefined;
  if (body === undefined || typeof body.code !== 'string' || !COURIER_ERROR_CODES.has(body.code)) return `error body ${text.slice(0, 400)}`;
  if (body.status !== status || typeof body.error !== 'string') return `error body does not match status ${status}: ${text.slice(0, 400)}`;
  return undefined;
}

/** notiflux's POST /broadcast: 200 with an empty body, or `{"error","code"}` with a documented code. */
export function broadcastHttpProblem(status: number, text: string): string | undefined {
  if (!HTTP_STATUSES.has(status)) return `status ${status}: ${text.slice(0, 400)}`;
  if (status === 200) return text === '' ? undefined : `200 with a body: ${text.slice(0, 200)}`;
  const body = parse(text) as { code?: unknown; error?: unknown } | undefined;
  if (body === undefined || typeof body.code !== 'string' || !ERROR_CODES.has(body.code) || typeof body.error !== 'string') {
    return `error body ${text.slice(0, 400)}`;
  }
  return undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What one text frame carries after a JSON round trip (a frame's text is UTF-8 on the wire: lone surrogates arrive as U+FFFD). */
export const asReceived = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

/** A lifecycle event the gateway announces on `system/events` (README, Migrating from courier). */
function isLifecycleEvent(value: unknown): boolean {
  return (
    isObject(value) &&
    value.type === 'database' &&
    (value.operation === 'INSERT' || value.operation === 'DELETE') &&
    (value.table === 'audiences' || value.table === 'topics') &&
    isObject(value.record)
  );
}

/**
 * The texts subscribers may receive from a batch: of every JSON object among `bodies` (frames and
 * request bodies) that has a `message`, that message as `encode` puts it on the wire.
 */
export function publishedTexts(bodies: Iterable<string>, encode: (message: unknown) => string): Set<string> {
  const texts = new Set<string>();
  for (const body of bodies) {
    const value = parse(asReceived(body));
    if (!isObject(value) || !('message' in value)) continue;
    try {
      texts.add(asReceived(encode(value.message)));
    } catch {
      // Nested past JSON.stringify's stack: the gateway refuses it (MAX_PAYLOAD_DEPTH), nobody receives it.
    }
  }
  return texts;
}

/**
 * A frame a courier socket received after its connection id: a message published in the same batch
 * (`published` holds their exact texts), a lifecycle event, or an error frame of exactly the keys
 * `error` (a string) and `code` (a documented E* code).
 */
export function courierFrameProblem(text: string, published: ReadonlySet<string>): string | undefined {
  if (published.has(text)) return undefined;
  const value = parse(text);
  if (isLifecycleEvent(value)) return undefined;
  if (!isObject(value) || Object.keys(value).sort().join() !== 'code,error') return `neither a published message nor an error frame: ${text.slice(0, 300)}`;
  if (typeof value.error !== 'string' || typeof value.code !== 'string' || !COURIER_ERROR_CODES.has(value.code)) return `error frame ${text.slice(0, 300)}`;
  return undefined;
}

/**
 * A frame a notiflux socket received: a message published in the same batch, one of notiflux's plain
 * replies, or `Error: <CODE>: <reason>` with a documented code.
 */
export function notifluxFrameProblem(text: string, published: ReadonlySet<string>): string | undefined {
  if (published.has(text) || NOTIFLUX_PLAIN_REPLIES.has(text)) return undefined;
  const code = /^Error: ([A-Z_]+): \S/.exec(text)?.[1];
  if (code !== undefined && ERROR_CODES.has(code)) return undefined;
  return `neither a published message, a documented reply nor an error reply: ${JSON.stringify(text.slice(0, 300))}`;
}

/** Which surface answers a request target. */
export function surfaceOf(target: string): 'courier' | 'notiflux' | 'graphql' {
  // As the gateway routes it: the URL's normalised path (`/v1/../graphql` is /graphql).
  const path = new URL(target, 'http://localhost').pathname;
  if (path === '/v1' || path.startsWith('/v1/')) return 'courier';
  if (path === '/broadcast') return 'notiflux';
  return 'graphql';
}

/** `text` undefined: an answer without a body (HEAD), of which only the status is checked. */
export function httpProblem(target: string, status: number, contentType: string, text: string | undefined): string | undefined {
  if (text === undefined)
    return HTTP_STATUSES.has(status) || (surfaceOf(target) === 'courier' && COURIER_HTTP_STATUSES.has(status)) ? undefined : `status ${status}`;
  switch (surfaceOf(target)) {
    case 'courier':
      return courierHttpProblem(status, text);
    case 'notiflux':
      return broadcastHttpProblem(status, text);
    case 'graphql':
      return graphqlHttpProblem(status, contentType, text);
  }
}
