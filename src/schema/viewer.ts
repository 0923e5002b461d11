import { SCOPES, type Scope } from '../auth/scopes.js';
import type { Viewer } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';
import { builder } from './builder.js';

export const ScopeEnum = builder.enumType('Scope', {
  description: 'What a token lets its bearer do inside its audience.',
  values: {
    SUBSCRIBE: { description: "Open subscriptions to topics (limited by the token's topics claim, if any)." },
    PUBLISH: {
      description: "Publish to topics (limited by the token's topics claim); broadcast when the token has no topics limit.",
    },
    MANAGE: { description: 'Create and delete topics, register the audience, sign subscription URLs for others.' },
  } satisfies Record<Scope, unknown>,
});

export const ViewerRef = builder.objectRef<Viewer>('Viewer').implement({
  description: 'The caller, as the verified token describes it.',
  fields: (t) => ({
    subject: t.string({ nullable: true, description: "The token's sub claim, if any.", resolve: (viewer) => viewer.subject ?? null }),
    audience: t.exposeString('audience', { description: 'The audience (tenant) every operation of this caller is confined to.' }),
    scopes: t.field({ type: [ScopeEnum], resolve: (viewer) => SCOPES.filter((scope) => viewer.scopes.includes(scope)) }),
    topics: t.stringList({
      nullable: true,
      description: 'Topic names or patterns the token is limited to; null means every topic of the audience.',
      resolve: (viewer) => (viewer.topics === undefined ? null : [...viewer.topics]),
    }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the token expires; open subscriptions end then (see the delivery capability for renewal).',
      resolve: (viewer) => viewer.expiresAt ?? null,
    }),
  }),
});

builder.queryField('viewer', (t) => t.field({ type: ViewerRef, resolve: (_root, _args, { viewer }) => viewer }));

builder.mutationField('renewConnection', (t) =>
  t.field({
    type: ViewerRef,
    description:
      'Replaces the credential of the WebSocket connection it is sent on, without closing it; open subscriptions go on under the new token, or end if it no longer allows them. [delivery]',
    args: { token: t.arg.string({ required: true }) },
    resolve: (_root, { token }, { connection }) => {
      if (connection === undefined) {
        throw new HeraldError('BAD_REQUEST', 'renewConnection renews a graphql-ws connection: send it over the WebSocket whose credential it replaces');
      }
      return connection.renew(token);
    },
  }),
);
