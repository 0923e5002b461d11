import { EventEmitter } from 'node:events';
import type { Message } from '../publish/message.js';
import { compilePattern } from '../topics/topic-pattern.js';
import type { Bus } from './bus.js';

/** What a subscription listens to inside its audience. */
export type Target = { readonly kind: 'topic'; readonly name: string } | { readonly kind: 'broadcasts' };

export interface Subscriber {
  /**
   * Called synchronously for each matching message; must not block. One that throws is reported to
   * the registry's onSubscriberError and skipped: the others still get the message, and the publish
   * that handed it to the bus (in-process, inside the publish itself) is not failed by it.
   */
  deliver(message: Message): void;
  /** Extra per-subscriber rule (a token's topics limit); messages it refuses are skipped. */
  readonly accepts?: (topic: string) => boolean;
  /** Called by closeAll (shutdown): end the subscription. */
  close?(): void;
  /** How many subscriptions this entry stands for (a shared group stands for all its members). Default 1. */
  readonly members?: () => number;
}

/**
 * The local registry of open subscriptions, keyed audience → topic or pattern → subscribers.
 * Every surface registers here. The registry listens on the bus for exactly what it holds: a
 * topic's channel while it has exact subscribers for it, an audience's pattern channel while it has
 * pattern subscribers there, its broadcast channel likewise; and stops listening when the last
 * leaves. Each bus delivery then reaches its subscribers synchronously.
 *
 * Exact names are a map lookup. Patterns are bucketed by their first `/` segment when that
 * segment is literal, so a message only tests the patterns that could match it (its own
 * first segment's bucket plus the patterns that start with a wildcard), and each distinct
 * pattern is tested once however many subscribe to it.
 */
export interface Fanout {
  add(audience: string, target: Target, subscriber: Subscriber): () => void;
  /** Open subscriptions in this instance that a message to `topic` would reach (null: a broadcast). */
  readonly subscriberCount: (audience: string, topic: string | null) => number;
  /** Entries registered in this instance, all audiences (a shared group counts once). */
  readonly size: number;
  /** Fires after every add and remove, and on membersChanged (metrics, tests that wait for a subscriber). */
  onChange(listener: () => void): () => void;
  /** A registered entry's `members()` changed (someone joined or left a shared group). */
  membersChanged(): void;
  /** Ends every open subscription (graceful shutdown). */
  closeAll(): void;
}

interface PatternEntry {
  readonly regex: RegExp;
  readonly subscribers: Set<Subscriber>;
}

/** Subscribers of one bus channel, and the function that stops listening to it. */
interface Listening<T> {
  readonly members: T;
  readonly stop: () => void;
}

interface AudienceIndex {
  readonly exact: Map<string, Listening<Set<Subscriber>>>;
  /** first literal segment (WILDCARD_BUCKET for patterns whose first segment has a wildcard) → pattern → entry */
  readonly patterns: Map<string, Map<string, PatternEntry>>;
  patternCount: number;
  stopPatterns: (() => void) | undefined;
  readonly broadcasts: Set<Subscriber>;
  stopBroadcasts: (() => void) | undefined;
  size: number;
}

const WILDCARD_BUCKET = '\u0000*';

function bucketOf(pattern: string): string {
  const first = pattern.split('/', 1)[0]!;
  // `**` may span the separator, so a pattern whose first segment has a wildcard can match any topic.
  return first.includes('*') ? WILDCARD_BUCKET : first;
}

const firstSegment = (topic: string): string => topic.split('/', 1)[0]!;

/** Told of a subscriber that threw while taking a message (a defect: log it where an operator sees it). */
export type SubscriberErrorHandler = (error: unknown, message: Message) => void;

/**
 * `onReceived` sees each message once per channel this instance listens on, before its subscribers
 * (metrics: publish→receive lag).
 */
export function createFanout(bus: Bus, onSubscriberError: SubscriberErrorHandler, onReceived: (message: Message) => void = () => {}): Fanout {
  const audiences = new Map<string, AudienceIndex>();
  const events = new EventEmitter().setMaxListeners(0);
  let size = 0;

  const indexOf = (audience: string): AudienceIndex => {
    let index = audiences.get(audience);
    if (index === undefined) {
      index = { exact: new Map(), patterns: new Map(), patternCount: 0, stopPatterns: undefined, broadcasts: new Set(), stopBroadcasts: undefined, size: 0 };
      audiences.set(audience, index);
    }
    return index;
  };

  const weight = (subscribers: Iterable<Subscriber>): number => {
    let total = 0;
    for (const subscriber of subscribers) total += subscriber.members?.() ?? 1;
    return total;
  };

  const deliverTo = (subscriber: Subscriber, message: Message, topic: string | null): void => {
    try {
      if (topic === null || subscriber.accepts === undefined || subscriber.accepts(topic)) subscriber.deliver(message);
    } catch (error) {
      onSubscriberError(error, message);
    }
  };

  const deliver = (subscribers: Iterable<Subscriber>, message: Message, topic: string | null): void => {
    for (const subscriber of subscribers) deliverTo(subscriber, message, topic);
  };

  /** Pattern subscribers whose pattern matches the message's topic; only the buckets that could match are tested. */
  const dispatchPatterns = (index: AudienceIndex, message: Message): void => {
    const topic = message.topic;
    if (topic === null) return;
    for (const bucketKey of [firstSegment(topic), WILDCARD_BUCKET]) {
      const bucket = index.patterns.get(bucketKey);
      if (bucket === undefined) continue;
      for (const entry of bucket.values()) {
        if (entry.regex.test(topic)) deliver(entry.subscribers, message, topic);
      }
    }
  };

  const changed = (): void => void events.emit('change');

  return {
    add(audience, target, subscriber) {
      const index = indexOf(audience);
      let remove: () => void;
      if (target.kind === 'broadcasts') {
        if (index.broadcasts.size === 0) {
          index.stopBroadcasts = bus.listen({ kind: 'broadcasts', audience }, (message) => {
            onReceived(message);
            deliver(index.broadcasts, message, null);
          });
        }
        index.broadcasts.add(subscriber);
        remove = () => {
          index.broadcasts.delete(subscriber);
          if (index.broadcasts.size === 0) index.stopBroadcasts?.();
        };
      } else if (!target.name.includes('*')) {
        const topic = target.name;
        let entry = index.exact.get(topic);
        if (entry === undefined) {
          const members = new Set<Subscriber>();
          const stop = bus.listen({ kind: 'topic', audience, topic }, (message) => {
            onReceived(message);
            deliver(members, message, topic);
          });
          index.exact.set(topic, (entry = { members, stop }));
        }
        const own = entry;
        own.members.add(subscriber);
        remove = () => {
          own.members.delete(subscriber);
          if (own.members.size > 0 || index.exact.get(topic) !== own) return;
          index.exact.delete(topic);
          own.stop();
        };
      } else {
        if (index.patternCount === 0) {
          index.stopPatterns = bus.listen({ kind: 'patterns', audience }, (message) => {
            onReceived(message);
            dispatchPatterns(index, message);
          });
        }
        index.patternCount++;
        const bucketKey = bucketOf(target.name);
        let bucket = index.patterns.get(bucketKey);
        if (bucket === undefined) index.patterns.set(bucketKey, (bucket = new Map<string, PatternEntry>()));
        let entry = bucket.get(target.name);
        if (entry === undefined) bucket.set(target.name, (entry = { regex: compilePattern(target.name), subscribers: new Set() }));
        entry.subscribers.add(subscriber);
        const owner = bucket;
        const own = entry;
        remove = () => {
          own.subscribers.delete(subscriber);
          if (own.subscribers.size === 0 && owner.get(target.name) === own) owner.delete(target.name);
          if (owner.size === 0 && index.patterns.get(bucketKey) === owner) index.patterns.delete(bucketKey);
          if (--index.patternCount === 0) index.stopPatterns?.();
        };
      }
      index.size++;
      size++;
      changed();
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        remove();
        index.size--;
        size--;
        if (index.size === 0 && audiences.get(audience) === index) audiences.delete(audience);
        changed();
      };
    },

    subscriberCount(audience, topic) {
      const index = audiences.get(audience);
      if (index === undefined) return 0;
      if (topic === null) return weight(index.broadcasts);
      let count = weight(index.exact.get(topic)?.members ?? []);
      for (const bucketKey of [firstSegment(topic), WILDCARD_BUCKET]) {
        for (const entry of index.patterns.get(bucketKey)?.values() ?? []) {
          if (entry.regex.test(topic)) count += weight(entry.subscribers);
        }
      }
      return count;
    },

    get size() {
      return size;
    },

    closeAll() {
      const all: Subscriber[] = [];
      for (const index of audiences.values()) {
        for (const entry of index.exact.values()) all.push(...entry.members);
        for (const bucket of index.patterns.values()) for (const entry of bucket.values()) all.push(...entry.subscribers);
        all.push(...index.broadcasts);
      }
      for (const subscriber of all) subscriber.close?.();
    },

    membersChanged: changed,

    onChange(listener) {
      events.on('change', listener);
      return () => events.off('change', listener);
    },
  };
}
