import { cursorOf, type Cursor } from '../history/cursor.js';
import type { Message } from '../publish/message.js';

/** Topics whose order a pattern channel remembers; past it the least recently seen is forgotten. */
export const REMEMBERED_TOPICS = 10_000;

/** How long a gap may close by itself (the other half of a swap arriving) before it is read from history. */
export const GAP_WAIT_MS = 20;

interface TopicState {
  /** The offset the topic was first seen at (lowered by an older one arriving after it): nothing below it was delivered here. */
  floor: Cursor;
  last: Cursor;
  /** Arrived after a gap, waiting for it to close or be read from history; oldest first. */
  held: Message[] | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The gap is being read from history: what arrives meanwhile waits for it. */
  filling: boolean;
}

/**
 * Puts a pattern channel's messages back in each topic's order, once each, without gaps. On one
 * Redis the append script publishes the pattern channel itself, so it arrives in order already. On
 * a cluster the pattern channel lives on the audience's shard, and each instance SPUBLISHes it once
 * its topic's script returned: two instances publishing to one topic at once can land there
 * swapped, and one whose SPUBLISH failed never lands. So, per topic: the next offset is delivered;
 * one already passed is dropped; after a gap, what comes next waits until the gap closes by itself
 * (a swap: its other half arrives a moment later) or, after GAP_WAIT_MS, the missing offsets are read
 * from the topic's history.
 *
 * A topic not seen before (or forgotten: only the most recent REMEMBERED_TOPICS are kept, so an
 * audience of a million topics costs a bounded map) is delivered as it comes; a message of it older
 * than the first one seen was never delivered here (the channel carries each message once), so it
 * is delivered too, late rather than never: the channel's first moments are the only place a topic
 * can go out of order.
 */
export function createTopicOrder(options: {
  readonly deliver: (message: Message) => void;
  /** The topic's messages after `after`, oldest first; throws when they cannot be read. */
  readonly missing: (topic: string, after: Cursor) => Promise<readonly Message[]>;
  /** Told when a gap could not be filled: its subscribers missed messages. */
  readonly unfilled: (topic: string, error: unknown) => void;
  readonly maxTopics?: number;
}): (message: Message) => void {
  const { deliver, missing, unfilled, maxTopics = REMEMBERED_TOPICS } = options;
  const topics = new Map<string, TopicState>();

  /** Delivers `message` when it comes after what the topic delivered last. */
  const deliverNext = (state: TopicState, message: Message): void => {
    const cursor = cursorOf(message.id);
    if (cursor.epoch === state.last.epoch && cursor.offset <= state.last.offset) return;
    state.last = cursor;
    deliver(message);
  };

  /** Delivers the held messages that now follow on; true when none is left waiting. */
  const drain = (state: TopicState): boolean => {
    const held = state.held!;
    while (held.length > 0) {
      const next = cursorOf(held[0]!.id);
      if (next.epoch === state.last.epoch && next.offset > state.last.offset + 1) return false;
      deliverNext(state, held.shift()!);
    }
    clearTimeout(state.timer);
    state.held = undefined;
    state.timer = undefined;
    return true;
  };

  const fillGap = async (topic: string, state: TopicState): Promise<void> => {
    state.filling = true;
    try {
      for (const message of await missing(topic, state.last)) deliverNext(state, message);
    } catch (error) {
      unfilled(topic, error);
    }
    // What history could not give is given up: everything held goes out, in order.
    for (const message of state.held ?? []) deliverNext(state, message);
    state.held = undefined;
    state.timer = undefined;
    state.filling = false;
  };

  const hold = (topic: string, state: TopicState, message: Message): void => {
    const held = (state.held ??= []);
    held.push(message);
    held.sort((a, b) => (a.id < b.id ? -1 : 1));
    if (state.filling || drain(state)) return;
    state.timer ??= setTimeout(() => void fillGap(topic, state), GAP_WAIT_MS).unref();
  };

  return (message) => {
    // Pattern channels carry topic messages only.
    const topic = message.topic!;
    const cursor = cursorOf(message.id);
    const state = topics.get(topic);
    if (state === undefined) {
      topics.set(topic, { floor: cursor, last: cursor, held: undefined, timer: undefined, filling: false });
      if (topics.size > maxTopics) topics.delete(topics.keys().next().value!);
      deliver(message);
      return;
    }
    // Most recently seen last, so the first key is the one to forget.
    topics.delete(topic);
    topics.set(topic, state);
    if (cursor.epoch === state.floor.epoch && cursor.offset < state.floor.offset) {
      state.floor = cursor;
      deliver(message);
    } else if (state.held !== undefined || (cursor.epoch === state.last.epoch && cursor.offset > state.last.offset + 1)) {
      hold(topic, state, message);
    } else {
      deliverNext(state, message);
    }
  };
}
