import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, token, type TestHerald } from './helpers/herald.js';

/**
 * The fast lane must answer exactly as Yoga does (Yoga is the reference). Generated requests (random
 * documents over the real schema: aliases, fragments, @include/@skip, variables of right and wrong
 * types, missing and extra ones, unknown fields; and random bodies: malformed JSON, parameters of the
 * wrong type, null, arrays, batches) go to a gateway with FAST_LANE=on and one with it off, each sent
 * twice (the first time Yoga validates and records the document, the second time the lane may take
 * it). Same status, same content type, same body once what legitimately differs (message ids,
 * timestamps) is normalised. A fixed seed, then a random one that fast-check prints on failure.
 */

const FIXED_SEED = 16;
const RUNS = 200;
/** The random run's seed; FAST_LANE_DIFF_SEED=<seed> replays a failure fast-check printed. */
const RANDOM_SEED = process.env.FAST_LANE_DIFF_SEED !== undefined ? Number(process.env.FAST_LANE_DIFF_SEED) : (Math.random() * 2 ** 31) | 0;

interface Sent {
  readonly body: string;
  readonly accept: string | undefined;
  readonly contentType: string;
  readonly authorized: boolean;
}

// Documents ------------------------------------------------------------------------------------

/** Mostly `usual`, now and then `unusual`: most documents should be valid, so that the lane gets to answer them. */
const mostly = <T>(usual: fc.Arbitrary<T>, unusual: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 6, arbitrary: usual }, { weight: 1, arbitrary: unusual });

const alias = fc.constantFrom('', '', '', 'a: ', 'b: ', 'sent: ', 'id: ');
const directive = mostly(
  fc.constant(''),
  fc.constantFrom(' @include(if: true)', ' @skip(if: false)', ' @include(if: false)', ' @skip(if: true)', ' @include(if: $b)', ' @skip(if: $b)'),
);

/** A selection set over `fields` (rarely an unknown one), each maybe aliased and under a directive. */
function selection(fields: readonly string[]) {
  return fc
    .uniqueArray(fc.tuple(alias, mostly(fc.constantFrom(...fields), fc.constant('nope')), directive), {
      minLength: 1,
      maxLength: 5,
      // Mostly distinct response names; a clash (a validation error) now and then.
      selector: ([name, field]) => (name === 'id: ' ? field : name || field),
    })
    .map((items) => items.map(([name, field, where]) => `${name}${field}${where}`).join(' '));
}

/** The selection as it is, in an inline fragment, a conditional inline fragment or a named fragment. */
function wrapped(type: string, fields: readonly string[]) {
  return fc.tuple(selection(fields), fc.constantFrom('plain', 'plain', 'plain', 'plain', 'inline', 'conditional', 'named')).map(([inner, how]) => {
    if (how === 'inline') return { sel: `... on ${type} { ${inner} }`, fragments: '' };
    if (how === 'conditional') return { sel: `... @include(if: $b) { ${inner} }`, fragments: '' };
    if (how === 'named') return { sel: `...F`, fragments: ` fragment F on ${type} { ${inner} }` };
    return { sel: inner, fragments: '' };
  });
}

const MESSAGE_FIELDS = ['id', 'topic', 'payload', 'publisher', 'audience', 'publishedAt', '__typename'];
const VIEWER_FIELDS = ['subject', 'audience', 'scopes', 'topics', '__typename'];

const topicArgument = mostly(fc.constantFrom('$topic', '$topic', '"t1"', '"orders/7"'), fc.constantFrom('42', '"bad name"', 'null', '$payload'));
const payloadArgument = mostly(fc.constantFrom('$payload', '$payload', '1', '"x"', '{a: [1, "two", null], b: {c: true}}'), fc.constantFrom('null', '$topic'));

const messagesArgument = mostly(
  fc.constantFrom('$messages', '$messages', '$messages', '[{topic: "t1", payload: 1}, {topic: $topic, payload: $payload}]', '{topic: "t1", payload: [1]}'),
  fc.constantFrom('null', '[]', '$topic', '[{topic: "t1"}]', '[$messages]'),
);

const rootField = fc.oneof(
  fc.tuple(alias, messagesArgument, directive, wrapped('Message', MESSAGE_FIELDS)).map(([name, messages, where, sel]) => ({
    kind: 'mutation' as const,
    text: `${name}publishMany(messages: ${messages})${where} { ${sel.sel} }`,
    fragments: sel.fragments,
  })),
  fc.tuple(alias, topicArgument, payloadArgument, directive, wrapped('Message', MESSAGE_FIELDS)).map(([name, topic, payload, where, sel]) => ({
    kind: 'mutation' as const,
    text: `${name}publish(topic: ${topic}, payload: ${payload})${where} { ${sel.sel} }`,
    fragments: sel.fragments,
  })),
  fc.tuple(alias, payloadArgument, wrapped('Message', MESSAGE_FIELDS)).map(([name, payload, sel]) => ({
    kind: 'mutation' as const,
    text: `${name}broadcast(payload: ${payload}) { ${sel.sel} }`,
    fragments: sel.fragments,
  })),
  fc.tuple(alias, directive, wrapped('Viewer', VIEWER_FIELDS)).map(([name, where, sel]) => ({
    kind: 'query' as const,
    text: `${name}viewer${where} { ${sel.sel} }`,
    fragments: sel.fragments,
  })),
  fc.tuple(alias, fc.constantFrom('topics { name }', 'topic(name: "t1") { name subscriberCount }', 'audience { name }')).map(([name, field]) => ({
    kind: 'query' as const,
    text: `${name}${field}`,
    fragments: '',
  })),
);

const variableTypes = fc.record({
  topic: mostly(fc.constant('String!'), fc.constantFrom('String', 'Int')),
  payload: mostly(fc.constant('JSON!'), fc.constantFrom('JSON', 'String!')),
  b: mostly(fc.constant('Boolean!'), fc.constantFrom('Boolean', 'String')),
  messages: mostly(fc.constant('[PublishInput!]!'), fc.constantFrom('[PublishInput]', '[PublishInput!]', 'PublishInput!', '[[PublishInput!]]', 'String')),
});

/** One message of publishMany: mostly right, now and then a shape graphql-js refuses (or a topic the publish refuses). */
const publishItem = mostly(
  fc.record({ topic: fc.constantFrom('t1', 'orders/9'), payload: fc.jsonValue({ maxDepth: 2 }) }) as fc.Arbitrary<unknown>,
  fc.constantFrom<unknown>(
    null,
    't1',
    [],
    {},
    { topic: 't1' },
    { payload: 1 },
    { topic: 't1', payload: 1, extra: 2 },
    { topic: 'bad name', payload: 1 },
    { topic: 7, payload: 1 },
    [{ topic: 't1', payload: 1 }],
  ),
);
const messagesValue = mostly(fc.array(publishItem, { maxLength: 4 }) as fc.Arbitrary<unknown>, fc.oneof(publishItem, fc.constantFrom<unknown>('x', 7, true)));

const variableValue = mostly(
  fc.constantFrom<unknown>('t1', 'orders/9'),
  fc.constantFrom<unknown>('bad name', '', 42, 1.5, true, false, null, [], ['t'], { a: 1 }, 'x'.repeat(300)),
);

const document = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: rootField.map((field) => [field]) }, { weight: 1, arbitrary: fc.array(rootField, { minLength: 2, maxLength: 2 }) }),
    fc.constantFrom('', '', 'P', 'Q'),
    variableTypes,
    fc.constantFrom(false, false, false, false, false, true),
  )
  .map(([fields, name, types, declareAll]) => {
    // One operation type per document (the first field's); a field of the other type makes a validation error, which is fine.
    const kind = fields[0]!.kind;
    const body = fields.map((field) => field.text).join(' ');
    const fragments = [...new Set(fields.map((field) => field.fragments))].join('');
    const used = Object.keys(types).filter((variable) => declareAll || new RegExp(`\\$${variable}\\b`).test(body + fragments));
    const definitions = used.length === 0 ? '' : `(${used.map((variable) => `$${variable}: ${types[variable as keyof typeof types]}`).join(', ')})`;
    const head = name === '' && definitions === '' && kind === 'query' ? '' : `${kind}${name === '' ? '' : ` ${name}`}${definitions} `;
    return { query: `${head}{ ${body} }${fragments}`, name, used };
  });

const graphqlBody = fc
  .tuple(
    document,
    fc.dictionary(fc.constantFrom('topic', 'payload', 'b', 'messages', 'extra'), fc.oneof(variableValue, fc.jsonValue({ maxDepth: 2 }), messagesValue), {
      maxKeys: 5,
    }),
    fc.record({
      messages: messagesValue,
      topic: variableValue,
      payload: fc.oneof(variableValue, fc.jsonValue({ maxDepth: 3 })),
      b: mostly(fc.boolean() as fc.Arbitrary<unknown>, fc.constantFrom<unknown>('yes', 1, null)),
    }),
    mostly(fc.constant('right'), fc.constantFrom('random', 'none', 'null')),
    mostly(fc.constantFrom<unknown>(undefined, 'P'), fc.constantFrom<unknown>(null, 'Nope', 7)),
    mostly(fc.constantFrom<unknown>(undefined, {}), fc.constantFrom<unknown>(null, { persistedQuery: null }, 'x', [])),
  )
  .map(([doc, randomVariables, rightVariables, variablesKind, operationName, extensions]) => {
    const right = Object.fromEntries(doc.used.map((variable) => [variable, rightVariables[variable as keyof typeof rightVariables]]));
    const variables = { right, random: randomVariables, none: undefined, null: null }[variablesKind];
    return JSON.stringify({ query: doc.query, variables, operationName: operationName === 'P' ? doc.name || 'P' : operationName, extensions });
  });

// Bodies that are not (quite) GraphQL requests -------------------------------------------------

/** Documents both gateways have seen valid (beforeAll), so that a bad body around them reaches the lane. */
const KNOWN_DOCUMENTS = ['{ viewer { audience } }', 'mutation { publish(topic: "t1", payload: 1) { topic } }'];

const oddBody = fc.oneof(
  fc.constantFrom('null', '[]', '{}', '42', '"x"', 'true', '', ' ', '{', 'not json', '{"query": }', '{"query": "{ viewer { audience } }",}'),
  fc.constantFrom(...KNOWN_DOCUMENTS).chain((query) =>
    fc.oneof(
      fc.constantFrom(
        JSON.stringify([{ query }]),
        JSON.stringify([{ query }, { query }]),
        JSON.stringify({ query: [query] }),
        JSON.stringify({ query: null }),
        JSON.stringify({ query: 42 }),
        JSON.stringify({ query, variables: 'x' }),
        JSON.stringify({ query, variables: [1] }),
        JSON.stringify({ query, variables: 7 }),
        JSON.stringify({ query, variables: true }),
        JSON.stringify({ query, operationName: 7 }),
        JSON.stringify({ query, operationName: ['x'] }),
        JSON.stringify({ query, operationName: {} }),
        JSON.stringify({ query, extensions: 'x' }),
        JSON.stringify({ query, extensions: [1] }),
        JSON.stringify({ query, extensions: 3 }),
        JSON.stringify({ query, unknownKey: 1 }),
      ),
      // A valid body cut anywhere.
      fc.nat().map((cut) => {
        const text = JSON.stringify({ query });
        return text.slice(0, cut % text.length);
      }),
    ),
  ),
);

const sent: fc.Arbitrary<Sent> = fc.record({
  body: fc.oneof({ weight: 5, arbitrary: graphqlBody }, { weight: 1, arbitrary: oddBody }),
  accept: fc.constantFrom(
    undefined,
    'application/json',
    'application/graphql-response+json',
    'application/graphql-response+json, application/json',
    'application/json, application/graphql-response+json',
    'application/json;q=0.5, application/graphql-response+json',
    '*/*',
    'text/html',
  ),
  contentType: fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8'),
  authorized: fc.constantFrom(true, true, true, true, false),
});

// Comparison -----------------------------------------------------------------------------------

const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{18}-\d{12}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Message ids (per process) and timestamps differ between the two gateways; everything else must not. */
function normalise(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  return JSON.stringify(parsed, (_key, value: unknown) => {
    if (typeof value !== 'string') return value;
    if (MESSAGE_ID.test(value)) return '<message id>';
    if (TIMESTAMP.test(value)) return '<timestamp>';
    return value;
  });
}

describe('fast lane differential: FAST_LANE=on answers as FAST_LANE=off (Yoga)', () => {
  let on: TestHerald;
  let off: TestHerald;
  let bearer: string;
  beforeAll(async () => {
    [on, off] = await Promise.all([startHerald({ FAST_LANE: 'on' }), startHerald({ FAST_LANE: 'off' })]);
    bearer = await token({ audience: 'differential', subject: 'svc', scopes: ['publish', 'subscribe', 'manage'], ttlSeconds: 3600 });
    for (const query of KNOWN_DOCUMENTS) {
      for (const herald of [on, off])
        await send(herald, { body: JSON.stringify({ query }), accept: undefined, contentType: 'application/json', authorized: true });
    }
  });
  afterAll(() => Promise.all([on.stop(), off.stop()]));

  const send = async (herald: TestHerald, request: Sent) => {
    const response = await fetch(herald.httpUrl, {
      method: 'POST',
      headers: {
        'content-type': request.contentType,
        ...(request.accept !== undefined && { accept: request.accept }),
        ...(request.authorized && { authorization: `Bearer ${bearer}` }),
      },
      body: request.body,
    });
    return { status: response.status, contentType: response.headers.get('content-type'), body: normalise(await response.text()) };
  };

  const sameAnswers = async (request: Sent): Promise<void> => {
    // Sequential, the same order on both, so their stores see the same history.
    const fastFirst = await send(on, request);
    const fastSecond = await send(on, request);
    const yogaFirst = await send(off, request);
    const yogaSecond = await send(off, request);
    expect(fastFirst, request.body).toEqual(yogaFirst);
    expect(fastSecond, request.body).toEqual(yogaSecond);
  };

  it(`fixed seed ${FIXED_SEED}`, async () => {
    const before = on.app.httpFastPath.served;
    await fc.assert(fc.asyncProperty(sent, sameAnswers), { seed: FIXED_SEED, numRuns: RUNS, endOnFailure: true });
    // Not vacuous: the lane itself answered a good share of them.
    expect(on.app.httpFastPath.served - before).toBeGreaterThan(RUNS / 10);
    expect(off.app.httpFastPath.served).toBe(0);
  }, 60_000);

  it(`random seed ${RANDOM_SEED}`, async () => {
    await fc.assert(fc.asyncProperty(sent, sameAnswers), { seed: RANDOM_SEED, numRuns: RUNS, endOnFailure: true });
  }, 60_000);
});
