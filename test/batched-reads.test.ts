import { describe, expect, it } from 'vitest';
import { createBatchedReads } from '../src/subscribe/batched-reads.js';

/** A read the test finishes by hand, numbered in the order reads started. */
function manualReads() {
  const started: Array<{ n: number; finish: (value: string) => void; fail: (error: Error) => void }> = [];
  const read = (): Promise<string> => new Promise((resolve, reject) => started.push({ n: started.length + 1, finish: resolve, fail: reject }));
  return { started, read };
}

describe('batched history reads', () => {
  it('never answers a request with a read that started before it; one later read answers everyone who waited', async () => {
    const batched = createBatchedReads<string>();
    const { started, read } = manualReads();
    const first = batched('k', read);
    expect(started).toHaveLength(1);
    // Made while read 1 is in flight: they wait for read 2, which starts when read 1 ends.
    const waiting = Array.from({ length: 50 }, () => batched('k', read));
    expect(started).toHaveLength(1);
    started[0]!.finish('read 1');
    await expect(first).resolves.toBe('read 1');
    expect(started).toHaveLength(2);
    started[1]!.finish('read 2');
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['read 2']));
    // Nothing in flight: the next request reads at once.
    const again = batched('k', read);
    expect(started).toHaveLength(3);
    started[2]!.finish('read 3');
    await expect(again).resolves.toBe('read 3');
  });

  it('keeps keys apart and passes a failure to the batch it belongs to only', async () => {
    const batched = createBatchedReads<string>();
    const { started, read } = manualReads();
    const a = batched('a', read);
    const b = batched('b', read);
    expect(started).toHaveLength(2);
    const aLater = batched('a', read);
    started[0]!.fail(new Error('redis went away'));
    await expect(a).rejects.toThrow('redis went away');
    started[1]!.finish('b');
    await expect(b).resolves.toBe('b');
    started[2]!.finish('a again');
    await expect(aLater).resolves.toBe('a again');
  });
});
