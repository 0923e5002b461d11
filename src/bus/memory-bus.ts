import type { Bus, BusListener, Channel, LocalCount } from './bus.js';
import { channelsOf } from './bus.js';

/** Map key of a channel; NUL cannot occur in audience or topic names. */
function keyOf(channel: Channel): string {
  return channel.kind === 'topic' ? `t\u0000${channel.audience}\u0000${channel.topic}` : `${channel.kind}\u0000${channel.audience}`;
}

/** The single-instance bus: delivery is a synchronous call, so order is publish order. */
export function createMemoryBus(): Bus {
  const listeners = new Map<string, Set<BusListener>>();
  let local: LocalCount = () => 0;
  return {
    async publish(message) {
      for (const channel of channelsOf(message)) {
        const set = listeners.get(keyOf(channel));
        if (set !== undefined) for (const listener of set) listener(message);
      }
    },
    listen(channel, listener) {
      const key = keyOf(channel);
      let set = listeners.get(key);
      if (set === undefined) listeners.set(key, (set = new Set()));
      // A wrapper, so the same function listening twice is two listeners with two stop functions.
      const entry: BusListener = (message) => listener(message);
      set.add(entry);
      return () => {
        set.delete(entry);
        if (set.size === 0 && listeners.get(key) === set) listeners.delete(key);
      };
    },
    answerCountsWith(count) {
      local = count;
    },
    // One instance: its own count is everyone's.
    countSubscribers: async (audience, topic) => local(audience, topic),
    assertAvailable() {},
    async close() {
      listeners.clear();
    },
  };
}
