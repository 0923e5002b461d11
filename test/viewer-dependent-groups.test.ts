import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { GraphQLObjectType, GraphQLString, parse, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { viewerFromClaims, type Viewer } from '../src/auth/viewer.js';
import { createFanout } from '../src/bus/fanout.js';
import { createMemoryBus } from '../src/bus/memory-bus.js';
import type { Message } from '../src/publish/message.js';
import { schema } from '../src/schema/index.js';
import type { Store } from '../src/store/store.js';
import { createSubscribeService } from '../src/subscribe/subscribe-service.js';
import { createSubscriptionGroups } from '../src/transport/subscription-groups.js';
import { VIEWER_DEPENDENT } from '../src/transport/viewer-dependent-fields.js';

/**
 * Grouped execution shares one context and one result among subscribers whose group key holds no
 * viewer. These tests add fields whose result depends on the viewer to a copy of the real schema and
 * show the group splitting: each subscriber gets its own execution, with its own context.
 */

type Context = { viewer: Viewer };

/** The real schema with Message.seenBy (the viewer's subject), marked as `extensions` says. */
function schemaWithSeenBy(extensions: Record<string, unknown>): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_TYPE]: (type) => {
      if (type.name !== 'Message') return type;
      const config = type.toConfig();
      return new GraphQLObjectType({
        ...config,
        fields: {
          ...config.fields,
          seenBy: { type: GraphQLString, extensions, resolve: (_message: Message, _args: unknown, context: Context) => context.viewer.subject ?? null },
        },
      });
    },
  });
}

const viewerOf = (subject: string): Viewer =>
  viewerFromClaims({ sub: subject, aud: 'vd', scope: 'subscribe' }, { defaultAudience: 'vd', defaultScopes: ['SUBSCRIBE'] }, false);

async function deliverTo(testSchema: GraphQLSchema, query: string, subjects: readonly string[]) {
  const bus = createMemoryBus();
  const fanout = createFanout(bus, (error) => {
    throw error;
  });
  const subscriptions = createSubscribeService({
    fanout,
    store: {} as Store, // never asked: REQUIRE_DECLARED_TOPICS is off
    requireDeclaredTopics: false,
    maxSubscriptionsPerConnection: 10,
    maxBufferedBytes: 1 << 20,
  });
  const groups = createSubscriptionGroups({
    subscriptions,
    fanout,
    maskError: (error) => error as Error,
    onDeliveryError: (error) => {
      throw error;
    },
  });
  const document = parse(query);
  const received = new Map<string, unknown[]>();
  for (const subject of subjects) {
    const viewer = viewerOf(subject);
    received.set(subject, []);
    groups.join(
      {
        schema: testSchema,
        document,
        query,
        operationName: undefined,
        variables: undefined,
        contextValue: { viewer },
        viewer,
        target: { kind: 'topic', name: 'news' },
      },
      { prefix: Buffer.from('['), write: (_prefix, body) => received.get(subject)!.push(JSON.parse(`[${body.toString().slice(0, -1)}]`)[0]) },
    );
  }
  await bus.publish({ id: '1', audience: 'vd', topic: 'news', payload: { n: 1 }, publishedAt: new Date(0).toISOString(), publisher: null });
  return { groups: groups.size, received };
}

describe('grouped execution and viewer-dependent fields', () => {
  it('shares one group when no selected field depends on the viewer', async () => {
    const { groups, received } = await deliverTo(schemaWithSeenBy({ [VIEWER_DEPENDENT]: true }), 'subscription { topic(name: "news") { id payload } }', [
      'ann',
      'bob',
    ]);
    expect(groups).toBe(1);
    expect([...received.values()]).toEqual([[{ data: { topic: { id: '1', payload: { n: 1 } } } }], [{ data: { topic: { id: '1', payload: { n: 1 } } } }]]);
  });

  for (const [marker, extensions] of [
    ['the VIEWER_DEPENDENT marker', { [VIEWER_DEPENDENT]: true }],
    ['Pothos authScopes', { pothosOptions: { authScopes: { subscribe: true } } }],
  ] as const) {
    it(`splits the group when the selection has a field with ${marker}, directly or through a fragment`, async () => {
      for (const query of [
        'subscription { topic(name: "news") { id seenBy } }',
        'subscription { topic(name: "news") { id ...Seen } } fragment Seen on Message { seenBy }',
        'subscription { topic(name: "news") { id ... on Message { seenBy } } }',
      ]) {
        const { groups, received } = await deliverTo(schemaWithSeenBy(extensions), query, ['ann', 'bob']);
        expect(groups, query).toBe(2);
        expect(received.get('ann'), query).toEqual([{ data: { topic: { id: '1', seenBy: 'ann' } } }]);
        expect(received.get('bob'), query).toEqual([{ data: { topic: { id: '1', seenBy: 'bob' } } }]);
      }
    });
  }
});
