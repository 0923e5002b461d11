import { HeraldError } from '../errors.js';

/**
 * What one connection holds open, keyed as its protocol names subscriptions (a graphql-ws operation
 * id, a courier or notiflux topic): MAX_SUBSCRIPTIONS_PER_CONNECTION and the cleanup when the
 * connection goes. Every WebSocket surface keeps one, so the cap and the release are one rule.
 */
export interface ConnectionSubscriptions<K> {
  readonly size: number;
  has(key: K): boolean;
  /** Throws RATE_LIMITED unless `key` is held already or the connection has room for one more. */
  assertRoom(key: K): void;
  /**
   * Records what ends `key`'s subscription. After endAll (the connection has gone) it ends `end` at
   * once instead: a subscription that finished authorising after its client left is never kept.
   */
  set(key: K, end: () => void): void;
  /** Ends `key`'s subscription and forgets it; false when there was none. */
  end(key: K): boolean;
  /** Forgets `key` without ending it (it ended by itself). */
  forget(key: K): void;
  /** Ends every subscription; the connection stays open for more. */
  endEach(): void;
  /** Ends every subscription: the connection is closing. Idempotent. */
  endAll(): void;
  /** True once endAll has run. */
  readonly closed: boolean;
}

export function createConnectionSubscriptions<K>(maxSubscriptions: number): ConnectionSubscriptions<K> {
  const open = new Map<K, () => void>();
  let closed = false;
  const endEach = (): void => {
    const ends = [...open.values()];
    open.clear();
    for (const end of ends) end();
  };
  return {
    get size() {
      return open.size;
    },
    has: (key) => open.has(key),
    assertRoom(key) {
      if (open.has(key) || open.size < maxSubscriptions) return;
      throw new HeraldError('RATE_LIMITED', `this connection already has ${maxSubscriptions} subscriptions open (MAX_SUBSCRIPTIONS_PER_CONNECTION)`);
    },
    set(key, end) {
      if (closed) return end();
      open.set(key, end);
    },
    end(key) {
      const end = open.get(key);
      if (end === undefined) return false;
      open.delete(key);
      end();
      return true;
    },
    forget: (key) => void open.delete(key),
    endEach,
    endAll() {
      closed = true;
      endEach();
    },
    get closed() {
      return closed;
    },
  };
}
