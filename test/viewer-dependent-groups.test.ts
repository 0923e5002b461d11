import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { GraphQLObjectType, GraphQLString, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Message } from '../src/publish/message.js';
import type { Viewer } from '../src/auth/viewer.js';
import { schema } from '../src/schema/index.js';
import { VIEWER_DEPENDENT } from '../src/transport/viewer-dependent-fields.js';
import { deliverToSubjects } from './helpers/group-harness.js';

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

describe('grouped execution and viewer-dependent fields', () => {
  it('shares one group when no selected field depends on the viewer', async () => {
    const { groups, received, id } = await deliverToSubjects(
      schemaWithSeenBy({ [VIEWER_DEPENDENT]: true }),
      'subscription { topic(name: "news") { id payload } }',
      ['ann', 'bob'],
    );
    expect(groups).toBe(1);
    expect([...received.values()]).toEqual([[{ data: { topic: { id, payload: { n: 1 } } } }], [{ data: { topic: { id, payload: { n: 1 } } } }]]);
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
        const { groups, received, id } = await deliverToSubjects(schemaWithSeenBy(extensions), query, ['ann', 'bob']);
        expect(groups, query).toBe(2);
        expect(received.get('ann'), query).toEqual([{ data: { topic: { id, seenBy: 'ann' } } }]);
        expect(received.get('bob'), query).toEqual([{ data: { topic: { id, seenBy: 'bob' } } }]);
      }
    });
  }
});
