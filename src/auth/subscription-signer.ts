import { HeraldError } from '../errors.js';
import { assertTopicPattern } from '../topics/topic-name.js';
import { patternWithin } from '../topics/topic-pattern.js';
import { requireScope } from './access.js';
import { mintToken, type MintedToken } from './mint-token.js';
import { SIGNED_SUBSCRIPTION_ISSUER } from './verify-token.js';
import type { Viewer } from './viewer.js';

export const MAX_SIGNED_TTL_SECONDS = 3600;

/**
 * Most entries in a signed token's `topics` claim. A signed token travels in a URL (`?token=`), and
 * proxies commonly cap a request line or header at 8 KiB: 20 names of 256 ASCII characters still
 * fit. Patterns cover any number of topics in one entry (`orders/*`).
 */
export const MAX_SIGNED_TOPICS = 20;

export interface SignedSubscription extends MintedToken {
  /** ws(s)://<public host>/graphql?token=…, usable as is by a graphql-ws client. */
  readonly url: string;
}

export interface SubscriptionSigner {
  /**
   * A subscribe-only token for the caller's audience, limited to `topics` (default: the caller's own
   * limit), which must lie within the caller's limit and have at most MAX_SIGNED_TOPICS entries
   * (BAD_USER_INPUT past it). Needs MANAGE.
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
      // Duplicates would only lengthen the URL.
      const topics = requested === undefined ? viewer.topics : [...new Set(requested)];
      // Counted before any pattern is checked: proving 10 000 patterns within the caller's limit is work too.
      if (topics !== undefined && topics.length > MAX_SIGNED_TOPICS) {
        const counted = requested === undefined ? `the caller's own token lists ${topics.length}; pass topics` : `got ${topics.length}`;
        throw new HeraldError(
          'BAD_USER_INPUT',
          `a signed token carries at most ${MAX_SIGNED_TOPICS} topics, ${counted} (a pattern such as orders/* covers many)`,
        );
      }
      if (requested !== undefined) {
        for (const topic of topics ?? []) {
          assertTopicPattern(topic, 'topics entry');
          if (viewer.topics !== undefined && !patternWithin(topic, viewer.topics)) {
            throw new HeraldError('FORBIDDEN', `"${topic}" is wider than the token's own topics`);
          }
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
