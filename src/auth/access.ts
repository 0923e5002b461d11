import { HeraldError } from '../errors.js';
import { assertTopicName, isPattern } from '../topics/topic-name.js';
import { patternsOverlap } from '../topics/topic-pattern.js';
import type { Scope } from './scopes.js';
import { hasScope, type Viewer } from './viewer.js';

/**
 * What a Viewer may do. Every surface (GraphQL, SSE, courier, notiflux) asks here, so a rule
 * changes in one place. Each check throws FORBIDDEN with the reason, or returns.
 */

export function requireScope(viewer: Viewer, scope: Scope): void {
  if (!hasScope(viewer, scope)) throw new HeraldError('FORBIDDEN', `this needs the ${scope.toLowerCase()} scope`);
}

/**
 * A subscription to a name or pattern. A pattern wider than the token's topics limit is allowed
 * (delivery filters it to what the limit allows); one the limit excludes entirely is refused.
 */
export function authorizeSubscribe(viewer: Viewer, nameOrPattern: string): void {
  requireScope(viewer, 'SUBSCRIBE');
  if (viewer.topics === undefined) return;
  const allowed = isPattern(nameOrPattern) ? viewer.topics.some((limit) => patternsOverlap(limit, nameOrPattern)) : viewer.allowsTopic(nameOrPattern);
  if (!allowed) throw new HeraldError('FORBIDDEN', `the token's topics do not include "${nameOrPattern}"`);
}

/**
 * Publishing to a topic: PUBLISH first (a caller who may not publish learns nothing about the topic
 * it named, as when Pothos checked the scope), then a valid name, then the topics limit.
 */
export function authorizePublish(viewer: Viewer, topic: string): void {
  requireScope(viewer, 'PUBLISH');
  assertTopicName(topic);
  if (!viewer.allowsTopic(topic)) throw new HeraldError('FORBIDDEN', `the token's topics do not include "${topic}"`);
}

/** Audience-wide broadcast: publish, and no topics limit (a limited token cannot reach every topic). */
export function authorizeBroadcast(viewer: Viewer): void {
  requireScope(viewer, 'PUBLISH');
  if (viewer.topics !== undefined) throw new HeraldError('FORBIDDEN', 'broadcast needs a token without a topics limit');
}

/** Declaring or removing a topic: MANAGE, a valid name, and a topics limit (if any) that covers it. */
export function authorizeManageTopic(viewer: Viewer, name: string): void {
  requireScope(viewer, 'MANAGE');
  assertTopicName(name, 'name');
  if (!viewer.allowsTopic(name)) throw new HeraldError('FORBIDDEN', `the token's topics do not include "${name}"`);
}
