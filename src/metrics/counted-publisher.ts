import { HeraldError } from '../errors.js';
import type { PublishService } from '../publish/publish-service.js';
import type { Metrics, Origin } from './metrics.js';

/**
 * The one publish path as one surface sees it: every message it publishes is counted with that
 * surface as its origin, and every refusal with its code. The publish path itself stays unaware of metrics.
 */
export function countedPublisher(publisher: PublishService, metrics: Metrics, origin: Origin): PublishService {
  const failed = (error: unknown): never => {
    metrics.publishFailed(origin, error instanceof HeraldError ? error.code : 'INTERNAL_SERVER_ERROR');
    throw error;
  };
  return {
    async publish(viewer, topic, payload) {
      const message = await publisher.publish(viewer, topic, payload).catch(failed);
      metrics.published(origin, 'topic', 1);
      return message;
    },
    async publishMany(viewer, items) {
      const messages = await publisher.publishMany(viewer, items).catch(failed);
      metrics.published(origin, 'topic', messages.length);
      return messages;
    },
    async broadcast(viewer, payload) {
      const message = await publisher.broadcast(viewer, payload).catch(failed);
      metrics.published(origin, 'broadcast', 1);
      return message;
    },
    // Lifecycle events the gateway says itself: not a client's publish.
    publishSystem: (audience, topic, payload) => publisher.publishSystem(audience, topic, payload),
  };
}
