import { parseCursor } from '../history/cursor.js';
import type { Message } from '../publish/message.js';
import { deliveredMessage } from '../subscribe/message-source.js';
import { isPattern } from '../topics/topic-name.js';
import { builder } from './builder.js';
import { JSON_TEXT_EXTENSION } from './json-text-extension.js';

export const MessageRef = builder.objectRef<Message>('Message').implement({
  description: 'One delivered event.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Unique id; within one topic, ids sort in publish order and serve as replay cursors.' }),
    topic: t.exposeString('topic', { nullable: true, description: 'The topic it was published to; null for an audience-wide broadcast.' }),
    audience: t.exposeString('audience'),
    payload: t.field({
      type: 'JSON',
      resolve: (message) => message.payload,
      // The JSON scalar serializes as is, so the text made at publish is this field's JSON.
      extensions: { [JSON_TEXT_EXTENSION]: (message: Message) => message.payloadJson },
    }),
    publishedAt: t.field({ type: 'DateTime', resolve: (message) => message.publishedAt }),
    publisher: t.exposeString('publisher', { nullable: true, description: "The sub claim of the publisher's token, if any." }),
  }),
});

/** An ID argument as the string it was written as (GraphQL accepts an ID as an integer literal too). */
const idArgument = (value: string | number | null | undefined): string | undefined => (value == null ? undefined : String(value));

/** A reconnecting EventSource's Last-Event-ID, checked here so a malformed one is reported under its own name, not as `after`. */
const lastEventCursor = (lastEventId: string | undefined): string | undefined =>
  lastEventId === undefined ? undefined : parseCursor(lastEventId, 'Last-Event-ID').id;

builder.queryFields((t) => ({
  history: t.field({
    type: [MessageRef],
    description: 'Messages kept for a topic, newest last, after the given cursor.',
    args: {
      topic: t.arg.string({ required: true }),
      after: t.arg.id(),
      limit: t.arg.int({ defaultValue: 100 }),
    },
    // Authorised exactly as subscribing to the topic is (subscribe-service.ts).
    resolve: (_root, { topic, after, limit }, { viewer, services }) => services.subscriptions.history(viewer, topic, idArgument(after), limit ?? 100),
  }),
}));

const PublishInput = builder.inputType('PublishInput', {
  description: 'One message of publishMany.',
  fields: (t) => ({
    topic: t.string({ required: true }),
    payload: t.field({ type: 'JSON', required: true }),
  }),
});

builder.mutationFields((t) => ({
  publish: t.field({
    type: MessageRef,
    description: "Delivers payload to every subscription of the topic in the caller's audience. Needs PUBLISH.",
    args: { topic: t.arg.string({ required: true }), payload: t.arg({ type: 'JSON', required: true }) },
    // No authScopes here: the publish service checks the publish scope for every surface (GraphQL,
    // courier, notiflux) with the same refusal Pothos gave. A second check through Pothos cost about
    // 12 µs of each publish's ~300 (its per-request scope cache), on the gateway's hottest request.
    resolve: (_root, { topic, payload }, { viewer, services }) => services.publisher.publish(viewer, topic, payload),
  }),
  publishMany: t.field({
    type: [MessageRef],
    description:
      'Publishes up to 1000 messages, each as publish would, in list order. Needs PUBLISH. All or nothing: if any message is refused (its error says which, extensions.index), none is published.',
    args: { messages: t.arg({ type: [PublishInput], required: true }) },
    resolve: (_root, { messages }, { viewer, services }) => services.publisher.publishMany(viewer, messages),
  }),
  broadcast: t.field({
    type: MessageRef,
    description: "Delivers payload to every broadcasts subscription of the caller's audience. Needs PUBLISH and no topics limit.",
    args: { payload: t.arg({ type: 'JSON', required: true }) },
    // Checked by the publish service, as for publish.
    resolve: (_root, { payload }, { viewer, services }) => services.publisher.broadcast(viewer, payload),
  }),
}));

builder.subscriptionFields((t) => ({
  topic: t.field({
    type: MessageRef,
    description:
      "Messages published to one topic, or to every topic a pattern matches ('*' matches within one '/'-separated segment, '**' matches across segments). With after, first replays kept messages after that cursor, then goes live with no gap and no duplicate.",
    args: { name: t.arg.string({ required: true }), after: t.arg.id() },
    // The subscribe service checks the scope with every other rule, for every surface.
    subscribe: (_root, { name, after }, { viewer, services, lastEventId }) =>
      // A reconnecting EventSource's Last-Event-ID is newer than the after it first sent; patterns cannot resume, so they go on live.
      services.subscriptions.source(viewer, { kind: 'topic', name }, 'name', (isPattern(name) ? undefined : lastEventCursor(lastEventId)) ?? idArgument(after)),
    resolve: deliveredMessage,
  }),
  broadcasts: t.field({
    type: MessageRef,
    description: 'Audience-wide broadcasts. With after, first replays kept broadcasts after that cursor, then goes live with no gap and no duplicate.',
    args: { after: t.arg.id() },
    subscribe: (_root, { after }, { viewer, services, lastEventId }) =>
      services.subscriptions.source(viewer, { kind: 'broadcasts' }, undefined, lastEventCursor(lastEventId) ?? idArgument(after)),
    resolve: deliveredMessage,
  }),
}));
