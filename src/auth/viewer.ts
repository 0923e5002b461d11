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
  /** The token's `jti`: what revokeTokens(jti:) names. */
  readonly tokenId: string | undefined;
  /** The token's `iat`: revokeTokens(subject:, issuedBefore:) covers tokens issued before its time. */
  readonly issuedAt: Date | undefined;
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
    tokenId: typeof claims.jti === 'string' && claims.jti !== '' ? claims.jti : undefined,
    issuedAt: typeof claims.iat === 'number' ? new Date(claims.iat * 1000) : undefined,
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
  if (!Array.isArray(words)) throw new AuthError('invalid', 'token scope must be a space-separated string or an array of words');
  const notWord = words.findIndex((word) => typeof word !== 'string');
  if (notWord !== -1) throw new AuthError('invalid', `token scope[${notWord}] must be a word, got ${typeof words[notWord]}`);
  const parsed = parseScopes(words as string[]);
  if ('problem' in parsed) throw new AuthError('invalid', `token ${parsed.problem}`);
  return parsed.scopes;
}

function readTopics(topics: unknown): string[] | undefined {
  if (topics === undefined || topics === null) return undefined;
  if (!Array.isArray(topics)) throw new AuthError('invalid', 'token topics must be an array of topic names or patterns');
  for (const [index, topic] of topics.entries()) {
    const problem = topicsEntryProblem(topic);
    if (problem !== undefined) throw new AuthError('invalid', `token topics[${index}] ${problem}`);
  }
  return topics as string[];
}

/**
 * Why one entry of a `topics` claim cannot be honoured (`"a b" must be printable characters without
 * whitespace`), or undefined. The gateway and the token CLI decide with this one function.
 */
export function topicsEntryProblem(topic: unknown): string | undefined {
  if (typeof topic !== 'string') return `must be a topic name or pattern, got ${topic === null ? 'null' : typeof topic}`;
  const problem = topicNameProblem(topic, true);
  return problem === undefined ? undefined : `"${topic.length > 64 ? `${topic.slice(0, 61)}...` : topic}" ${problem}`;
}
