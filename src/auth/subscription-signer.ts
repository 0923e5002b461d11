import { HeraldError } from '../errors.js';
import { assertTopicPattern } from '../topics/topic-name.js';
import { patternWithin } from '../topics/topic-pattern.js';
import { requireScope } from './access.js';
import { mintToken, type MintedToken } from './mint-token.js';
import { SIGNED_SUBSCRIPTION_ISSUER } from './verify-token.js';
import type { Viewer } from './viewer.js';

export const MAX_SIGNED_TTL_SECONDS = 3600;

export interface SignedSubscription extends MintedToken {
  /** ws(s)://<public host>/graphql?token=…, usable as is by a graphql-ws client. */
  readonly url: string;
}

export interface SubscriptionSigner {
  /**
   * A subscribe-only token for the caller's audience, limited to `topics` (default: the caller's own
   * limit), which must lie within the caller's limit. Needs MANAGE.
   */
  sign(viewer: Viewer, topics: readonly string[] | undefined, ttlSeconds: number, path?: string): Promise<SignedSubscription>;
}

export function createSubscriptionSigner(signingSecret: string, publicBaseUrl: () => string): SubscriptionSigner {
  return {
    async sign(viewer, requested, ttlSeconds, path = '/graphql') {
      requireScope(viewer, 'MANAGE');
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_SIGNED_TTL_SECONDS) {
        throw new HeraldError('BAD_USER_INPUT', `ttlSeconds must be an integer from 1 to ${MAX_SIGNED_TTL_SECONDS}`);
      }
      const topics = requested ?? viewer.topics;
      for (const topic of requested ?? []) {
        assertTopicPattern(topic, 'topics entry');
        if (viewer.topics !== undefined && !patternWithin(topic, viewer.topics)) {
          throw new HeraldError('FORBIDDEN', `"${topic}" is wider than the token's own topics`);
        }
      }
      // A signed token never outlives the credential that made it.
      const ttl = viewer.expiresAt === undefined ? ttlSeconds : Math.min(ttlSeconds, Math.floor((viewer.expiresAt.getTime() - Date.now()) / 1000));
      if (ttl < 1) throw new HeraldError('UNAUTHENTICATED', 'token expires too soon to sign for others');
      const minted = await mintToken(
        { secret: signingSecret },
        {
          subject: viewer.subject,
          audience: viewer.audience,
          scopes: ['subscribe'],
          topics,
          issuer: SIGNED_SUBSCRIPTION_ISSUER,
          ttlSeconds: ttl,
        },
      );
      const url = new URL(`${publicBaseUrl()}${path}`);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', minted.token);
      return { ...minted, url: url.toString() };
    },
  };
}
