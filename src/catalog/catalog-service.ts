import { authorizeManageTopic, requireScope } from '../auth/access.js';
import type { Viewer } from '../auth/viewer.js';
import type { Logger } from '../log.js';
import type { PublishService } from '../publish/publish-service.js';
import type { AudienceRecord, Ensured, Store, TopicRecord } from '../store/store.js';
import { audienceJson, topicJson, type AudienceJson, type TopicJson } from './catalog-json.js';

/** The topic of every audience on which Herald announces its own catalog changes. */
export const SYSTEM_EVENTS_TOPIC = 'system/events';

/**
 * What Herald publishes on `system/events` when a row of its catalog really changed (courier did
 * this with database triggers; its clients listen for it).
 */
export type LifecycleEvent =
  | { readonly type: 'database'; readonly operation: 'INSERT' | 'DELETE'; readonly table: 'audiences'; readonly record: AudienceJson }
  | { readonly type: 'database'; readonly operation: 'INSERT' | 'DELETE'; readonly table: 'topics'; readonly record: TopicJson };

/**
 * Audiences and topics as every surface changes them (GraphQL mutations, courier's /v1 routes):
 * authorise the viewer, call the store, and announce each row that was really created or removed
 * as a LifecycleEvent, so both surfaces emit the same events and an idempotent repeat emits none.
 */
export interface CatalogService {
  /** Registers the viewer's audience; idempotent. Needs MANAGE. */
  ensureAudience(viewer: Viewer): Promise<Ensured<AudienceRecord>>;
  /** Declares a topic, registering the audience when needed; idempotent. Needs MANAGE and a limit covering it. */
  ensureTopic(viewer: Viewer, name: string): Promise<Ensured<TopicRecord> & { audience: Ensured<AudienceRecord> }>;
  /** Removes a declared topic; the removed row, or undefined when there was none. Needs MANAGE and a limit covering it. */
  deleteTopic(viewer: Viewer, name: string): Promise<TopicRecord | undefined>;
  /** The viewer's declared topics by name; a token limited to some topics sees only those. */
  listTopics(viewer: Viewer): Promise<TopicRecord[]>;
}

export interface CatalogServiceOptions {
  readonly store: Store;
  readonly publisher: PublishService;
  readonly logger: Logger;
}

export function createCatalogService({ store, publisher, logger }: CatalogServiceOptions): CatalogService {
  /**
   * The change is already committed when the event goes out, so a bus that cannot take it (Redis
   * down) does not fail the request: the client's operation succeeded, and failing it would not bring
   * the event back (a retry finds the row and emits nothing). The loss is logged; pub/sub without
   * history is at-most-once anyway.
   */
  const announce = async (audience: string, event: LifecycleEvent): Promise<void> => {
    try {
      await publisher.publishSystem(audience, SYSTEM_EVENTS_TOPIC, event);
    } catch (error) {
      logger.warn({ err: error, audience, event: `${event.operation} ${event.table}` }, 'lifecycle event not published');
    }
  };
  const audienceCreated = (record: AudienceRecord) =>
    announce(record.name, { type: 'database', operation: 'INSERT', table: 'audiences', record: audienceJson(record) });

  return {
    async ensureAudience(viewer) {
      requireScope(viewer, 'MANAGE');
      const ensured = await store.ensureAudience(viewer.audience);
      if (ensured.created) await audienceCreated(ensured.record);
      return ensured;
    },

    async ensureTopic(viewer, name) {
      authorizeManageTopic(viewer, name);
      const ensured = await store.ensureTopic(viewer.audience, name);
      // The audience first: a listener sees the parent row before the child that refers to it.
      if (ensured.audience.created) await audienceCreated(ensured.audience.record);
      if (ensured.created) {
        await announce(viewer.audience, { type: 'database', operation: 'INSERT', table: 'topics', record: topicJson(ensured.record) });
      }
      return ensured;
    },

    async deleteTopic(viewer, name) {
      authorizeManageTopic(viewer, name);
      const removed = await store.deleteTopic(viewer.audience, name);
      if (removed !== undefined) {
        await announce(viewer.audience, { type: 'database', operation: 'DELETE', table: 'topics', record: topicJson(removed) });
      }
      return removed;
    },

    async listTopics(viewer) {
      const topics = await store.listTopics(viewer.audience);
      return viewer.topics === undefined ? topics : topics.filter((topic) => viewer.allowsTopic(topic.name));
    },
  };
}
