import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { historyKeys } from '../src/bus/redis-history.js';

/**
 * The append script touches a stream's two keys; on Redis Cluster both must hash to one slot, so
 * the keys share one hash tag, whatever the prefix, audience or topic holds (braces included).
 */
describe('history keys on Redis Cluster', () => {
  it('put a stream’s meta and history in one slot, for topics and broadcasts', () => {
    const prefixes = ['herald', 'team.a:herald', 'x{y', 'x{y}z'];
    const audiences = ['acme', 'tenant with spaces', 'a:b', '{weird}'];
    const topics = [null, 'orders', 'orders/42', 'a}b', '{x}', 'é/ü/**not-a-pattern'];
    for (const prefix of prefixes) {
      for (const audience of audiences) {
        for (const topic of topics) {
          const [meta, history] = historyKeys(prefix, { audience, topic });
          expect(calculateSlot(meta), `${meta} / ${history}`).toBe(calculateSlot(history));
          expect(meta).not.toBe(history);
        }
      }
    }
  });

  it('spread topics over slots (the tag is the stream, not the prefix or the audience alone)', () => {
    const slots = new Set(Array.from({ length: 200 }, (_, n) => calculateSlot(historyKeys('herald', { audience: 'acme', topic: `orders/${n}` })[0])));
    expect(slots.size).toBeGreaterThan(150);
  });
});
