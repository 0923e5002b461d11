import { execute, getArgumentValues, getVariableValues, parse, type DocumentNode, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../src/publish/message.js';
import { schema } from '../src/schema/index.js';
import type { HeraldContext } from '../src/schema/context.js';
import { compileMutation } from '../src/fast-lane/compiled-mutation.js';
import { planArgumentCoercion, planVariableCoercion } from '../src/fast-lane/fast-coercion.js';
import { compileSubscriptionEvent } from '../src/fast-lane/subscription-event.js';
import { startHerald, token, type TestHerald } from './helpers/herald.js';

/**
 * The compiled executions (subscription-event.ts, compiled-mutation.ts, message-selection.ts) must
 * give exactly what graphql-js gives. Here each is run side by side with graphql-js's execute on
 * the real schema; the fast lane's parity with Yoga over HTTP is in http-fast-path.test.ts.
 */

const EVERY_FIELD = 'id topic audience payload publishedAt publisher __typename';

const messages: Message[] = [
  {
    id: '0001',
    audience: 'a',
    topic: 'orders/1',
    payload: { n: 1, nested: { list: [1, 'two', null, true] } },
    publishedAt: '2026-11-23T10:00:00.123Z',
    publisher: 'svc',
  },
  { id: '0002', audience: 'a', topic: null, payload: 0, publishedAt: '2026-11-23T10:00:01.000Z', publisher: null },
  { id: '0003', audience: 'a', topic: 'x', payload: 'quotes " and \\ and \u2028 and émoji 🎉', publishedAt: '2026-11-23T10:00:02.000Z', publisher: 'p' },
  { id: '0004', audience: 'a', topic: 'x', payload: [0, -1.5, 1e21, false], publishedAt: '2026-11-23T10:00:03.000Z', publisher: 'p' },
];

describe('compiled subscription events', () => {
  let herald: TestHerald;
  let contextValue: HeraldContext;

  beforeAll(async () => {
    herald = await startHerald();
    contextValue = { viewer: await herald.app.verifyToken(await token({ audience: 'a', scopes: ['subscribe'] })), services: herald.app.services };
  });
  afterAll(() => herald.stop());

  const compiled = [
    ['every field', `subscription ($n: String!) { topic(name: $n) { ${EVERY_FIELD} } }`, { n: 'x' }],
    ['aliases', 'subscription ($n: String!) { feed: topic(name: $n) { key: id body: payload when: publishedAt kind: __typename } }', { n: 'x' }],
    ['one field', 'subscription ($n: String!) { topic(name: $n) { payload } }', { n: 'x' }],
    ['a literal argument', 'subscription { topic(name: "x/*") { id publisher } }', undefined],
    ['broadcasts', `subscription { broadcasts { ${EVERY_FIELD} } }`, undefined],
    ['a named operation among others', 'subscription B { broadcasts { id } } subscription T { topic(name: "x") { topic } }', undefined, 'T'],
  ] as const;

  it.each(compiled)('%s: the same JSON as graphql-js for every message', (_name, query, variables, operationName?: string) => {
    const document = parse(query);
    const run = compileSubscriptionEvent(schema, document, operationName, variables);
    expect(run).toBeDefined();
    for (const message of messages) {
      const expected = JSON.stringify(execute({ schema, document, operationName, variableValues: variables, contextValue, rootValue: message }));
      expect(run!(message, contextValue)).toBe(expected);
    }
  });

  it('writes the payload text a published message carries instead of stringifying its payload again', () => {
    const document = parse('subscription { broadcasts { id payload topic } }');
    const run = compileSubscriptionEvent(schema, document, undefined, undefined)!;
    for (const message of messages) {
      // As the publish service stamps it: the same JSON as graphql-js gives for the message without it.
      const published: Message = { ...message, payloadJson: JSON.stringify(message.payload) };
      expect(run(published, contextValue)).toBe(JSON.stringify(execute({ schema, document, contextValue, rootValue: message })));
    }
    // Taken as written: a spaced-out text shows up as is.
    const spaced: Message = { ...messages[0]!, payloadJson: JSON.stringify(messages[0]!.payload, null, 1) };
    expect(run(spaced, contextValue)).toBe(`{"data":{"broadcasts":{"id":"0001","payload":${spaced.payloadJson},"topic":"orders/1"}}}`);
  });

  it.each([
    ['a fragment spread', 'subscription { broadcasts { ...F } } fragment F on Message { id }'],
    ['an inline fragment', 'subscription { broadcasts { ... on Message { id } } }'],
    ['@include', 'subscription ($on: Boolean!) { broadcasts { id @include(if: $on) } }'],
    ['a field twice', 'subscription { broadcasts { id id } }'],
    ['two root fields', 'subscription { broadcasts { id } other: broadcasts { id } }'],
    ['a directive on the root field', 'subscription ($on: Boolean!) { broadcasts @include(if: $on) { id } }'],
  ])('leaves %s to graphql-js', (_name, query) => {
    expect(compileSubscriptionEvent(schema, parse(query), undefined, { on: true })).toBeUndefined();
  });

  it('answers undefined (graphql-js runs the event) where graphql-js would report a field error', () => {
    const run = compileSubscriptionEvent(schema, parse(`subscription { broadcasts { ${EVERY_FIELD} } }`), undefined, undefined)!;
    // A null payload (a compat surface can publish one) or id, where the schema says non-null.
    for (const broken of [{ ...messages[0]!, payload: null }, { ...messages[0]!, id: null } as unknown as Message]) {
      expect(run(broken, contextValue)).toBeUndefined();
      expect(execute({ schema, document: parse(`subscription { broadcasts { ${EVERY_FIELD} } }`), contextValue, rootValue: broken })).toHaveProperty('errors');
    }
  });
});

describe('compiled mutations', () => {
  let herald: TestHerald;
  let publisher: HeraldContext;
  let subscriberOnly: HeraldContext;
  let limited: HeraldContext;

  beforeAll(async () => {
    herald = await startHerald({ MAX_PAYLOAD_BYTES: '64' });
    const { verifyToken, services } = herald.app;
    publisher = { viewer: await verifyToken(await token({ audience: 'm', subject: 'svc', scopes: ['publish'] })), services };
    subscriberOnly = { viewer: await verifyToken(await token({ audience: 'm', scopes: ['subscribe'] })), services };
    limited = { viewer: await verifyToken(await token({ audience: 'm', scopes: ['publish'], topics: ['allowed/*'] })), services };
  });
  afterAll(() => herald.stop());

  /** Runs the document both ways; ids and timestamps differ between two publishes, so they are masked. */
  const both = async (query: string, variables: Record<string, unknown> | undefined, contextValue: HeraldContext) => {
    const document: DocumentNode = parse(query);
    const plan = compileMutation(schema, document, undefined);
    expect(plan).toBeDefined();
    const outcome = await plan!(variables, contextValue);
    const compiled = 'json' in outcome ? outcome.json : JSON.stringify(outcome.result);
    const reference = JSON.stringify(await execute({ schema, document, variableValues: variables, contextValue }));
    const mask = (json: string) => json.replace(/"(id|key|at|publishedAt)":"[^"]*"/g, '"$1":"…"');
    return { compiled: mask(compiled), reference: mask(reference) };
  };

  const PUBLISH = `mutation ($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { ${EVERY_FIELD} } }`;
  const PUBLISH_MANY = `mutation ($m: [PublishInput!]!) { publishMany(messages: $m) { ${EVERY_FIELD} } }`;

  it.each([
    ['publish, every field', PUBLISH, { t: 'orders/1', p: { a: [1, 'é'] } }, () => publisher],
    [
      'aliases and literals',
      'mutation { sent: publish(topic: "allowed/x", payload: {deep: [1, {x: null}]}) { key: id at: publishedAt topic payload } }',
      undefined,
      () => limited,
    ],
    ['broadcast', `mutation ($p: JSON!) { broadcast(payload: $p) { ${EVERY_FIELD} } }`, { p: 1 }, () => publisher],
    ['no publish scope (the publish service refuses)', PUBLISH, { t: 'orders/1', p: 1 }, () => subscriberOnly],
    ['a topic outside the token’s topics', PUBLISH, { t: 'orders/1', p: 1 }, () => limited],
    ['broadcast with a topics limit', 'mutation { broadcast(payload: 1) { id } }', undefined, () => limited],
    ['an invalid topic name', PUBLISH, { t: 'a b', p: 1 }, () => publisher],
    ['an invalid topic name without the publish scope', PUBLISH, { t: 'a b', p: 1 }, () => subscriberOnly],
    ['a payload over MAX_PAYLOAD_BYTES', PUBLISH, { t: 'big', p: 'x'.repeat(100) }, () => publisher],
    ['a missing variable', PUBLISH, { t: 'orders/1' }, () => publisher],
    ['a null for a non-null variable', PUBLISH, { t: 'orders/1', p: null }, () => publisher],
    ['a variable of the wrong type', PUBLISH, { t: ['list'], p: 1 }, () => publisher],
    ['a variable only on the prototype', PUBLISH, Object.assign(Object.create({ t: 'orders/1' }) as object, { p: 1 }), () => publisher],
    ['a variable default', 'mutation ($t: String! = "orders/d", $p: JSON!) { publish(topic: $t, payload: $p) { topic payload } }', { p: 1 }, () => publisher],
    [
      'an unset variable named like an Object method',
      'mutation ($constructor: String, $p: JSON!) { publish(topic: $constructor, payload: $p) { id } }',
      { p: 1 },
      () => publisher,
    ],
    ['variables the operation does not declare', PUBLISH, { t: 'orders/1', p: 1, extra: [1] }, () => publisher],
    [
      'a variable inside a literal',
      'mutation ($t: String!, $p: JSON!) { publish(topic: $t, payload: {wrapped: $p, n: 1}) { payload } }',
      { t: 'orders/1', p: 'x' },
      () => publisher,
    ],
    [
      'publishMany, every field',
      PUBLISH_MANY,
      {
        m: [
          { topic: 'orders/1', payload: { a: 1 } },
          { topic: 'orders/2', payload: [null, 'é'] },
        ],
      },
      () => publisher,
    ],
    ['publishMany, one message not in a list (a list of one)', PUBLISH_MANY, { m: { topic: 'orders/1', payload: 1 } }, () => publisher],
    ['publishMany, an empty list', PUBLISH_MANY, { m: [] }, () => publisher],
    ['publishMany, a null payload inside', PUBLISH_MANY, { m: [{ topic: 'orders/1', payload: null }] }, () => publisher],
    ['publishMany, a missing payload', PUBLISH_MANY, { m: [{ topic: 'orders/1' }] }, () => publisher],
    ['publishMany, an unknown field', PUBLISH_MANY, { m: [{ topic: 'orders/1', payload: 1, extra: 2 }] }, () => publisher],
    ['publishMany, a null item', PUBLISH_MANY, { m: [{ topic: 'orders/1', payload: 1 }, null] }, () => publisher],
    ['publishMany, an item that is a list', PUBLISH_MANY, { m: [[{ topic: 'orders/1', payload: 1 }]] }, () => publisher],
    ['publishMany, an item that is a string', PUBLISH_MANY, { m: ['orders/1'] }, () => publisher],
    ['publishMany, a topic of the wrong type', PUBLISH_MANY, { m: [{ topic: 7, payload: 1 }] }, () => publisher],
    [
      'publishMany, a refused message (its index)',
      PUBLISH_MANY,
      {
        m: [
          { topic: 'allowed/a', payload: 1 },
          { topic: 'orders/1', payload: 1 },
        ],
      },
      () => limited,
    ],
    [
      'publishMany, aliases',
      `mutation ($m: [PublishInput!]!) { sent: publishMany(messages: $m) { key: id topic } }`,
      { m: [{ topic: 'x', payload: 1 }] },
      () => publisher,
    ],
    [
      'publishMany, a literal list',
      'mutation { publishMany(messages: [{topic: "x", payload: {n: 1}}, {topic: "y", payload: 2}]) { topic payload } }',
      undefined,
      () => publisher,
    ],
  ] as const)('%s: the same result as graphql-js', async (_name, query, variables, context) => {
    const { compiled, reference } = await both(query, variables, context());
    expect(compiled).toBe(reference);
  });

  it('refuses a token without the publish scope before looking at the topic, with the refusal Pothos gave', async () => {
    const outcome = await compileMutation(schema, parse(PUBLISH), undefined)!({ t: 'a b', p: 1 }, subscriberOnly);
    const error = 'result' in outcome ? outcome.result.errors?.[0] : undefined;
    expect(error?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect(error?.message).toBe('this needs the publish scope');
  });

  it('plans the coercion graphql-js would do, and declines (graphql-js then reports) whatever could fail', () => {
    const operation = parse(PUBLISH).definitions[0] as OperationDefinitionNode;
    const field = schema.getMutationType()!.getFields().publish!;
    const node = operation.selectionSet.selections[0] as FieldNode;
    const coerceVariables = planVariableCoercion(schema, operation)!;
    const coerceArguments = planArgumentCoercion(field, node);

    const raw = { t: 'orders/1', p: { deep: [1, null] } };
    const reference = getVariableValues(schema, operation.variableDefinitions!, raw);
    const planned = coerceVariables(raw);
    expect(planned).toEqual(reference.coerced);
    expect(Object.getPrototypeOf(planned)).toBe(Object.getPrototypeOf(reference.coerced));
    expect(coerceArguments(planned!)).toEqual(getArgumentValues(field, node, planned));

    for (const declined of [{ t: 'orders/1' }, { t: 'orders/1', p: null }, { t: 7, p: 1 }, { t: ['list'], p: 1 }]) {
      expect(coerceVariables(declined)).toBeUndefined();
      expect(getVariableValues(schema, operation.variableDefinitions!, declined).errors).toBeDefined();
    }
  });

  it('plans a list of input objects as graphql-js coerces it, and declines each input graphql-js refuses', () => {
    const operation = parse('mutation ($m: [PublishInput!]!, $l: [String], $n: [[Int!]]) { publishMany(messages: $m) { id } }')
      .definitions[0] as OperationDefinitionNode;
    const coerceVariables = planVariableCoercion(schema, operation)!;
    expect(coerceVariables).toBeDefined();
    const accepted = [
      {
        m: [
          { topic: 'a', payload: { x: [1, null] } },
          { payload: 'p', topic: 'b' },
        ],
        l: ['x', null],
        n: [[1, 2], null, 3],
      },
      { m: { topic: 'a', payload: 1 }, l: 'lone', n: 4 },
      { m: [], l: [], n: [] },
    ];
    for (const raw of accepted) {
      const reference = getVariableValues(schema, operation.variableDefinitions!, raw);
      expect(reference.errors).toBeUndefined();
      const planned = coerceVariables(raw);
      expect(planned).toEqual(reference.coerced);
      // Same key order and kinds of object all the way down (JSON text compares both).
      expect(JSON.stringify(planned)).toBe(JSON.stringify(reference.coerced));
      expect(Object.getPrototypeOf((planned!.m as object[])[0] ?? {})).toBe(Object.prototype);
    }
    const refused = [
      { m: [{ topic: 'a' }] },
      { m: [{ topic: 'a', payload: null }] },
      { m: [{ topic: 'a', payload: 1, extra: true }] },
      { m: [{ topic: 'a', payload: 1 }, null] },
      { m: [[{ topic: 'a', payload: 1 }]] },
      { m: ['a'] },
      { m: [{ topic: 1, payload: 1 }] },
      { m: [{ topic: 'a', payload: 1 }], n: [[1, null]] },
      { m: [{ topic: 'a', payload: 1 }], n: [['x']] },
      { m: [{ topic: 'a', payload: 1 }], l: [{}] },
    ];
    for (const raw of refused) {
      expect(getVariableValues(schema, operation.variableDefinitions!, raw).errors).toBeDefined();
      expect(coerceVariables(raw)).toBeUndefined();
    }
  });

  it.each([
    ['a query', '{ viewer { subject } }'],
    ['a nested selection', 'mutation { createTopic(name: "t") { name audience { name } } }'],
    ['a fragment', 'mutation { publish(topic: "t", payload: 1) { ...F } } fragment F on Message { id }'],
    ['two root fields', 'mutation { a: publish(topic: "t", payload: 1) { id } b: publish(topic: "t", payload: 2) { id } }'],
  ])('leaves %s to graphql-js', (_name, query) => {
    expect(compileMutation(schema, parse(query), undefined)).toBeUndefined();
  });
});
