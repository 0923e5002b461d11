import { extendSchema, parse, type GraphQLInterfaceType, type GraphQLObjectType, type GraphQLSchema, type GraphQLUnionType } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Viewer } from '../src/auth/viewer.js';
import { schema } from '../src/schema/index.js';
import { VIEWER_DEPENDENT } from '../src/transport/viewer-dependent-fields.js';
import { deliverToSubjects } from './helpers/group-harness.js';

/**
 * Ways a viewer-dependent field can be selected that a walk of the selection's static types misses:
 * through an interface whose implementation (not the interface) carries the marker, or through a
 * union or interface member whose type (not field) carries it. Each must split the group, so that
 * every subscriber gets its own execution with its own context.
 */

type Context = { viewer: Viewer };
const MARKED = { [VIEWER_DEPENDENT]: true };
const seenBy = (_source: unknown, _args: unknown, context: Context): string | null => context.viewer.subject ?? null;

/**
 * The real schema, plus on Message:
 * - `stamp: Stamp`, an interface whose `by` is unmarked; its implementation ViewerStamp marks `by`;
 * - `badge: Badge`, an interface implemented by SecretBadge, a type marked as a whole;
 * - `extra: Extra`, a union of Plain and Secret, Secret marked as a whole.
 * Every one of them resolves the viewer's subject, so a shared execution would show.
 */
function testSchema(): GraphQLSchema {
  const extended = extendSchema(
    schema,
    parse(`
      interface Stamp { by: String }
      type ViewerStamp implements Stamp { by: String }
      interface Badge { label: String }
      type SecretBadge implements Badge { label: String }
      type Plain { text: String }
      type Secret { note: String }
      union Extra = Plain | Secret
      extend type Message { stamp: Stamp badge: Badge extra: Extra }
    `),
  );
  const object = (name: string) => extended.getType(name) as GraphQLObjectType<unknown, Context>;
  const mark = (target: { extensions: unknown }) => Object.assign(target, { extensions: { ...(target.extensions as object), ...MARKED } });
  const fields = object('Message').getFields();
  for (const name of ['stamp', 'badge', 'extra']) fields[name]!.resolve = (message: unknown) => message;
  (extended.getType('Stamp') as GraphQLInterfaceType).resolveType = () => 'ViewerStamp';
  (extended.getType('Badge') as GraphQLInterfaceType).resolveType = () => 'SecretBadge';
  (extended.getType('Extra') as GraphQLUnionType).resolveType = () => 'Secret';
  object('ViewerStamp').getFields().by!.resolve = seenBy;
  mark(object('ViewerStamp').getFields().by!);
  object('SecretBadge').getFields().label!.resolve = seenBy;
  mark(object('SecretBadge'));
  object('Secret').getFields().note!.resolve = seenBy;
  mark(object('Secret'));
  object('Plain').getFields().text!.resolve = () => 'plain';
  return extended;
}

describe('grouped execution: viewer-dependent fields behind abstract types', () => {
  const withTypes = testSchema();

  for (const [how, query, result] of [
    ['an interface field marked on its implementation', 'subscription { topic(name: "news") { id stamp { by } } }', (s: string) => ({ stamp: { by: s } })],
    [
      'an interface field marked on its implementation, under an alias and a named fragment',
      'subscription { topic(name: "news") { id ...S } } fragment S on Message { who: stamp { whom: by } }',
      (s: string) => ({ who: { whom: s } }),
    ],
    [
      'an interface whose implementation is marked as a type',
      'subscription { topic(name: "news") { id badge { label } } }',
      (s: string) => ({ badge: { label: s } }),
    ],
    [
      'a union member marked as a type',
      'subscription { topic(name: "news") { id extra { ... on Secret { note } } } }',
      (s: string) => ({ extra: { note: s } }),
    ],
    [
      'a union member marked as a type, through a named fragment on the member',
      'subscription { topic(name: "news") { id extra { ...N } } } fragment N on Secret { note }',
      (s: string) => ({ extra: { note: s } }),
    ],
  ] as const) {
    it(`splits the group for ${how}`, async () => {
      const { groups, received, id } = await deliverToSubjects(withTypes, query, ['ann', 'bob']);
      expect(received.get('ann')).toEqual([{ data: { topic: { id, ...result('ann') } } }]);
      expect(received.get('bob')).toEqual([{ data: { topic: { id, ...result('bob') } } }]);
      expect(groups).toBe(2);
    });
  }

  it('still shares a group when the interface selected has a marked field that is not selected', async () => {
    const { groups, received, id } = await deliverToSubjects(withTypes, 'subscription { topic(name: "news") { id stamp { __typename } } }', ['ann', 'bob']);
    expect(groups).toBe(1);
    expect(received.get('bob')).toEqual([{ data: { topic: { id, stamp: { __typename: 'ViewerStamp' } } } }]);
  });
});
