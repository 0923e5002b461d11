import fc from 'fast-check';
import { anyJson, nestedObjectText, topicLike } from './arbitraries.js';

/**
 * GraphQL requests over the real schema: right and wrong documents, variables and field types.
 * Documents come from a finite set (a few hundred texts), the variables carry the randomness: the
 * gateway caches parsed and validated documents (bounded), and a warm-up fills those caches before
 * the heap baseline, so what the heap check sees afterwards is what connections left behind.
 */

const LITERAL_TOPICS = ['fuzz/a', 'fuzz/*', '**', '', ' ', 'a b', '*', 'x'.repeat(256), 'x'.repeat(257), '\u0000', 'é/ü', 'a\tb', '"', '\\'];
const topicLiteral = fc.constantFrom(...LITERAL_TOPICS).map((topic) => JSON.stringify(topic));
const sizes = (...values: number[]): fc.Arbitrary<number> => fc.constantFrom(...values);

/** Queries and mutations; one subscription is split out, because over plain HTTP it needs SSE. */
const operationDocument: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{ viewer { audience subject scopes topics expiresAt } }',
    '{ topics { name subscriberCount } }',
    '{ audience { name topics { name } } }',
    'query($t: String!) { topic(name: $t) { name subscriberCount } }',
    'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id topic payload publishedAt } }',
    'mutation($p: JSON!) { broadcast(payload: $p) { id } }',
    'mutation($t: String!) { createTopic(name: $t) { name } }',
    'mutation($t: String!) { deleteTopic(name: $t) }',
    'mutation($ts: [String!], $ttl: Int) { signSubscription(topics: $ts, ttlSeconds: $ttl) { token url } }',
    'mutation { createAudience { name } }',
    'query A { viewer { audience } } query B { viewer { subject } }',
    '{ __schema { types { name } } }',
    '{ __typename }',
    'fragment F on Viewer { audience } { viewer { ...F ...F } }',
    'fragment F on Viewer { ...F } { viewer { ...F } }',
    '{ viewer { audience @skip(if: $x) } }',
    'query($x: Boolean!) { viewer { audience @include(if: $x) } }',
    '{ viewer { nope } }',
    '{ topic { name } }',
    'mutation { publish(topic: "fuzz/a") { id } }',
    '{ viewer { audience }',
    '',
    '#',
    '{}',
  ),
  topicLiteral.map((topic) => `mutation { publish(topic: ${topic}, payload: {a: 1}) { id } }`),
  topicLiteral.map((topic) => `{ topic(name: ${topic}) { name audience { name } } }`),
  sizes(1, 2, 4, 5, 6, 10, 20, 40).map((depth) => `{ audience ${'{ topics { audience '.repeat(depth)}{ name }${' } }'.repeat(depth)} }`),
  sizes(1, 14, 15, 16, 40).map((count) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: viewer { audience }`).join(' ')} }`),
  sizes(1, 100, 1_990, 2_010, 3_000).map((count) => `{ viewer { ${'audience '.repeat(count)}} }`),
  sizes(1, 10, 64, 200).map((depth) => `mutation { publish(topic: "fuzz/a", payload: ${nestedObjectText(depth).replaceAll('"a"', 'a')}) { id } }`),
  fc.constantFrom(
    '{ viewer { audience } ',
    '{ viewer { audience } } }',
    'query { ...X }',
    'mutation',
    'subscription',
    '{ "a" }',
    '{ viewer(a: $) }',
    '\u0000{',
    'query($a: [[[[Int]]]]) { viewer { audience } }',
  ),
);

export const subscriptionDocument: fc.Arbitrary<string> = fc.oneof(
  topicLiteral.map((topic) => `subscription { topic(name: ${topic}) { id payload topic } }`),
  fc.constant('subscription($t: String!) { topic(name: $t) { payload } }'),
  fc.constant('subscription { broadcasts { payload } }'),
  fc.constant('subscription { a: broadcasts { id } b: broadcasts { id } }'),
);

export const anyDocument: fc.Arbitrary<string> = fc.oneof({ weight: 5, arbitrary: operationDocument }, { weight: 1, arbitrary: subscriptionDocument });

/** Variables the documents above use, with right and wrong types. */
const variables: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      { t: fc.oneof(topicLike, anyJson), p: anyJson, x: anyJson, ts: fc.oneof(fc.array(topicLike, { maxLength: 3 }), anyJson), ttl: anyJson },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** A GraphQL request object; some fields of the wrong type. */
export const graphqlRequest = (document: fc.Arbitrary<string> = anyDocument): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      query: fc.oneof({ weight: 8, arbitrary: document }, { weight: 1, arbitrary: anyJson }),
      variables,
      operationName: fc.oneof(fc.constantFrom('A', 'B', 'C', ''), anyJson),
      extensions: anyJson,
    },
    { requiredKeys: ['query'] },
  );

/** Whether a request body (or GET parameters) holds a subscription operation. */
export const isSubscriptionText = (query: unknown): boolean => typeof query === 'string' && /^\s*subscription\b/.test(query);
