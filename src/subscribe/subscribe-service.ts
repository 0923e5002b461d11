import { requireScope, authorizeSubscribe } from '../auth/access.js';
import type { Viewer } from '../auth/viewer.js';
import type { Fanout, Subscriber, Target } from '../bus/fanout.js';
import { HeraldError } from '../errors.js';
import type { Store } from '../store/store.js';
import { assertDeclared } from '../topics/declared-topics.js';
import { assertTopicPattern, isPattern } from '../topics/topic-name.js';
import { createConnectionSubscriptions, type ConnectionSubscriptions } from './connection-subscriptions.js';
import { credentialHolds } from './credential.js';
import { MessageSource } from './message-source.js';

/** What a surface hands the subscribe service to receive a subscription's messages. */
export type Receiver = Omit<Subscriber, 'accepts'> & {
  /** The surface's own extra rule (courier: one copy per connection), applied after the viewer's topics limit. */
  readonly accepts?: (topic: string) => boolean;
};

export interface SubscribeServiceOptions {
  readonly fanout: Fanout;
  readonly store: Store;
  /** REQUIRE_DECLARED_TOPICS: exact names must have been declared with createTopic. */
  readonly requireDeclaredTopics: boolean;
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION. */
  readonly maxSubscriptionsPerConnection: number;
  /** MAX_BUFFERED_BYTES: bounds a per-subscriber stream (SSE) whose reader stopped reading. */
  readonly maxBufferedBytes: number;
}

/**
 * The one subscribe path, beside the one publish path: everything that decides what a subscription
 * may receive and for how long. GraphQL (graphql-ws groups and SSE), courier and notiflux all
 * subscribe through it and keep only their wire formats.
 */
export interface SubscribeService {
  /**
   * Whether `viewer` may subscribe to `target`: a credential that still holds, a valid name or pattern,
   * the subscribe scope, the topics limit (a pattern wider than it is accepted and filtered; one it
   * excludes entirely is refused), REQUIRE_DECLARED_TOPICS for exact names. Throws a HeraldError.
   * `argument` names the topic in messages as the surface's protocol does (`name`, `topic`).
   */
  authorize(viewer: Viewer, target: Target, argument?: string): Promise<void>;
  /**
   * Registers an authorised subscription in the fan-out registry, delivering only what the viewer's
   * topics limit allows; returns the function that ends it (idempotent). The surface decides when
   * the credential's end ends it (a connection's, or this subscription's own).
   */
  open(viewer: Viewer, target: Target, receiver: Receiver): () => void;
  /** authorize, then the Subscription resolvers' MessageSource (SSE iterates it; graphql-ws groups it). */
  source(viewer: Viewer, target: Target, argument?: string): Promise<MessageSource>;
  /** A connection's registry of open subscriptions: the per-connection cap and its cleanup. */
  connection<K>(): ConnectionSubscriptions<K>;
}

export function createSubscribeService(options: SubscribeServiceOptions): SubscribeService {
  const { fanout, store, requireDeclaredTopics, maxSubscriptionsPerConnection, maxBufferedBytes } = options;

  const authorize = async (viewer: Viewer, target: Target, argument = 'topic'): Promise<void> => {
    if (!credentialHolds(viewer)) throw new HeraldError('UNAUTHENTICATED', 'token expired');
    if (target.kind === 'broadcasts') return requireScope(viewer, 'SUBSCRIBE');
    assertTopicPattern(target.name, argument);
    authorizeSubscribe(viewer, target.name);
    // Patterns may name topics declared later, so only exact names are checked against declarations.
    if (requireDeclaredTopics && !isPattern(target.name)) await assertDeclared(store, viewer.audience, target.name);
  };

  const open = (viewer: Viewer, target: Target, receiver: Receiver): (() => void) => {
    const limit = viewer.topics === undefined ? undefined : viewer.allowsTopic;
    const own = receiver.accepts;
    const accepts = limit === undefined ? own : own === undefined ? limit : (topic: string) => limit(topic) && own(topic);
    return fanout.add(viewer.audience, target, accepts === undefined ? receiver : { ...receiver, accepts });
  };

  return {
    authorize,
    open,
    async source(viewer, target, argument) {
      await authorize(viewer, target, argument);
      return new MessageSource(viewer, target, open, maxBufferedBytes);
    },
    connection: () => createConnectionSubscriptions(maxSubscriptionsPerConnection),
  };
}
