import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { errorCode, gql, startHerald, token, waitForSubscribers, wsClient, type GraphQLResponse, type TestHerald } from './helpers/herald.js';
import { openSse } from './helpers/sse.js';
import { subscribe, type Subscription } from './helpers/subscription.js';
import { MAX_PAYLOAD_DEPTH } from '../src/publish/payload-depth.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id topic payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id topic } }';
const VIEWER = '{ viewer { audience } }';

/** A raw POST to /graphql: the body is sent exactly as given. */
async function post(url: string, bearer: string, body: string, headers: Record<string, string> = {}): Promise<GraphQLResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${bearer}`,
      ...headers,
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, ...(JSON.parse(text) as Omit<GraphQLResponse, 'status'>) };
}

/** The server still answers a good request correctly after a bad one. */
async function expectStillServing(herald: TestHerald, bearer: string, audience: string): Promise<void> {
  const response = await gql(herald.httpUrl, bearer, VIEWER);
  expect(response.status).toBe(200);
  expect(response.errors).toBeUndefined();
  expect(response.data).toEqual({ viewer: { audience } });
}

type WireError = { message: string; extensions?: { code?: string } };

/**
 * The errors a refused graphql-ws operation ended with. graphql-ws has two ways to refuse: an
 * `error` message (refused before execution: validation, limits) or a `next` carrying errors and
 * then `complete` (refused by the resolver, e.g. a bad topic name). Either one is a clean refusal.
 */
async function refusal(sub: Subscription<unknown>): Promise<readonly WireError[]> {
  const ended = await sub.ended;
  if (ended.error !== undefined) {
    expect(Array.isArray(ended.error), `expected GraphQL errors, got ${JSON.stringify(ended.error)}`).toBe(true);
    return ended.error as WireError[];
  }
  expect(sub.received).toHaveLength(1);
  const errors = sub.received[0]?.errors;
  expect(errors, 'the operation completed without errors').toBeDefined();
  return errors as unknown as WireError[];
}

/** Nested topics { audience { topics { ... name } } } with `fields` fields on the deepest path. */
function nestedQuery(fields: number): string {
  let selection = 'name';
  for (let depth = fields - 1; depth >= 1; depth--) selection = `${depth % 2 === 1 ? 'topics' : 'audience'} { ${selection} }`;
  return `{ ${selection} }`;
}

describe('bad requests on a default server', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('malformed JSON body: 400 BAD_USER_INPUT, then serves the next request', async () => {
    const audience = 'bad-json';
    const bearer = await token({ audience });
    for (const body of ['{"query": ', 'not json', '', '{"query": "{ viewer { audience } }",}']) {
      const response = await post(herald.httpUrl, bearer, body);
      expect(response.status, body).toBe(400);
      expect(errorCode(response), body).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.message).toEqual(expect.any(String));
      await expectStillServing(herald, bearer, audience);
    }
  });

  it('a JSON body that is not a GraphQL request: 400 BAD_USER_INPUT', async () => {
    const audience = 'bad-shape';
    const bearer = await token({ audience });
    for (const body of [
      'null',
      '[]',
      '42',
      '{"query": 42}',
      '{}',
      '{"query": "{ viewer { audience } }", "variables": "x"}',
      '{"query": "{ viewer { audience } }", "extensions": 1}',
    ]) {
      const response = await post(herald.httpUrl, bearer, body);
      expect(response.status, body).toBe(400);
      expect(errorCode(response), body).toBe('BAD_USER_INPUT');
      await expectStillServing(herald, bearer, audience);
    }
  });

  it('unknown operationName: BAD_USER_INPUT', async () => {
    const audience = 'bad-operation-name';
    const bearer = await token({ audience });
    const query = 'query A { viewer { audience } } query C { viewer { subject } }';
    const unknown = await post(herald.httpUrl, bearer, JSON.stringify({ query, operationName: 'B' }));
    expect(unknown.status).toBe(400);
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    const missing = await post(herald.httpUrl, bearer, JSON.stringify({ query }));
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    const named = await post(herald.httpUrl, bearer, JSON.stringify({ query, operationName: 'A' }));
    expect(named.errors).toBeUndefined();
    expect(named.data).toEqual({ viewer: { audience } });
  });

  it('unknown operationName over graphql-ws: BAD_USER_INPUT, the connection goes on', async () => {
    const audience = 'bad-operation-name-ws';
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    try {
      const refused = subscribe(client, 'query A { viewer { audience } } query C { viewer { subject } }');
      expect((await refusal(refused))[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const good = subscribe(client, VIEWER);
      expect((await good.next()).data).toEqual({ viewer: { audience } });
    } finally {
      await client.dispose();
    }
  });

  it('unknown field and syntax errors: BAD_USER_INPUT with a message naming the problem', async () => {
    const audience = 'bad-field';
    const bearer = await token({ audience });
    const unknownField = await gql(herald.httpUrl, bearer, '{ viewer { audience nope } }');
    expect(unknownField.status).toBe(400);
    expect(errorCode(unknownField)).toBe('BAD_USER_INPUT');
    expect(unknownField.errors?.[0]?.message).toContain('nope');
    expect(unknownField.data).toBeUndefined();
    await expectStillServing(herald, bearer, audience);

    const unknownArgument = await gql(herald.httpUrl, bearer, '{ topic(name: "a", color: "red") { name } }');
    expect(errorCode(unknownArgument)).toBe('BAD_USER_INPUT');

    const syntax = await gql(herald.httpUrl, bearer, '{ viewer { audience }');
    expect(syntax.status).toBe(400);
    expect(errorCode(syntax)).toBe('BAD_USER_INPUT');
    await expectStillServing(herald, bearer, audience);
  });

  it('bad variables: BAD_USER_INPUT', async () => {
    const audience = 'bad-variables';
    const bearer = await token({ audience, scopes: ['publish'] });
    const missing = await gql(herald.httpUrl, bearer, PUBLISH, { payload: 1 });
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    const nullPayload = await gql(herald.httpUrl, bearer, PUBLISH, { topic: 'a', payload: null });
    expect(errorCode(nullPayload)).toBe('BAD_USER_INPUT');
    await expectStillServing(herald, bearer, audience);
  });

  // src bug: createMaskError (src/transport/error-codes.ts) masks variable coercion errors as INTERNAL_SERVER_ERROR (500).
  it('a variable of the wrong type: 400 BAD_USER_INPUT, not a masked 500', async () => {
    const audience = 'bad-variable-type';
    const bearer = await token({ audience, scopes: ['publish', 'manage'] });
    for (const [query, variables] of [
      [PUBLISH, { topic: 42, payload: 1 }],
      ['mutation ($t: Int) { signSubscription(ttlSeconds: $t) { url } }', { t: 'sixty' }],
    ] as const) {
      const response = await gql(herald.httpUrl, bearer, query, variables);
      expect(response.status, JSON.stringify(variables)).toBe(400);
      expect(errorCode(response), JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.message).toMatch(/Variable "\$\w+" got invalid value/);
    }
    await expectStillServing(herald, bearer, audience);
  });

  // The same src bug over graphql-ws (a subscription with a bad variable is already BAD_USER_INPUT; a mutation is masked).
  it('a variable of the wrong type over graphql-ws: BAD_USER_INPUT for subscriptions and mutations', async () => {
    const audience = 'bad-variable-type-ws';
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience, scopes: ['publish', 'subscribe'] }) } });
    try {
      const subscription = subscribe(client, ON_TOPIC, { name: 42 });
      expect((await refusal(subscription))[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const mutation = subscribe(client, PUBLISH, { topic: 42, payload: 1 });
      expect((await refusal(mutation))[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    } finally {
      await client.dispose();
    }
  });

  it('a query deeper than MAX_QUERY_DEPTH (default 10): BAD_USER_INPUT; one at the limit runs', async () => {
    const audience = 'bad-depth';
    const bearer = await token({ audience, scopes: ['manage'] });
    expect((await gql(herald.httpUrl, bearer, 'mutation { createTopic(name: "deep") { name } }')).errors).toBeUndefined();

    const atLimit = await gql(herald.httpUrl, bearer, nestedQuery(10));
    expect(atLimit.errors).toBeUndefined();
    expect(atLimit.data).toEqual({
      topics: [{ audience: { topics: [{ audience: { topics: [{ audience: { topics: [{ audience: { topics: [{ name: 'deep' }] } }] } }] } }] } }],
    });

    const tooDeep = await gql(herald.httpUrl, bearer, nestedQuery(11));
    expect(tooDeep.status).toBe(400);
    expect(errorCode(tooDeep)).toBe('BAD_USER_INPUT');
    expect(tooDeep.errors?.[0]?.message).toMatch(/depth/i);
    expect(tooDeep.data).toBeUndefined();
    await expectStillServing(herald, bearer, audience);
  });

  it('bad topic names (whitespace, *, 257 characters, empty): BAD_USER_INPUT on publish, createTopic and subscribe', async () => {
    const audience = 'bad-topic-names';
    const bearer = await token({ audience, scopes: ['publish', 'manage', 'subscribe'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: bearer } });
    try {
      const badNames = ['has space', ' leading', 'tab\there', 'new\nline', '', 'x'.repeat(257), 'nul\u0000char'];
      for (const name of [...badNames, '*', 'orders/*', '**']) {
        const published = await gql(herald.httpUrl, bearer, PUBLISH, { topic: name, payload: 1 });
        expect(errorCode(published), JSON.stringify(name)).toBe('BAD_USER_INPUT');
        expect(published.data ?? null).toBeNull();
        const created = await gql(herald.httpUrl, bearer, 'mutation ($name: String!) { createTopic(name: $name) { name } }', { name });
        expect(errorCode(created), JSON.stringify(name)).toBe('BAD_USER_INPUT');
      }
      for (const name of [...badNames, '***']) {
        const refused = subscribe(client, ON_TOPIC, { name });
        expect((await refusal(refused))[0]?.extensions?.code, JSON.stringify(name)).toBe('BAD_USER_INPUT');
      }
      // Nothing was declared, and the limits' edges are accepted.
      expect((await gql(herald.httpUrl, bearer, '{ topics { name } }')).data).toEqual({ topics: [] });
      const longest = 'y'.repeat(256);
      const ok = await gql(herald.httpUrl, bearer, PUBLISH, { topic: longest, payload: 1 });
      expect(ok.errors).toBeUndefined();
      expect(ok.data!.publish.topic).toBe(longest);
      expect((await gql(herald.httpUrl, bearer, PUBLISH, { topic: 'é'.repeat(256), payload: 1 })).errors).toBeUndefined();
      await expectStillServing(herald, bearer, audience);
    } finally {
      await client.dispose();
    }
  });

  it('a publish that fails validation does not break an open subscription', async () => {
    const audience = 'bad-publish-keeps-sub';
    const publisher = await token({ audience, scopes: ['publish'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    try {
      const sub = subscribe(client, ON_TOPIC, { name: 'orders/*' });
      await waitForSubscribers(herald.app, audience, 'orders/1');

      expect(errorCode(await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'orders/*', payload: 'wildcard' }))).toBe('BAD_USER_INPUT');
      expect(errorCode(await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'orders/ 1', payload: 'space' }))).toBe('BAD_USER_INPUT');
      expect(errorCode(await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'orders/1' }))).toBe('BAD_USER_INPUT');
      // A bad operation on the subscriber's own connection does not end the connection's other operations.
      const refused = subscribe(client, ON_TOPIC, { name: 'bad name' });
      expect((await refusal(refused))[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const invalid = subscribe(client, 'subscription { topic(name: "x") { nope } }');
      expect((await refusal(invalid))[0]?.extensions?.code).toBe('BAD_USER_INPUT');

      const sent = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'orders/1', payload: 'good' });
      expect(sent.errors).toBeUndefined();
      expect((await sub.next()).data).toEqual({ topic: { id: sent.data!.publish.id, topic: 'orders/1', payload: 'good' } });
      expect(sub.received).toHaveLength(1);
      expect(herald.app.fanout.subscriberCount(audience, 'orders/1')).toBe(1);
    } finally {
      await client.dispose();
    }
  });
});

describe('payload and body limits (MAX_PAYLOAD_BYTES=100, MAX_BODY_BYTES=2048)', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ MAX_PAYLOAD_BYTES: '100', MAX_BODY_BYTES: '2048' });
  });
  afterAll(() => herald.stop());

  it('refuses a payload over the limit with PAYLOAD_TOO_LARGE and accepts one exactly at it (UTF-8 bytes of its JSON)', async () => {
    const audience = 'bad-payload-size';
    const publisher = await token({ audience, scopes: ['publish'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    try {
      const sub = subscribe(client, ON_TOPIC, { name: 'sized' });
      await waitForSubscribers(herald.app, audience, 'sized');

      // "é" is 2 bytes in UTF-8: 49 of them and the quotes are 100 bytes of JSON in 51 characters.
      const atLimit = 'é'.repeat(49);
      expect(Buffer.byteLength(JSON.stringify(atLimit))).toBe(100);
      const overLimit = `${atLimit}a`;
      expect(Buffer.byteLength(JSON.stringify(overLimit))).toBe(101);
      // An object: measured as its JSON text, without whitespace.
      const objectAtLimit = { k: 'x'.repeat(92) };
      expect(Buffer.byteLength(JSON.stringify(objectAtLimit))).toBe(100);

      const refused = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'sized', payload: overLimit });
      expect(errorCode(refused)).toBe('PAYLOAD_TOO_LARGE');
      expect(refused.errors?.[0]?.message).toMatch(/101 bytes.*100/);
      const refusedObject = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'sized', payload: { k: 'x'.repeat(93) } });
      expect(errorCode(refusedObject)).toBe('PAYLOAD_TOO_LARGE');
      const refusedBroadcast = await gql(herald.httpUrl, publisher, 'mutation ($p: JSON!) { broadcast(payload: $p) { id } }', { p: overLimit });
      expect(errorCode(refusedBroadcast)).toBe('PAYLOAD_TOO_LARGE');

      const accepted = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'sized', payload: atLimit });
      expect(accepted.errors).toBeUndefined();
      expect((await sub.next()).data!.topic.payload).toBe(atLimit);
      const acceptedObject = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'sized', payload: objectAtLimit });
      expect(acceptedObject.errors).toBeUndefined();
      expect((await sub.next()).data!.topic.payload).toEqual(objectAtLimit);
      // The refused ones were never delivered.
      expect(sub.received).toHaveLength(2);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a request body over MAX_BODY_BYTES with 413 PAYLOAD_TOO_LARGE, then serves the next request', async () => {
    const audience = 'bad-body-size';
    const bearer = await token({ audience });
    const big = JSON.stringify({ query: VIEWER, variables: { filler: 'z'.repeat(3000) } });
    const refused = await post(herald.httpUrl, bearer, big);
    expect(refused.status).toBe(413);
    expect(errorCode(refused)).toBe('PAYLOAD_TOO_LARGE');
    expect(refused.errors?.[0]?.message).toContain('MAX_BODY_BYTES');
    await expectStillServing(herald, bearer, audience);

    // Exactly at the limit passes the body check.
    const base = JSON.stringify({ query: VIEWER, variables: { filler: '' } });
    const exact = JSON.stringify({ query: VIEWER, variables: { filler: 'z'.repeat(2048 - base.length) } });
    expect(Buffer.byteLength(exact)).toBe(2048);
    const accepted = await post(herald.httpUrl, bearer, exact);
    expect(accepted.status).toBe(200);
    expect(accepted.data).toEqual({ viewer: { audience } });
  });

  it('refuses a chunked body without Content-Length (411), then serves the next request', async () => {
    const audience = 'bad-chunked';
    const bearer = await token({ audience });
    const url = new URL(herald.httpUrl);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write(JSON.stringify({ query: VIEWER }).slice(0, 5));
      req.end(JSON.stringify({ query: VIEWER }).slice(5));
    });
    expect(response.status).toBe(411);
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    await expectStillServing(herald, bearer, audience);
  });
});

describe('MAX_SUBSCRIPTIONS_PER_CONNECTION=2', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' });
  });
  afterAll(() => herald.stop());

  it('refuses the third subscription on a connection with RATE_LIMITED; the first two still deliver', async () => {
    const audience = 'bad-too-many-subs';
    const publisher = await token({ audience, scopes: ['publish'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    const other = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    try {
      const first = subscribe(client, ON_TOPIC, { name: 'limited' });
      const second = subscribe(client, ON_TOPIC, { name: 'limited' });
      await waitForSubscribers(herald.app, audience, 'limited', 2);

      const third = subscribe(client, ON_TOPIC, { name: 'limited' });
      const errors = await refusal(third);
      expect(errors[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(errors[0]?.message).toContain('MAX_SUBSCRIPTIONS_PER_CONNECTION');
      // The limit is per connection: another connection may still subscribe.
      const elsewhere = subscribe(other, ON_TOPIC, { name: 'limited' });
      await waitForSubscribers(herald.app, audience, 'limited', 3);

      const sent = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'limited', payload: 1 });
      expect(sent.errors).toBeUndefined();
      for (const sub of [first, second, elsewhere]) expect((await sub.next()).data!.topic.payload).toBe(1);
      expect(third.received).toHaveLength(0);

      // Ending one frees its slot.
      first.dispose();
      await waitForSubscribers(herald.app, audience, 'limited', 2);
      const fourth = subscribe(client, ON_TOPIC, { name: 'limited' });
      await waitForSubscribers(herald.app, audience, 'limited', 3);
      await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'limited', payload: 2 });
      expect((await fourth.next()).data!.topic.payload).toBe(2);
      expect((await second.next()).data!.topic.payload).toBe(2);
    } finally {
      await client.dispose();
      await other.dispose();
    }
  });
});

describe('MAX_CONNECTIONS=1', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ MAX_CONNECTIONS: '1' });
  });
  afterAll(() => herald.stop());

  it('refuses a second WebSocket upgrade with 503 while the first keeps working', async () => {
    const audience = 'bad-max-connections';
    const publisher = await token({ audience, scopes: ['publish'] });
    const subscriber = await token({ audience });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    try {
      const sub = subscribe(client, ON_TOPIC, { name: 'conn' });
      await waitForSubscribers(herald.app, audience, 'conn');

      const status = await new Promise<number>((resolve, reject) => {
        const second = new WebSocket(herald.wsUrl, 'graphql-transport-ws');
        second.on('unexpected-response', (_req, res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          second.terminate();
        });
        second.on('open', () => reject(new Error('the second WebSocket was accepted')));
        second.on('error', (error) => reject(error));
      });
      expect(status).toBe(503);

      // HTTP is not a WebSocket: still served.
      const sent = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'conn', payload: 'still here' });
      expect(sent.errors).toBeUndefined();
      expect((await sub.next()).data!.topic.payload).toBe('still here');
    } finally {
      await client.dispose();
    }
  });
});

describe('REQUIRE_DECLARED_TOPICS=true', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ REQUIRE_DECLARED_TOPICS: 'true' });
  });
  afterAll(() => herald.stop());

  it('refuses publish and subscribe on an undeclared topic with NOT_FOUND; after createTopic both work', async () => {
    const audience = 'bad-undeclared';
    const manager = await token({ audience, scopes: ['publish', 'manage'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience }) } });
    try {
      const published = await gql(herald.httpUrl, manager, PUBLISH, { topic: 'declared/later', payload: 1 });
      expect(errorCode(published)).toBe('NOT_FOUND');
      const refused = subscribe(client, ON_TOPIC, { name: 'declared/later' });
      expect((await refusal(refused))[0]?.extensions?.code).toBe('NOT_FOUND');
      // Refusing never registers the audience.
      expect((await gql(herald.httpUrl, manager, '{ audience { name } }')).data).toEqual({ audience: null });

      expect((await gql(herald.httpUrl, manager, 'mutation { createTopic(name: "declared/later") { name } }')).errors).toBeUndefined();
      const sub = subscribe(client, ON_TOPIC, { name: 'declared/later' });
      await waitForSubscribers(herald.app, audience, 'declared/later');
      const sent = await gql(herald.httpUrl, manager, PUBLISH, { topic: 'declared/later', payload: 2 });
      expect(sent.errors).toBeUndefined();
      expect((await sub.next()).data!.topic.payload).toBe(2);

      // Declared in one audience is not declared in another.
      const stranger = await token({ audience: 'bad-undeclared-other', scopes: ['publish'] });
      expect(errorCode(await gql(herald.httpUrl, stranger, PUBLISH, { topic: 'declared/later', payload: 3 }))).toBe('NOT_FOUND');

      // Deleting the declaration refuses publishing again.
      expect((await gql(herald.httpUrl, manager, 'mutation { deleteTopic(name: "declared/later") }')).data).toEqual({ deleteTopic: true });
      expect(errorCode(await gql(herald.httpUrl, manager, PUBLISH, { topic: 'declared/later', payload: 4 }))).toBe('NOT_FOUND');
    } finally {
      await client.dispose();
    }
  });
});

/** JSON text of `depth` nested arrays around 1 (`[[1]]` is depth 2), built as text: JSON.stringify would overflow first. */
const nestedJson = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/** A raw HTTP request with exactly the given headers (fetch always adds `Accept: *\/*`). */
function rawRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hostile HTTP input', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('a null body is 400 BAD_USER_INPUT on the fast lane too (its document already known)', async () => {
    const audience = 'hostile-null';
    const bearer = await token({ audience });
    await expectStillServing(herald, bearer, audience); // records the document, so the next one takes the fast lane
    for (const body of ['null', `{"query":${JSON.stringify(VIEWER)},"extensions":"x"}`, `{"query":${JSON.stringify(VIEWER)},"operationName":7}`]) {
      const response = await post(herald.httpUrl, bearer, body, { accept: 'application/json' });
      expect(response.status, body).toBe(400);
      expect(errorCode(response), body).toBe('BAD_USER_INPUT');
    }
  });

  it('a subscription without an SSE Accept is refused (406 BAD_USER_INPUT) and registers nothing', async () => {
    const bearer = await token({ audience: 'hostile-sub' });
    const query = 'subscription { topic(name: "leak") { id payload } }';
    let changes = 0;
    const off = herald.app.fanout.onChange(() => changes++);
    try {
      const accepts: Array<Record<string, string>> = [{}, { accept: '*/*' }, { accept: 'application/json' }, { accept: 'application/graphql-response+json' }];
      for (const accept of accepts) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...accept };
        const posted = await rawRequest(herald.httpUrl, 'POST', headers, JSON.stringify({ query }));
        const got = await rawRequest(`${herald.httpUrl}?query=${encodeURIComponent(query)}`, 'GET', { authorization: `Bearer ${bearer}`, ...accept });
        for (const response of [posted, got]) {
          expect(response.status, JSON.stringify(accept)).toBe(406);
          const error = (JSON.parse(response.body) as { errors: WireError[] }).errors[0];
          expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
          expect(error?.message).toContain('text/event-stream');
        }
      }
      // Once more through the fast lane, which now knows the document.
      expect(
        (await rawRequest(herald.httpUrl, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, JSON.stringify({ query }))).status,
      ).toBe(406);
      expect(changes).toBe(0);
      expect(herald.app.fanout.size).toBe(0);
    } finally {
      off();
    }
  });

  it('an SSE subscription is released when its client goes away', async () => {
    const audience = 'hostile-sse-abort';
    const stream = await openSse(herald.httpUrl, await token({ audience }), ON_TOPIC, { name: 'gone' });
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 'gone');
    const released = new Promise<void>((resolve) => {
      const off = herald.app.fanout.onChange(() => {
        if (herald.app.fanout.size !== 0) return;
        off();
        resolve();
      });
    });
    stream.abort.abort();
    await released;
    expect(herald.app.fanout.subscriberCount(audience, 'gone')).toBe(0);
  });

  it('a GET with malformed variables or extensions is 400 BAD_USER_INPUT', async () => {
    const audience = 'hostile-get';
    const bearer = await token({ audience });
    for (const parameter of ['variables=%7Bx', 'extensions=%7Bx', 'variables=%5B1', 'variables=nope']) {
      const response = await rawRequest(`${herald.httpUrl}?query=${encodeURIComponent(VIEWER)}&${parameter}`, 'GET', {
        authorization: `Bearer ${bearer}`,
        accept: 'application/json',
      });
      expect(response.status, parameter).toBe(400);
      expect(JSON.parse(response.body).errors[0].extensions.code, parameter).toBe('BAD_USER_INPUT');
    }
    await expectStillServing(herald, bearer, audience);
  });

  it(`a payload nested deeper than ${MAX_PAYLOAD_DEPTH} levels is BAD_USER_INPUT over HTTP and graphql-ws; one at the limit is published`, async () => {
    const audience = 'hostile-depth';
    const bearer = await token({ audience, scopes: ['publish'] });
    const body = (payload: string) => `{"query":${JSON.stringify(PUBLISH)},"variables":{"topic":"deep","payload":${payload}}}`;
    for (const depth of [MAX_PAYLOAD_DEPTH + 1, 100_000]) {
      const response = await post(herald.httpUrl, bearer, body(nestedJson(depth)));
      expect(response.status, String(depth)).toBe(400);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.message).toContain(`${MAX_PAYLOAD_DEPTH} levels`);
    }
    const atLimit = await post(herald.httpUrl, bearer, body(nestedJson(MAX_PAYLOAD_DEPTH)));
    expect(atLimit.status).toBe(200);
    expect(atLimit.errors).toBeUndefined();

    const client = wsClient(herald.wsUrl, { connectionParams: { token: bearer } });
    try {
      const refused = subscribe(client, PUBLISH, { topic: 'deep', payload: JSON.parse(nestedJson(MAX_PAYLOAD_DEPTH + 1)) });
      expect((await refusal(refused))[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    } finally {
      await client.dispose();
    }
  });

  it('the payload limit error names MAX_PAYLOAD_BYTES', async () => {
    const small = await startHerald({ MAX_PAYLOAD_BYTES: '10' });
    try {
      const refused = await gql(small.httpUrl, await token({ scopes: ['publish'] }), PUBLISH, { topic: 't', payload: 'x'.repeat(20) });
      expect(errorCode(refused)).toBe('PAYLOAD_TOO_LARGE');
      expect(refused.errors?.[0]?.message).toContain('MAX_PAYLOAD_BYTES');
    } finally {
      await small.stop();
    }
  });

  it('?token= on /graphql is refused (403) except a signSubscription token subscribing over SSE', async () => {
    const audience = 'hostile-url-token';
    const manager = await token({ audience, scopes: ['manage', 'publish', 'subscribe'] });
    const signed = (await gql(herald.httpUrl, manager, 'mutation { signSubscription(topics: ["t"]) { token } }')).data!.signSubscription.token as string;
    const json = { 'content-type': 'application/json', accept: 'application/json' };

    for (const urlToken of [manager, signed]) {
      for (const query of [VIEWER, 'mutation { publish(topic: "t", payload: 1) { id } }']) {
        const response = await rawRequest(`${herald.httpUrl}?token=${urlToken}`, 'POST', json, JSON.stringify({ query }));
        expect(response.status, query).toBe(403);
        const error = JSON.parse(response.body).errors[0];
        expect(error.extensions.code).toBe('FORBIDDEN');
        expect(error.message).toContain('Authorization header');
      }
    }
    // A long-lived token in the URL is refused even for a subscription.
    const longLived = await rawRequest(
      `${herald.httpUrl}?token=${manager}`,
      'POST',
      { ...json, accept: 'text/event-stream' },
      JSON.stringify({ query: ON_TOPIC, variables: { name: 't' } }),
    );
    expect(longLived.body).toContain('FORBIDDEN');
    expect(herald.app.fanout.size).toBe(0);

    // The signed one subscribes over SSE, as EventSource would (no headers).
    const stream = await openSse(`${herald.httpUrl}?token=${signed}`, undefined, ON_TOPIC, { name: 't' });
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 't');
    const sent = await gql(herald.httpUrl, manager, PUBLISH, { topic: 't', payload: 'via url' });
    expect(sent.errors).toBeUndefined();
    expect(await stream.next()).toMatchObject({ event: 'next', data: { data: { topic: { payload: 'via url' } } } });
    stream.abort.abort();
    await waitForSubscribers(herald.app, audience, 't', 0);
  });
});
