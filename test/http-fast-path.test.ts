import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, token, type TestHerald } from './helpers/herald.js';

/**
 * The fast lane must answer exactly as Yoga does. The first request of a document goes through Yoga
 * (which validates it and records it); the same request again takes the fast lane. Compare them.
 */
describe('HTTP fast lane parity with Yoga', () => {
  let herald: TestHerald;
  let admin: string;
  let subscriber: string;

  beforeAll(async () => {
    herald = await startHerald();
    admin = await token({ audience: 'fast', subject: 'svc', scopes: ['manage', 'publish', 'subscribe'] });
    subscriber = await token({ audience: 'fast', scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  const post = async (body: unknown, headers: Record<string, string>) => {
    const response = await fetch(herald.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      cors: response.headers.get('access-control-allow-origin'),
      body: await response.text(),
    };
  };

  /** Sends the same request twice; returns both answers and whether the second took the fast lane. */
  const twice = async (body: unknown, headers: Record<string, string>) => {
    const first = await post(body, headers);
    const before = herald.app.httpFastPath.served;
    const second = await post(body, headers);
    return { first, second, fast: herald.app.httpFastPath.served === before + 1 };
  };

  const VIEWER = '{ viewer { subject audience scopes topics } }';
  const PUBLISH = 'mutation P($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { topic payload publisher } }';

  it.each([
    ['a query', { query: VIEWER }, () => ({ authorization: `Bearer ${admin}` })],
    [
      'a query, graphql-response+json',
      { query: VIEWER },
      () => ({ authorization: `Bearer ${admin}`, accept: 'application/graphql-response+json, application/json' }),
    ],
    ['a mutation', { query: PUBLISH, variables: { topic: 't', payload: { a: [1, 'x'] } } }, () => ({ authorization: `Bearer ${admin}` })],
    ['a FORBIDDEN mutation', { query: PUBLISH, variables: { topic: 't', payload: 1 } }, () => ({ authorization: `Bearer ${subscriber}` })],
    ['a BAD_USER_INPUT resolver error', { query: PUBLISH, variables: { topic: 'a b', payload: 1 } }, () => ({ authorization: `Bearer ${admin}` })],
    ['a variable of the wrong type', { query: PUBLISH, variables: { topic: 42, payload: 1 } }, () => ({ authorization: `Bearer ${admin}` })],
    ['an operation picked by name', { query: `${PUBLISH} query V ${VIEWER}`, operationName: 'V' }, () => ({ authorization: `Bearer ${admin}` })],
    // The compiled mutation (compiled-mutation.ts) in the shapes it accepts.
    [
      'aliases and __typename',
      { query: 'mutation ($t: String!) { sent: publish(topic: $t, payload: 1) { where: topic kind: __typename audience } }', variables: { t: 't' } },
      () => ({ authorization: `Bearer ${admin}` }),
    ],
    [
      'a broadcast with literals',
      { query: 'mutation { broadcast(payload: {list: [1, "two", null]}) { topic payload } }' },
      () => ({ authorization: `Bearer ${admin}` }),
    ],
    ['a missing variable', { query: PUBLISH, variables: { topic: 't' } }, () => ({ authorization: `Bearer ${admin}` })],
  ] as const)('%s: same status, type and body, second time through the fast lane', async (_name, body, headers) => {
    const { first, second, fast } = await twice(body, headers());
    expect(fast).toBe(true);
    expect(second).toEqual(first);
  });

  it.each([
    ['a browser request (Origin: CORS headers come from Yoga)', () => ({ authorization: `Bearer ${admin}`, origin: 'http://app.example' })],
    ['no token', () => ({})],
    ['a bad token', () => ({ authorization: 'Bearer nope' })],
    ['an SSE request', () => ({ authorization: `Bearer ${admin}`, accept: 'text/event-stream' })],
  ] as const)('leaves %s to Yoga', async (_name, headers) => {
    const { first, second, fast } = await twice({ query: VIEWER }, headers());
    expect(fast).toBe(false);
    expect(second.status).toBe(first.status);
    if ('origin' in headers()) expect(second.cors).toBe('http://app.example');
  });

  it('leaves documents Yoga refused to Yoga (they are never recorded)', async () => {
    const deep = `{ ${'audience { topics { '.repeat(6)}name${' } }'.repeat(6)} }`;
    const { first, second, fast } = await twice({ query: deep }, { authorization: `Bearer ${admin}` });
    expect(fast).toBe(false);
    expect(first.status).toBe(400);
    expect(second).toEqual(first);
  });
});
