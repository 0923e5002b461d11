import { topicNameProblem } from '../../topics/topic-name.js';
import { CourierError } from './errors.js';
import { isJsonObject } from './http-json.js';

/**
 * courier's `{"action", "topic", "message"}` object, as POST /v1/hook bodies and WebSocket client
 * frames carry it. One reader for both, so the same mistake gets the same code on either:
 * an unknown action, a missing topic or a message that is not a JSON object is EHOOK_INVALID (422);
 * a topic that is not a valid name (or, to subscribe, pattern) is ETOPIC_INVALID (422).
 */
export type CourierAction =
  | { readonly action: 'subscribe' | 'unsubscribe'; readonly topic: string }
  | { readonly action: 'publish'; readonly topic: string; readonly message: Record<string, unknown> }
  | { readonly action: 'broadcast'; readonly message: Record<string, unknown> };

export type ActionName = CourierAction['action'];

/** POST /v1/hook. */
export const HOOK_ACTIONS: readonly ActionName[] = ['publish', 'broadcast'];
/** WebSocket client frames. */
export const FRAME_ACTIONS: readonly ActionName[] = ['subscribe', 'unsubscribe', 'publish', 'broadcast'];

const invalid = (message: string): CourierError => new CourierError(422, 'EHOOK_INVALID', message);

export function readAction(body: Record<string, unknown>, allowed: readonly ActionName[]): CourierAction {
  const action = body.action;
  if (typeof action !== 'string' || !(allowed as readonly string[]).includes(action)) {
    throw invalid(`action must be one of ${allowed.join(', ')}`);
  }
  const name = action as ActionName;
  if (name === 'broadcast') return { action: name, message: readMessage(body.message) };
  // Subscriptions take patterns (`orders/*`); publishing needs one concrete topic.
  const topic = readTopic(body.topic, name, name === 'subscribe' || name === 'unsubscribe');
  if (name === 'publish') return { action: name, topic, message: readMessage(body.message) };
  return { action: name, topic };
}

function readTopic(value: unknown, action: ActionName, allowPatterns: boolean): string {
  if (typeof value !== 'string' || value === '') throw invalid(`topic is required to ${action}`);
  const problem = topicNameProblem(value, allowPatterns);
  if (problem !== undefined) throw new CourierError(422, 'ETOPIC_INVALID', `topic ${JSON.stringify(truncate(value))} ${problem}`);
  return value;
}

function readMessage(value: unknown): Record<string, unknown> {
  if (!isJsonObject(value)) throw invalid('message must be a JSON object');
  return value;
}

const truncate = (value: string): string => (value.length > 64 ? `${value.slice(0, 61)}...` : value);
