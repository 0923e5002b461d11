import type { Viewer } from '../auth/viewer.js';
import type { CatalogService } from '../catalog/catalog-service.js';
import type { PublishService } from '../publish/publish-service.js';
import type { SubscriptionSigner } from '../auth/subscription-signer.js';
import type { Store } from '../store/store.js';
import type { SubscribeService } from '../subscribe/subscribe-service.js';
import type { SessionControl } from '../sessions/session-control.js';

/** What every resolver may use; built per operation from the verified Viewer and the app's services. */
export interface HeraldContext {
  readonly viewer: Viewer;
  readonly services: Services;
  /** An SSE request's Last-Event-ID header (a reconnecting EventSource): resumes like `after`. */
  readonly lastEventId?: string;
  /** The graphql-ws connection the operation came on; absent over HTTP and SSE. */
  readonly connection?: ConnectionControl;
}

/** What an operation may do to the graphql-ws connection it came on. */
export interface ConnectionControl {
  /**
   * renewConnection: verifies `token` and, if it may replace the connection's credential
   * (assertRenewal), makes it the connection's from now on; resolves to the new Viewer.
   */
  renew(token: string): Promise<Viewer>;
}

/** The app's long-lived parts, made once by createApp and shared by every surface. */
export interface Services {
  readonly store: Store;
  readonly publisher: PublishService;
  /** Creating and removing audiences and topics, with their lifecycle events (every surface goes through it). */
  readonly catalog: CatalogService;
  /** The one subscribe path: authorisation, registration, per-connection caps, per-subscriber streams. */
  readonly subscriptions: SubscribeService;
  /** Subscriptions across every gateway instance that a message to `topic` (null: a broadcast) would reach. */
  readonly countSubscribers: (audience: string, topic: string | null) => Promise<number>;
  readonly signer: SubscriptionSigner;
  /** Revoking tokens, disconnecting subjects and counting connections across instances. */
  readonly sessions: SessionControl;
}
