import { requireScope, authorizeSubscribe } from '../auth/access.js';
import type { Viewer } from '../auth/viewer.js';
import type { Bus, Channel } from '../bus/bus.js';
import type { Fanout, Subscriber, Target } from '../bus/fanout.js';
import { HeraldError } from '../errors.js';
import { cursorOf, parseCursor, UNRESUMABLE_ID, type Cursor } from '../history/cursor.js';
import { MAX_HISTORY_LIMIT, type StreamRef } from '../history/history.js';
import type { Message } from '../publish/message.js';
import type { Store } from '../store/store.js';
import { assertDeclared } from '../topics/declared-topics.js';
import { assertTopicName, assertTopicPattern, isPattern } from '../topics/topic-name.js';
import { createBatchedReads } from './batched-reads.js';
import { createConnectionSubscriptions, type ConnectionSubscriptions } from './connection-subscriptions.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Metrics } from '../metrics/metrics.js';
import type { StreamCounts } from '../metrics/stream-counts.js';
import { MessageSource, type WatchSession } from './message-source.js';
import { resume, type ResumeFrom } from './resume.js';

/** What a surface hands the subscribe service to receive a subscription's messages. */
export type Receiver = Omit<Subscriber, 'accepts'> & {
  /** The surface's own extra rule (courier: one copy per connection), applied after the viewer's topics limit. */
  readonly accepts?: (topic: string) => boolean;
  /** A resumed subscription whose gap cannot be filled has ended with this error (default: close). */
  fail?(error: unknown): void;
  /** A resumed subscription replayed what it missed and is live from here on. */
  caughtUp?(): void;
  /**
   * A subscription opened at 'head': the id of its starting position, before any message. Resuming
   * from it misses nothing that this subscription would have received; for a subscription that
   * cannot resume (a pattern, history off) it is UNRESUMABLE_ID, whose resume fails CURSOR_EXPIRED.
   */
  anchored?(id: string): void;
};

const UNRESUMABLE = cursorOf(UNRESUMABLE_ID);

/** Enough to read everything a stream still keeps after a cursor (HISTORY_SIZE is at most this). */
const ALL_KEPT = 1_000_000;

export interface SubscribeServiceOptions {
  readonly fanout: Fanout;
  /** History and the moment a channel is live, for resuming with `after`. */
  readonly bus: Pick<Bus, 'history' | 'head' | 'listening'>;
  readonly store: Store;
  /** REQUIRE_DECLARED_TOPICS: exact names must have been declared with createTopic. */
  readonly requireDeclaredTopics: boolean;
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION. */
  readonly maxSubscriptionsPerConnection: number;
  /** MAX_BUFFERED_BYTES: bounds a per-subscriber stream (SSE) whose reader stopped reading. */
  readonly maxBufferedBytes: number;
  /** Whether a credential still holds (expiry, revocation), and who is connected. */
  readonly sessions: Pick<Sessions, 'assertHolds' | 'watch'>;
  /** Replays and CURSOR_EXPIRED refusals of every surface; SSE streams (the per-subscriber streams). */
  readonly metrics: Pick<Metrics, 'replayed' | 'cursorExpired'>;
  readonly streams: StreamCounts;
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
  authorize(viewer: Viewer, target: Target, argument?: string, cursor?: Cursor): Promise<void>;
  /**
   * Whether an open subscription may go on under a renewed viewer: authorize's rules but the two
   * that cannot change, REQUIRE_DECLARED_TOPICS (the audience is the same, see assertRenewal) and the
   * cursor's (the subscription is past its start). Throws the HeraldError that ends it.
   */
  reauthorize(viewer: Viewer, target: Target): void;
  /**
   * Calls `onEnded` once when the viewer's session ends: its token expires or is revoked, or an
   * operator disconnects its subject. Every surface arms it while a connection or stream is open.
   */
  watch: WatchSession;
  /**
   * Registers an authorised subscription in the fan-out registry, delivering only what the viewer's
   * topics limit allows; returns the function that ends it (idempotent). The surface decides when
   * the credential's end ends it (a connection's, or this subscription's own). With a cursor, it
   * first replays every kept message after it (resume.ts), or fails the receiver; a CURSOR_EXPIRED
   * failure carries `extensions.latest`, the stream's head, to resume from after re-reading state.
   * With 'head', it starts live at the stream's current position and tells the receiver that
   * position first (anchored), so a client cut before its first message can still resume.
   */
  open(viewer: Viewer, target: Target, receiver: Receiver, from?: ResumeFrom): () => void;
  /**
   * authorize, then the Subscription resolvers' MessageSource (SSE iterates it; graphql-ws groups it).
   * `after` is the client's cursor, as given: a malformed one is BAD_USER_INPUT.
   */
  source(viewer: Viewer, target: Target, argument?: string, after?: string | null): Promise<MessageSource>;
  /** The history query: authorised as subscribing to the exact topic (null: broadcasts) is; limit 1 to MAX_HISTORY_LIMIT. */
  history(viewer: Viewer, topic: string | null, after: string | null | undefined, limit: number): Promise<readonly Message[]>;
  /** A connection's registry of open subscriptions: the per-connection cap and its cleanup. */
  connection<K>(): ConnectionSubscriptions<K>;
}

export function createSubscribeService(options: SubscribeServiceOptions): SubscribeService {
  const { fanout, bus, store, requireDeclaredTopics, maxSubscriptionsPerConnection, maxBufferedBytes, sessions, metrics, streams } = options;
  // A reconnect storm resumes thousands of subscribers from the same place: one read answers a batch of them.
  const readKept = createBatchedReads<readonly Message[]>();
  // Likewise thousands of fresh or refused subscribers of one stream: one head read answers a batch.
  const readHeads = createBatchedReads<Cursor | undefined>();
  const readHead = (stream: StreamRef): Promise<Cursor | undefined> => readHeads(`${stream.audience}\u0000${stream.topic ?? ''}`, () => bus.head(stream));

  /**
   * CURSOR_EXPIRED, plus where the stream stands now (`extensions.latest`): a client that re-reads its
   * state and then resumes from there misses nothing published meanwhile. Read only here, after
   * the subscription was authorised for this stream, so it reveals nothing across audiences.
   * Without history (HISTORY_SIZE=0) there is no position to resume from, so no latest.
   */
  const withLatest = async (error: unknown, stream: StreamRef): Promise<never> => {
    if (!(error instanceof HeraldError) || error.code !== 'CURSOR_EXPIRED') throw error;
    const latest = await readHead(stream);
    if (latest === undefined) throw error;
    throw new HeraldError(
      'CURSOR_EXPIRED',
      `${error.message}; or re-read the current state, then resume with after: extensions.latest to miss nothing published since`,
      { latest: latest.id },
    );
  };

  const reauthorize = (viewer: Viewer, target: Target, argument = 'topic'): void => {
    sessions.assertHolds(viewer);
    if (target.kind === 'broadcasts') return requireScope(viewer, 'SUBSCRIBE');
    assertTopicPattern(target.name, argument);
    authorizeSubscribe(viewer, target.name);
  };

  const authorize = async (viewer: Viewer, target: Target, argument = 'topic', cursor?: Cursor): Promise<void> => {
    reauthorize(viewer, target, argument);
    if (target.kind === 'broadcasts') return;
    if (cursor !== undefined && isPattern(target.name)) {
      // Ids order one topic's messages, not a pattern's many topics: one cursor cannot say what a pattern missed.
      throw new HeraldError(
        'BAD_USER_INPUT',
        'after cannot be used with a pattern: resume each topic by its exact name, or subscribe to the pattern without after',
      );
    }
    // Patterns may name topics declared later, so only exact names are checked against declarations.
    if (requireDeclaredTopics && !isPattern(target.name)) await assertDeclared(store, viewer.audience, target.name);
  };

  const register = (viewer: Viewer, target: Target, receiver: Receiver): (() => void) => {
    const limit = viewer.topics === undefined ? undefined : viewer.allowsTopic;
    const own = receiver.accepts;
    const accepts = limit === undefined ? own : own === undefined ? limit : (topic: string) => limit(topic) && own(topic);
    return fanout.add(viewer.audience, target, accepts === undefined ? receiver : { ...receiver, accepts });
  };

  const open = (viewer: Viewer, target: Target, receiver: Receiver, from?: ResumeFrom): (() => void) => {
    if (from === undefined) return register(viewer, target, receiver);
    const stream: StreamRef = { audience: viewer.audience, topic: target.kind === 'topic' ? target.name : null };
    // A pattern only ever starts at 'head' (authorize refuses its cursors): it goes through the same
    // seam on its patterns channel, anchored where no resume succeeds, since ids order one topic only.
    const pattern = stream.topic !== null && isPattern(stream.topic);
    const channel: Channel = pattern
      ? { kind: 'patterns', audience: stream.audience }
      : stream.topic === null
        ? { kind: 'broadcasts', audience: stream.audience }
        : { kind: 'topic', audience: stream.audience, topic: stream.topic };
    return resume(
      from,
      {
        register: (deliver) => register(viewer, target, { ...receiver, deliver }),
        listening: () => bus.listening(channel),
        read: (after) =>
          readKept(`${stream.audience}\u0000${stream.topic ?? ''}\u0000${after.id}`, () => bus.history(stream, after, ALL_KEPT)).then(
            (kept) => {
              metrics.replayed(kept.length);
              return kept;
            },
            (error: unknown) => {
              if (error instanceof HeraldError && error.code === 'CURSOR_EXPIRED') metrics.cursorExpired();
              return withLatest(error, stream);
            },
          ),
        head: async () => (pattern ? undefined : await readHead(stream)) ?? UNRESUMABLE,
      },
      {
        deliver: (message) => receiver.deliver(message),
        fail: (error) => (receiver.fail === undefined ? receiver.close?.() : receiver.fail(error)),
        anchored: (head) => receiver.anchored?.(head.id),
        caughtUp: () => receiver.caughtUp?.(),
      },
    );
  };

  return {
    authorize,
    reauthorize: (viewer, target) => reauthorize(viewer, target),
    watch: (viewer, onEnded) => sessions.watch(viewer, onEnded),
    open,
    async source(viewer, target, argument, after) {
      const cursor = after == null ? undefined : parseCursor(after);
      await authorize(viewer, target, argument, cursor);
      return new MessageSource(viewer, target, open, maxBufferedBytes, (viewer, onEnded) => sessions.watch(viewer, onEnded), streams, cursor);
    },
    async history(viewer, topic, after, limit) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
        throw new HeraldError('BAD_USER_INPUT', `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}, got ${limit}`);
      }
      const cursor = after == null ? undefined : parseCursor(after);
      if (topic !== null) assertTopicName(topic);
      await authorize(viewer, topic === null ? { kind: 'broadcasts' } : { kind: 'topic', name: topic }, 'topic', cursor);
      return bus.history({ audience: viewer.audience, topic }, cursor, limit);
    },
    connection: () => createConnectionSubscriptions(maxSubscriptionsPerConnection),
  };
}
