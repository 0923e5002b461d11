import type { JWTPayload } from 'jose';
import { AuthError } from './auth-error.js';
import { compileTopicList } from '../topics/topic-pattern.js';
import { topicNameProblem } from '../topics/topic-name.js';
import { parseScopes, type Scope } from './scopes.js';

/** The caller, as its verified token describes it. The same object on HTTP, WebSocket, SSE and compat surfaces. */
export interface Viewer {
  readonly subject: string | undefined;
  readonly audience: string;
  readonly scopes: readonly Scope[];
  /** Names/patterns the token is limited to; undefined means every topic of the audience. */
  readonly topics: readonly string[] | undefined;
  readonly expiresAt: Date | undefined;
  /** True for tokens minted by signSubscription (subscribe-only whatever their claims say). */
  readonly signed: boolean;
  /** Whether the topics limit allows the concrete topic name (always true without a limit). */
  readonly allowsTopic: (topic: string) => boolean;
}

export interface ViewerDefaults {
  readonly defaultAudience: string;
  readonly defaultScopes: readonly Scope[];
}

/** Claims → Viewer. Throws UNAUTHENTICATED when a claim has a shape Herald cannot honour. */
export function viewerFromClaims(claims: JWTPayload, defaults: ViewerDefaults, signed: boolean): Viewer {
  const audience = readAudience(claims.aud) ?? defaults.defaultAudience;
  const scopes = signed ? (['SUBSCRIBE'] as const) : (readScopes(claims.scope) ?? defaults.defaultScopes);
  const topics = readTopics(claims.topics);
  const allowsTopic = topics === undefined ? () => true : compileTopicList(topics);
  return Object.freeze({
    subject: typeof claims.sub === 'string' ? claims.sub : undefined,
    audience,
    scopes,
    topics,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined,
    signed,
    allowsTopic,
  });
}

export const hasScope = (viewer: Viewer, scope: Scope): boolean => viewer.scopes.includes(scope);

function readAudience(aud: unknown): string | undefined {
  if (aud === undefined) return undefined;
  if (typeof aud === 'string' && aud !== '') return aud;
  if (Array.isArray(aud) && aud.length === 1 && typeof aud[0] === 'string' && aud[0] !== '') return aud[0];
  // Several audiences would make "which tenant is this?" ambiguous; refuse rather than pick one.
  throw new AuthError('invalid', 'token aud must be one audience name');
}

function readScopes(scope: unknown): Scope[] | undefined {
  if (scope === undefined) return undefined;
  const words = typeof scope === 'string' ? scope.split(/\s+/) : scope;
  if (!Array.isArray(words) || !words.every((word) => typeof word === 'string')) {
    throw new AuthError('invalid', 'token scope must be a space-separated string or an array of words');
  }
  const scopes = parseScopes(words);
  if (scopes === undefined) throw new AuthError('invalid', 'token scope has an unknown word');
  return scopes;
}

function readTopics(topics: unknown): string[] | undefined {
  if (topics === undefined || topics === null) return undefined;
  if (!Array.isArray(topics) || !topics.every((topic) => typeof topic === 'string' && topicNameProblem(topic, true) === undefined)) {
    throw new AuthError('invalid', 'token topics must be an array of topic names or patterns');
  }
  return topics as string[];
}
