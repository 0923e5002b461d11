import type { Channel } from './bus.js';

/**
 * Redis channel names, all under REDIS_PREFIX so two deployments can share one Redis.
 * The audience is URI-encoded (it can then hold no `:`), which keeps every name unambiguous:
 *   <prefix>:topic:<audience>:<topic>   one exact topic
 *   <prefix>:patterns:<audience>        every topic message of the audience (pattern subscribers)
 *   <prefix>:broadcasts:<audience>      audience-wide broadcasts
 *   <prefix>:control:ask                questions to every instance: counts, session control (every instance listens)
 *   <prefix>:control:reply:<id>         one instance's answers
 */
export function redisChannelName(prefix: string, channel: Channel): string {
  const audience = encodeURIComponent(channel.audience);
  return channel.kind === 'topic' ? `${prefix}:topic:${audience}:${channel.topic}` : `${prefix}:${channel.kind}:${audience}`;
}

/** The channel every instance listens on for control questions (control.ts). */
export const controlRequestChannel = (prefix: string): string => `${prefix}:control:ask`;

/** Where one instance (identified by `instanceId`) receives the answers to its questions. */
export const controlReplyChannel = (prefix: string, instanceId: string): string => `${prefix}:control:reply:${instanceId}`;
