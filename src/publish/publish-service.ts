import { authorizeBroadcast, authorizePublish } from '../auth/access.js';
import type { Viewer } from '../auth/viewer.js';
import type { Bus } from '../bus/bus.js';
import { HeraldError } from '../errors.js';
import type { Store } from '../store/store.js';
import { assertDeclared } from '../topics/declared-topics.js';
import { assertTopicName } from '../topics/topic-name.js';
import { isoTimestamp } from './iso-timestamp.js';
import { assertPayloadDepth } from './payload-depth.js';
import type { MessageDraft } from '../history/history.js';
import type { Message } from './message.js';

/** One message of a publishMany call. */
export interface PublishItem {
  readonly topic: string;
  // Optional only as Pothos types a required JSON input (unknown includes undefined); GraphQL requires it.
  readonly payload?: unknown;
}

/** The most messages one publishMany call may carry (MAX_BODY_BYTES bounds them too). */
export const MAX_PUBLISH_MANY = 1_000;

export interface PublishService {
  /** Authorises, validates, stamps and hands one message for `topic` to the bus. */
  publish(viewer: Viewer, topic: string, payload: unknown): Promise<Message>;
  /**
   * Many messages at once, each authorised, validated and stamped as `publish` does. All or nothing
   * up to the bus: the first message refused refuses the call (its error says which, `extensions.index`)
   * and nothing is published. Then every message goes to the bus in list order, in the same turn,
   * so one topic's messages keep list order and a Redis bus pipelines them.
   */
  publishMany(viewer: Viewer, items: readonly PublishItem[]): Promise<Message[]>;
  /** The same for an audience-wide broadcast. */
  broadcast(viewer: Viewer, payload: unknown): Promise<Message>;
  /**
   * A message the gateway itself publishes (lifecycle events on `system/events`): no viewer, so
   * nothing to authorise and no declaration check; stamped like any other, with a null publisher.
   * Never reachable from a client request; callers inside Herald decide what the system says.
   */
  publishSystem(audience: string, topic: string, payload: unknown): Promise<Message>;
}

export interface PublishServiceOptions {
  readonly bus: Bus;
  readonly store: Store;
  /** Largest payload, as its JSON text in bytes. */
  readonly maxPayloadBytes: number;
  /** Refuse topics nobody declared. */
  readonly requireDeclaredTopics: boolean;
}

/** The one publish path: the GraphQL mutations and every compat route call it. */
export function createPublishService(options: PublishServiceOptions): PublishService {
  const { bus, store, maxPayloadBytes, requireDeclaredTopics } = options;

  /** Validates the payload and stamps everything but the id, which the bus gives it. */
  const draftOf = (audience: string, publisher: string | null, topic: string | null, payload: unknown): MessageDraft => {
    // Before JSON.stringify, whose stack a deep enough value overflows (a RangeError, not the client's error).
    assertPayloadDepth(payload);
    const text = JSON.stringify(payload) as string | undefined;
    if (text === undefined) throw new HeraldError('BAD_USER_INPUT', 'payload must be a JSON value');
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxPayloadBytes) {
      throw new HeraldError('PAYLOAD_TOO_LARGE', `payload is ${bytes} bytes of JSON; the limit is ${maxPayloadBytes} (MAX_PAYLOAD_BYTES)`);
    }
    // The bus stamps the id: the stream's epoch and next offset (src/history/cursor.ts).
    return {
      audience,
      topic,
      payload,
      publishedAt: isoTimestamp(Date.now()),
      publisher,
      payloadJson: text,
    };
  };
  const send = async (audience: string, publisher: string | null, topic: string | null, payload: unknown): Promise<Message> =>
    bus.publish(draftOf(audience, publisher, topic, payload));

  return {
    async publish(viewer, topic, payload) {
      authorizePublish(viewer, topic);
      if (requireDeclaredTopics) await assertDeclared(store, viewer.audience, topic);
      return send(viewer.audience, viewer.subject ?? null, topic, payload);
    },
    async publishMany(viewer, items) {
      if (items.length > MAX_PUBLISH_MANY) {
        throw new HeraldError('BAD_USER_INPUT', `publishMany takes at most ${MAX_PUBLISH_MANY} messages; this call has ${items.length}`);
      }
      const drafts: MessageDraft[] = [];
      const publisher = viewer.subject ?? null;
      for (const [index, { topic, payload }] of items.entries()) {
        try {
          authorizePublish(viewer, topic);
          drafts.push(draftOf(viewer.audience, publisher, topic, payload));
        } catch (error) {
          throw atIndex(error, index);
        }
      }
      if (requireDeclaredTopics) {
        const checked = new Set<string>();
        for (const [index, { topic }] of drafts.entries()) {
          if (topic === null || checked.has(topic)) continue;
          checked.add(topic);
          await assertDeclared(store, viewer.audience, topic).catch((error: unknown) => {
            throw atIndex(error, index);
          });
        }
      }
      return Promise.all(drafts.map((draft) => bus.publish(draft)));
    },
    async broadcast(viewer, payload) {
      authorizeBroadcast(viewer);
      return send(viewer.audience, viewer.subject ?? null, null, payload);
    },
    async publishSystem(audience, topic, payload) {
      assertTopicName(topic);
      return send(audience, null, topic, payload);
    },
  };
}

/** A refusal of one message of a publishMany call, saying which: `messages[i]: …` and `extensions.index`. */
function atIndex(error: unknown, index: number): unknown {
  if (!(error instanceof HeraldError)) return error;
  const { code: _code, http: _http, ...details } = error.extensions;
  return new HeraldError(error.code, `messages[${index}]: ${error.message}`, { ...details, index });
}
