import type { AudienceRecord, TopicRecord } from '../store/store.js';

/**
 * Audience and topic rows as JSON, in the camelCase shapes courier's REST API and its lifecycle
 * events carried (and that Herald keeps for both): instants as ISO-8601 strings, a topic's name
 * under `topic`. Herald never soft-deletes an audience, so `deletedAt` is always null; it stays in
 * the shape because courier clients read it.
 */

export interface AudienceJson {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly deletedAt: null;
}

export interface TopicJson {
  readonly id: string;
  readonly topic: string;
  readonly audienceId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const audienceJson = (audience: AudienceRecord): AudienceJson => ({
  id: audience.id,
  name: audience.name,
  createdAt: audience.createdAt.toISOString(),
  updatedAt: audience.updatedAt.toISOString(),
  deletedAt: null,
});

export const topicJson = (topic: TopicRecord): TopicJson => ({
  id: topic.id,
  topic: topic.name,
  audienceId: topic.audienceId,
  createdAt: topic.createdAt.toISOString(),
  updatedAt: topic.updatedAt.toISOString(),
});
