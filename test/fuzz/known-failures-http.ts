import type { HttpInput } from './http-client.js';
import type { KnownFailure } from './known-failures.js';

/** HTTP inputs that still fail (see known-failures.ts). */
export const HTTP_KNOWN_FAILURES: ReadonlyArray<KnownFailure<HttpInput>> = [
  {
    // Issue 16 §5 (src/transport): POST /graphql {"query":"subscription { topic(name: \"a\") { id } }"}
    // with a valid bearer and no `Accept: text/event-stream` (none, */*, application/json) gets no
    // answer at all, and its subscriber stays registered after the client goes away.
    bug: 'a subscription over plain HTTP (no SSE Accept) hangs and is never released',
    matches: (input) => isGraphql(input) && !acceptsEventStream(input) && mentionsSubscription(input),
  },
  {
    // Issue 16 §5 (src/transport, Yoga's GET parser unmasked): GET /graphql?query={__typename}&extensions=
    // (or &variables={ ) answers 500 INTERNAL_SERVER_ERROR ("Unexpected end of JSON input") instead of 400.
    bug: 'a GET with variables or extensions that are not JSON answers 500',
    matches: (input) =>
      input.method === 'GET' &&
      isGraphql(input) &&
      ['variables', 'extensions'].some((name) => {
        const value = new URL(input.target, 'http://localhost').searchParams.get(name);
        return value !== null && !isJson(value);
      }),
  },
  {
    // Issue 16 §5 (src/transport/http-fast-path.ts:98): POST /graphql with the body `null` answers
    // 500 INTERNAL_SERVER_ERROR (TypeError: Cannot read properties of null (reading 'operationName')).
    bug: 'a POST body of JSON null answers 500 from the fast lane',
    matches: (input) => input.method === 'POST' && isGraphql(input) && input.body !== undefined && isJson(input.body) && JSON.parse(input.body) === null,
  },
];

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const isGraphql = (input: HttpInput): boolean => /^\/graphql(\?|$)/.test(input.target);

const acceptsEventStream = (input: HttpInput): boolean => (input.headers.accept ?? '').includes('text/event-stream');

/** Any `subscription` operation in the body or the query string (a document may define several operations). */
function mentionsSubscription(input: HttpInput): boolean {
  const query = input.target.includes('?') ? decodeURIComponentSafe(input.target.slice(input.target.indexOf('?'))) : '';
  return /subscription\b/.test(query) || /subscription\b/.test(input.body ?? '');
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
