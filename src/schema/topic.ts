import type { TopicRecord } from '../store/store.js';
import { AudienceRef } from './audience.js';
import { builder } from './builder.js';

export const TopicRef = builder.objectRef<TopicRecord>('Topic');

TopicRef.implement({
  description: 'A declared topic of an audience.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    audience: t.field({
      type: AudienceRef,
      resolve: async (topic, _args, { services }) => {
        const audience = await services.store.findAudienceById(topic.audienceId);
        if (audience === undefined) throw new Error(`topic ${topic.id} has no audience row`);
        return audience;
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    subscriberCount: t.int({
      description: 'Subscriptions open on this topic right now, across every gateway instance (with the in-process bus there is one instance).',
      resolve: (topic, _args, { viewer, services }) => services.countSubscribers(viewer.audience, topic.name),
    }),
  }),
});

builder.queryFields((t) => ({
  topics: t.field({
    type: [TopicRef],
    description: "The caller's declared topics, by name.",
    resolve: (_root, _args, { viewer, services }) => services.catalog.listTopics(viewer),
  }),
  topic: t.field({
    type: TopicRef,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, { viewer, services }) => {
      if (!viewer.allowsTopic(name)) return null;
      return (await services.store.findTopic(viewer.audience, name)) ?? null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createTopic: t.field({
    type: TopicRef,
    description: 'Declares a topic; idempotent. Needs MANAGE.',
    args: { name: t.arg.string({ required: true }) },
    authScopes: { manage: true },
    resolve: async (_root, { name }, { viewer, services }) => {
      return (await services.catalog.ensureTopic(viewer, name)).record;
    },
  }),
  deleteTopic: t.boolean({
    description: 'Removes a declared topic; true when one was removed. Needs MANAGE.',
    args: { name: t.arg.string({ required: true }) },
    authScopes: { manage: true },
    resolve: async (_root, { name }, { viewer, services }) => {
      return (await services.catalog.deleteTopic(viewer, name)) !== undefined;
    },
  }),
}));
