import { describe, expect, it } from 'vitest';
import { heapBaseline } from './gateway.js';
import { HEAP_TOLERANCE_BYTES } from './heap.js';

describe('the fuzz suite heap check', () => {
  it('fails when memory allocated after the baseline is still held', async () => {
    const baseline = await heapBaseline();
    // Twice the tolerance in small objects, the way leaked subscriptions would hold it.
    const held = Array.from({ length: (2 * HEAP_TOLERANCE_BYTES) / 64 }, (_, i) => ({ i, text: `leak-${i}` }));
    await expect(baseline.assertReturned('held')).rejects.toThrow(/heap grew/);
    held.length = 0;
    await baseline.assertReturned('released');
  });
});
