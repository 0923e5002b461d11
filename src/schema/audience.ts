import type { AudienceRecord } from '../store/store.js';
import { builder } from './builder.js';
import { TopicRef } from './topic.js';

export const AudienceRef = builder.objectRef<AudienceRecord>('Audience');

AudienceRef.implement({
  description: 'A tenant: a namespace that groups topics and connections. Nothing crosses audiences.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    topics: t.field({
      type: [TopicRef],
      resolve: (audience, _args, { services }) => services.store.listTopicsByAudienceId(audience.id),
    }),
  }),
});

builder.queryField('audience', (t) =>
  t.field({
    type: AudienceRef,
    nullable: true,
    description: "The caller's audience, or null when it has not been registered.",
    resolve: async (_root, _args, { viewer, services }) => (await services.store.findAudience(viewer.audience)) ?? null,
  }),
);

builder.mutationField('createAudience', (t) =>
  t.field({
    type: AudienceRef,
    description: "Registers the caller's audience; idempotent. Needs MANAGE.",
    authScopes: { manage: true },
    resolve: async (_root, _args, { viewer, services }) => (await services.catalog.ensureAudience(viewer)).record,
  }),
);
