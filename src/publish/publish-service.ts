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

export interface PublishService {
  /** Authorises, validates, stamps and hands one message for `topic` to the bus. */
  publish(viewer: Viewer, topic: string, payload: unknown): Promise<Message>;
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

  const send = async (audience: string, publisher: string | null, topic: string | null, payload: unknown): Promise<Message> => {
    // Before JSON.stringify, whose stack a deep enough value overflows (a RangeError, not the client's error).
    assertPayloadDepth(payload);
    const text = JSON.stringify(payload) as string | undefined;
    if (text === undefined) throw new HeraldError('BAD_USER_INPUT', 'payload must be a JSON value');
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxPayloadBytes) {
      throw new HeraldError('PAYLOAD_TOO_LARGE', `payload is ${bytes} bytes of JSON; the limit is ${maxPayloadBytes} (MAX_PAYLOAD_BYTES)`);
    }
    // The bus stamps the id: the stream's epoch and next offset (src/history/cursor.ts).
    const draft: MessageDraft = {
      audience,
      topic,
      payload,
      publishedAt: isoTimestamp(Date.now()),
      publisher,
      payloadJson: text,
    };
    return bus.publish(draft);
  };

  return {
    async publish(viewer, topic, payload) {
      authorizePublish(viewer, topic);
      if (requireDeclaredTopics) await assertDeclared(store, viewer.audience, topic);
      return send(viewer.audience, viewer.subject ?? null, topic, payload);
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
