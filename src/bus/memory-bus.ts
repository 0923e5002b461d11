import { DEFAULT_HISTORY, keptAfter, type HistoryOptions } from '../history/history.js';
import { createMemoryHistory, type MemoryHistory } from '../history/memory-history.js';
import { channelsOf, type Bus, type BusListener, type Channel } from './bus.js';
import type { ControlAnswer } from './control.js';

/**
 * Listeners by channel: kind → audience → topic ('' for the audience-wide kinds). Nested maps
 * rather than one map keyed by a string joined from the channel: a publish then looks up the
 * audience and topic strings the message already holds (whose hashes V8 keeps) instead of
 * building and hashing two new keys per message.
 */
type Registry = Map<Channel['kind'], Map<string, Map<string, Set<BusListener>>>>;

const topicOf = (channel: Channel): string => (channel.kind === 'topic' ? channel.topic : '');

function listenersOf(registry: Registry, kind: Channel['kind'], audience: string, topic: string): Set<BusListener> | undefined {
  return registry.get(kind)?.get(audience)?.get(topic);
}

export interface MemoryBus extends Bus {
  /** Its history, for tests that count what it holds. */
  readonly kept: Pick<MemoryHistory, 'stats' | 'sweep'>;
}

/** The single-instance bus: delivery is a synchronous call, so order is publish order; history lives in memory. */
export function createMemoryBus(options: HistoryOptions & { readonly now?: () => number } = DEFAULT_HISTORY): MemoryBus {
  const registry: Registry = new Map();
  const history = createMemoryHistory(options);
  let local: ControlAnswer = () => 0;
  return {
    kept: history,
    async publish(draft) {
      const message = history.append(draft);
      for (const channel of channelsOf(message)) {
        const listeners = listenersOf(registry, channel.kind, channel.audience, topicOf(channel));
        if (listeners !== undefined) for (const listener of listeners) listener(message);
      }
      return message;
    },
    async history(stream, cursor, limit) {
      return keptAfter(history.read(stream, cursor, limit), cursor, options.size > 0);
    },
    async head(stream) {
      return options.size > 0 ? history.head(stream) : undefined;
    },
    // Delivery is a synchronous call: a listener hears everything published once listen returns.
    listening: async () => {},
    listen(channel, listener) {
      const { kind, audience } = channel;
      const topic = topicOf(channel);
      let byAudience = registry.get(kind);
      if (byAudience === undefined) registry.set(kind, (byAudience = new Map<string, Map<string, Set<BusListener>>>()));
      let byTopic = byAudience.get(audience);
      if (byTopic === undefined) byAudience.set(audience, (byTopic = new Map<string, Set<BusListener>>()));
      let set = byTopic.get(topic);
      if (set === undefined) byTopic.set(topic, (set = new Set()));
      // A wrapper, so the same function listening twice is two listeners with two stop functions.
      const entry: BusListener = (message) => listener(message);
      set.add(entry);
      const own = set;
      return () => {
        own.delete(entry);
        if (own.size > 0 || listenersOf(registry, kind, audience, topic) !== own) return;
        byTopic.delete(topic);
        if (byTopic.size === 0 && byAudience.get(audience) === byTopic) byAudience.delete(audience);
      };
    },
    answerWith(answer) {
      local = answer;
    },
    // One instance: its own answer is everyone's.
    ask: async (question) => local(question),
    onReconnect: () => () => {},
    assertAvailable() {},
    async close() {
      registry.clear();
      history.close();
    },
  };
}
