import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileText, mintTokenPool, tokenFrom, type TokenPool } from './arbitraries.js';
import { httpProblem } from './answers.js';
import { fuzz, FuzzTally, inParallel, watchUnhandled, within } from './fuzz-run.js';
import { assertStillServes, heapBaseline, startFuzzGateway, waitUntilIdle, type FuzzGateway } from './gateway.js';
import { anyDocument, graphqlRequest } from './graphql-documents.js';
import { createHttpClient, headerSafe, type HttpInput } from './http-client.js';
import { PREFLIGHT_STATUS } from './documented-codes.js';

/**
 * (a) HTTP bodies and headers to /graphql, and headers to the compat REST routes. Each run is a
 * batch of requests sent at once over keep-alive connections.
 */

const INPUTS = 2_000;
const BATCH = { minLength: 3, maxLength: 7 };

function httpInputs(tokens: TokenPool): fc.Arbitrary<HttpInput> {
  const bearer = tokenFrom(tokens).map(headerSafe);
  const authorization = fc.option(
    fc.oneof(
      { weight: 6, arbitrary: bearer.map((t) => `Bearer ${t}`) },
      { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'bearer  x', 'Basic dXNlcjpwYXNz', 'Bearer a b', `Bearer ${tokens.all} ${tokens.all}`) },
      { weight: 1, arbitrary: hostileText.map(headerSafe) },
    ),
    { freq: 6 },
  );
  const contentType = fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/graphql-response+json') },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'text/plain',
          'application/graphql',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json; charset=latin1',
          'application/json; charset=utf-16',
          'application/xml',
          '*/*',
          'application/',
        ),
      },
      { weight: 1, arbitrary: hostileText.map(headerSafe) },
    ),
    { freq: 8 },
  );
  const accept = fc.option(
    fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/graphql-response+json',
        'application/graphql-response+json, application/json',
        'text/event-stream',
        '*/*',
        'text/html',
        'application/xml',
        'application/json;q=0',
        'multipart/mixed',
      ),
      hostileText.map(headerSafe),
    ),
    { freq: 2 },
  );
  const extraHeaders = fc
    .dictionary(
      fc.oneof(
        fc.constantFrom(
          'content-encoding',
          'x-http-method-override',
          'origin',
          'cookie',
          'x-forwarded-for',
          'range',
          'expect',
          'if-none-match',
          'upgrade',
          'connection',
        ),
        fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
      ),
      fc.oneof(
        fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'GET', 'DELETE', 'http://evil.example', 'bytes=0-1', 'websocket', 'close'),
        hostileText.map(headerSafe),
      ),
      { maxKeys: 3 },
    )
    .map((headers) => {
      // `Expect: 100-continue`, `Upgrade` and `Connection` change the exchange itself, not what the gateway answers.
      delete headers.expect;
      delete headers.upgrade;
      delete headers.connection;
      return headers;
    });
  const headers = fc.record({ authorization, contentType, accept, extraHeaders }).map(({ authorization, contentType, accept, extraHeaders }) => ({
    ...extraHeaders,
    ...(authorization !== null && { authorization }),
    ...(contentType !== null && { 'content-type': contentType }),
    ...(accept !== null && { accept }),
  }));

  const body = fc.oneof(
    { weight: 8, arbitrary: graphqlRequest().map((request) => JSON.stringify(request)) },
    { weight: 1, arbitrary: fc.array(graphqlRequest(), { maxLength: 3 }).map((requests) => JSON.stringify(requests)) },
    { weight: 2, arbitrary: hostileText },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'null',
        '[]',
        '{}',
        '""',
        '0',
        'true',
        '{"query": null}',
        '{"query": "{ viewer { audience } }", "variables": "x"}',
        '{"query":"{ viewer { audience } }"}'.repeat(2),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 33 * 1024, max: 40 * 1024 }).map((size) => JSON.stringify({ query: '{ viewer { audience } }', pad: 'x'.repeat(size) })),
    },
  );

  const param = (value: unknown): string => encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value));
  const getTarget = graphqlRequest(anyDocument)
    .chain(
      (request) =>
        fc.record({ token: fc.option(tokenFrom(tokens), { freq: 4 }), raw: fc.option(hostileText, { freq: 4 }) }).map(({ token, raw }) => {
          const parts = Object.entries(request)
            .filter(([, value]) => value !== undefined)
            .map(([key, value]) => `${key}=${param(value)}`);
          if (token !== null) parts.push(`token=${encodeURIComponent(token)}`);
          if (raw !== null) parts.push(encodeURIComponent(raw));
          return `/graphql?${parts.join('&')}`;
        }),
      // Node answers 431 itself to a request head over 16 KB (http.maxHeaderSize), before the gateway sees it.
    )
    .filter((target) => target.length < 12 * 1024);

  const graphqlPost = fc.record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'),
    target: fc.constantFrom('/graphql', '/graphql', '/graphql', `/graphql?token=${tokens.all}`, '/graphql?', '/graphql?query=%7B'),
    headers,
    body: fc.option(body, { freq: 12 }).map((value) => value ?? undefined),
    chunked: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 9, arbitrary: fc.constant(false) }),
  });
  const graphqlGet = fc.record({
    method: fc.constantFrom('GET', 'GET', 'HEAD', 'OPTIONS'),
    target: getTarget,
    headers,
  });
  const otherPath = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH'),
    target: fc.constantFrom(
      '/health',
      '/ready',
      '/',
      '/graphql/',
      '/graphql/x',
      '//graphql',
      '/GRAPHQL',
      '/%',
      '/%zz',
      '/graphql%00',
      '/ws',
      '/v1/../graphql',
      '/broadcast/x',
    ),
    headers,
    body: fc.option(hostileText, { freq: 3 }).map((value) => value ?? undefined),
  });
  // The compat routes' headers (their bodies are fuzzed in courier.test.ts and notiflux.test.ts).
  const compatHeaders = fc.record({
    method: fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'),
    target: fc.constantFrom(
      '/v1/hook',
      '/v1/topic',
      '/v1/audience',
      '/v1/sign',
      '/v1/sign?ttl=0',
      '/v1/sign?ttl=99999999999999999999',
      '/v1/sign?topic=fuzz/*&topic=*&ttl=60',
      '/v1',
      '/v1/',
      '/v1/nope',
      '/broadcast',
    ),
    headers,
    body: fc
      .option(
        fc.oneof(
          fc.constantFrom(
            '{"action":"publish","topic":"fuzz/a","message":{"a":1}}',
            '{"topic":"fuzz/a"}',
            `{"topic":"fuzz/a","message":"m","token":"${tokens.all}"}`,
          ),
          hostileText,
        ),
        { freq: 4 },
      )
      .map((value) => value ?? undefined),
    chunked: fc.boolean().map((value) => value && Math.random() < 0.1),
  });

  return fc.oneof(
    { weight: 10, arbitrary: graphqlPost },
    { weight: 3, arbitrary: graphqlGet },
    { weight: 1, arbitrary: otherPath },
    { weight: 3, arbitrary: compatHeaders },
  );
}

describe('fuzz: HTTP bodies and headers', () => {
  const tally = new FuzzTally('http');
  let gateway: FuzzGateway;
  let tokens: TokenPool;
  let unhandled: ReturnType<typeof watchUnhandled>;
  let client: ReturnType<typeof createHttpClient>;

  beforeAll(async () => {
    unhandled = watchUnhandled();
    gateway = await startFuzzGateway();
    tokens = await mintTokenPool();
    client = createHttpClient(gateway.baseUrl);
  });
  afterAll(async () => {
    client.close();
    unhandled.stop();
    await gateway.stop();
    console.log(tally.summary());
  });

  const sendBatch = async (batch: readonly HttpInput[]): Promise<number> => {
    await inParallel(batch, batch.length, async (input) => {
      const answer = await within(5_000, `${input.method} ${input.target}`, client.send(input));
      if (input.method === 'OPTIONS' && answer.status === PREFLIGHT_STATUS && answer.text === '') return;
      // A HEAD answer has no body to check.
      const problem = httpProblem(input.target, answer.status, answer.contentType, input.method === 'HEAD' ? undefined : answer.text);
      if (problem !== undefined) throw new Error(`${input.method} ${input.target.slice(0, 300)}: ${problem}`);
    });
    const errors = gateway.takeErrorLogs();
    if (errors.length > 0) throw new Error(`the gateway logged errors:\n${errors.join('\n').slice(0, 2_000)}`);
    if (unhandled.seen.length > 0) throw new Error(`unhandled: ${String(unhandled.seen.splice(0)[0])}`);
    return batch.length;
  };

  it(`answers ${INPUTS} generated requests with documented statuses and codes, keeps serving, and its heap returns to the baseline`, async () => {
    const inputs = fc.array(httpInputs(tokens), BATCH);
    // Warm-up with another seed: JIT code and the bounded document caches fill before the baseline.
    await fc.assert(
      fc.asyncProperty(inputs, async (batch) => {
        await sendBatch(batch);
      }),
      { seed: 1, numRuns: 200 },
    );
    await waitUntilIdle(gateway, 'http warm-up');
    const baseline = await heapBaseline();

    await fuzz(tally, 'http', inputs, sendBatch, Math.ceil(INPUTS / 4));
    await assertStillServes(gateway, 'http');
    client.close();
    client = createHttpClient(gateway.baseUrl);
    await waitUntilIdle(gateway, 'http');
    await baseline.assertReturned('http');
    expect(tally.count('http')).toBeGreaterThanOrEqual(INPUTS);
  }, 120_000);
});
