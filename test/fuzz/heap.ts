import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8's heap after forced full collections, in this process (the fuzz gateway runs in the test's
 * process). `--expose-gc` can be turned on at run time and `gc` read from a fresh context, so the
 * suite needs no vitest flags; `global.gc` is used when the process already has it.
 */
const collect: () => void = (() => {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Heap used after collections repeated until it stops shrinking (finalizers and weak maps free in rounds). */
export async function settledHeapBytes(): Promise<number> {
  let previous = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 8; round++) {
    // Lets pending socket closes and timers finish between rounds.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    const used = process.memoryUsage().heapUsed;
    if (used >= previous - 64 * 1024) return Math.min(used, previous);
    previous = used;
  }
  return previous;
}

/**
 * Heap growth above a baseline that fails the check. Above the noise of a settled heap (JIT code,
 * the gateway's bounded document caches refilling with other documents) and well below what the
 * connections of one batch hold while they are open.
 */
export const HEAP_TOLERANCE_BYTES = 8 * 1024 * 1024;

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The growth check, apart from the measuring, so a test can show it fails. */
export function heapProblem(baseline: number, after: number, tolerance = HEAP_TOLERANCE_BYTES): string | undefined {
  return after - baseline > tolerance ? `heap grew from ${mb(baseline)} to ${mb(after)} (tolerance ${mb(tolerance)})` : undefined;
}
