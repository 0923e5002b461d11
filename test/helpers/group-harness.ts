import { createSessions } from '../../src/sessions/sessions.js';
import { parse, type GraphQLSchema } from 'graphql';
import { viewerFromClaims, type Viewer } from '../../src/auth/viewer.js';
import { createFanout, type SubscriberErrorHandler } from '../../src/bus/fanout.js';
import { createMemoryBus } from '../../src/bus/memory-bus.js';
import type { Bus } from '../../src/bus/bus.js';
import type { Message } from '../../src/publish/message.js';
import type { Store } from '../../src/store/store.js';
import { createSubscribeService } from '../../src/subscribe/subscribe-service.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { StreamCounts } from '../../src/metrics/stream-counts.js';
import { createSubscriptionGroups, type GroupMember, type SubscriptionGroups } from '../../src/transport/subscription-groups.js';

/**
 * Shared groups over a real in-process bus, fan-out and subscribe service, without sockets: for
 * tests that need a schema of their own (fields the real one lacks) or members whose writes fail.
 * Errors either path reports go to the handlers given, by default thrown (a test fails on them).
 */
export interface GroupHarness {
  readonly bus: Bus;
  readonly groups: SubscriptionGroups;
  /** Joins `viewer` to the group for `query` on topic "news", writing through `member`. */
  join(schema: GraphQLSchema, query: string, viewer: Viewer, member: Omit<GroupMember, 'fail'>): void;
  /** Publishes a message to topic "news" of audience "vd" (the bus stamps its id). */
  publish(): Promise<Message>;
}

const rethrow = (error: unknown): never => {
  throw error;
};

export function createGroupHarness(handlers: { onSubscriberError?: SubscriberErrorHandler; onDeliveryError?: SubscriberErrorHandler } = {}): GroupHarness {
  const bus = createMemoryBus();
  const fanout = createFanout(bus, handlers.onSubscriberError ?? rethrow);
  const metrics = createMetrics();
  const subscriptions = createSubscribeService({
    fanout,
    bus,
    store: {} as Store, // never asked: REQUIRE_DECLARED_TOPICS is off
    requireDeclaredTopics: false,
    sessions: createSessions(),
    maxSubscriptionsPerConnection: 10,
    maxBufferedBytes: 1 << 20,
    metrics,
    streams: new StreamCounts(metrics),
  });
  const groups = createSubscriptionGroups({
    subscriptions,
    fanout,
    maskError: (error) => error as Error,
    onDeliveryError: handlers.onDeliveryError ?? rethrow,
    delivered: metrics.delivered['graphql-ws'],
  });
  return {
    bus,
    groups,
    join(schema, query, viewer, member) {
      const spec = { schema, document: parse(query), query, operationName: undefined, variables: undefined, contextValue: { viewer }, viewer };
      groups.join({ ...spec, target: { kind: 'topic', name: 'news' } }, { ...member, fail: rethrow });
    },
    publish: () => bus.publish({ audience: 'vd', topic: 'news', payload: { n: 1 }, publishedAt: new Date(0).toISOString(), publisher: null }),
  };
}

export const viewerOf = (subject: string): Viewer =>
  viewerFromClaims({ sub: subject, aud: 'vd', scope: 'subscribe' }, { defaultAudience: 'vd', defaultScopes: ['SUBSCRIBE'] }, false);

/** Delivers one message to a subscriber per subject and returns the groups formed, each subject's results and the message's id. */
export async function deliverToSubjects(schema: GraphQLSchema, query: string, subjects: readonly string[]) {
  const harness = createGroupHarness();
  const received = new Map<string, unknown[]>();
  for (const subject of subjects) {
    received.set(subject, []);
    harness.join(schema, query, viewerOf(subject), {
      prefix: Buffer.from('['),
      write: (_prefix, body) => received.get(subject)!.push(JSON.parse(`[${body.toString().slice(0, -1)}]`)[0]),
    });
  }
  const { id } = await harness.publish();
  return { groups: harness.groups.size, received, id };
}
