import { authorizeSubscribe } from '../../auth/access.js';
import type { Viewer } from '../../auth/viewer.js';
import { assertDeclared } from '../../publish/publish-service.js';
import { assertTopicPattern, isPattern } from '../../topics/topic-name.js';
import type { CompatDeps } from '../surface.js';

/** Checks a `/subscribe <topic> <token>`; resolves with the token's Viewer, or rejects with a HeraldError. */
export type AuthorizeSubscription = (topic: string, token: string) => Promise<Viewer>;

/**
 * The same rules as the GraphQL `topic` subscription: the app's one verifier, the subscribe scope,
 * the token's topics limit (a pattern is accepted when it overlaps the limit, and delivery is filtered
 * to it), REQUIRE_DECLARED_TOPICS for exact names. A token without `aud` (every notiflux token)
 * belongs to DEFAULT_AUDIENCE; one with `aud` subscribes in that audience.
 */
export function createSubscribeAuthorizer(deps: Pick<CompatDeps, 'verifyToken' | 'services'>): AuthorizeSubscription {
  const { verifyToken, services } = deps;
  return async (topic, token) => {
    const viewer = await verifyToken(token);
    assertTopicPattern(topic, 'topic');
    authorizeSubscribe(viewer, topic);
    // Patterns may name topics declared later, so only exact names are checked against declarations.
    if (services.requireDeclaredTopics && !isPattern(topic)) await assertDeclared(services.store, viewer.audience, topic);
    return viewer;
  };
}
