import type { Channel } from './bus.js';

/**
 * Redis channel names, all under REDIS_PREFIX so two deployments can share one Redis.
 * The audience is URI-encoded (it can then hold no `:`), which keeps every name unambiguous:
 *   <prefix>:topic:<audience>:<topic>   one exact topic
 *   <prefix>:patterns:<audience>        every topic message of the audience (pattern subscribers)
 *   <prefix>:broadcasts:<audience>      audience-wide broadcasts
 *   <prefix>:control:count              subscriber-count questions (every instance listens)
 *   <prefix>:control:count-reply:<id>   one instance's answers
 */
export function redisChannelName(prefix: string, channel: Channel): string {
  const audience = encodeURIComponent(channel.audience);
  return channel.kind === 'topic' ? `${prefix}:topic:${audience}:${channel.topic}` : `${prefix}:${channel.kind}:${audience}`;
}

/** The channel every instance listens on for subscriber-count questions. */
export const countRequestChannel = (prefix: string): string => `${prefix}:control:count`;

/** Where one instance (identified by `instanceId`) receives the answers to its questions. */
export const countReplyChannel = (prefix: string, instanceId: string): string => `${prefix}:control:count-reply:${instanceId}`;
