import { streamTag } from './redis-history.js';
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

/**
 * The control channels on a cluster: shard channels of one hash tag, so every instance subscribes on
 * the one master whose SPUBLISH then counts them all (redis-control.ts).
 */
export const clusterControlRequestChannel = (prefix: string): string => `${prefix}:{control}:ask`;
export const clusterControlReplyChannel = (prefix: string, instanceId: string): string => `${prefix}:{control}:reply:${instanceId}`;

/**
 * Shard channel names, for Redis Cluster's sharded pub/sub (SSUBSCRIBE, SPUBLISH): each carries a
 * hash tag, so it lives on one shard. A topic's channel and an audience's broadcasts channel share
 * their stream's tag (redis-history.ts), so the append script publishes on the shard that keeps the
 * history; an audience's patterns channel (every topic message of the audience) is on the
 * audience's shard, beside its broadcasts:
 *   <prefix>:{<audience>:<topic>}:topic   <prefix>:{<audience>}:broadcasts   <prefix>:{<audience>}:patterns
 */
export function shardChannelName(prefix: string, channel: Channel): string {
  const tag = streamTag(prefix, { audience: channel.audience, topic: channel.kind === 'topic' ? channel.topic : null });
  return `${tag}:${channel.kind}`;
}
