import type { Message } from '../publish/message.js';

/**
 * Carries each published message to every gateway instance exactly once. Instances then fan it
 * out locally (fanout.ts); the bus knows nothing of subscribers. In-process now; Redis for scale-out.
 */
export interface Bus {
  publish(message: Message): Promise<void>;
  /** Registers this instance's receiver; returns the function that removes it. */
  onMessage(listener: (message: Message) => void): () => void;
  close(): Promise<void>;
}

/** The single-instance bus: delivery is a synchronous call, so order is publish order. */
export function createMemoryBus(): Bus {
  const listeners = new Set<(message: Message) => void>();
  return {
    async publish(message) {
      for (const listener of listeners) listener(message);
    },
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
    },
  };
}
