import fc from 'fast-check';

/**
 * How the fuzz suite runs a property: a fixed seed (the same inputs every run, so CI is stable),
 * then a random one (new inputs each run). A failure names its seed; `FUZZ_SEED=<seed>` replays it
 * alone with the fixed seed's run count.
 */

/** The fixed seed every run starts with. */
export const FIXED_SEED = 20_160_416;

const replaySeed = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED);
if (replaySeed !== undefined && !Number.isSafeInteger(replaySeed)) throw new Error(`FUZZ_SEED must be an integer, got ${process.env.FUZZ_SEED}`);

/** The seeds of one run, each with the share of the runs it gets. */
export function fuzzSeeds(): ReadonlyArray<{ readonly seed: number; readonly share: number }> {
  if (replaySeed !== undefined) return [{ seed: replaySeed, share: 1 }];
  return [
    { seed: FIXED_SEED, share: 0.75 },
    { seed: Math.floor(Math.random() * 0x7fffffff), share: 0.25 },
  ];
}

/** Counts inputs per surface and prints one line per file. */
export class FuzzTally {
  private readonly counts = new Map<string, number>();
  private readonly seeds = new Set<number>();
  private readonly startedAt = Date.now();

  constructor(readonly file: string) {}

  add(surface: string, inputs: number): void {
    this.counts.set(surface, (this.counts.get(surface) ?? 0) + inputs);
  }

  count(surface: string): number {
    return this.counts.get(surface) ?? 0;
  }

  seed(seed: number): void {
    this.seeds.add(seed);
  }

  summary(): string {
    const parts = [...this.counts].map(([surface, inputs]) => `${surface} ${inputs}`);
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    return `fuzz ${this.file}: ${parts.join(', ')} inputs; seeds ${[...this.seeds].join(', ')}; ${seconds} s`;
  }
}

/** How many inputs one run sent: a count for the run's surface, or counts per surface (a batch that mixes several). */
export type InputCount = number | Readonly<Record<string, number>>;

/**
 * fc.assert over every seed of this run. `property` returns how many inputs it sent (a batch may
 * hold several); they are added to `surface` in `tally` (or, given per surface, to each). A failure
 * is rethrown naming its seed.
 */
export async function fuzz<T>(
  tally: FuzzTally,
  surface: string,
  arbitrary: fc.Arbitrary<T>,
  property: (input: T) => Promise<InputCount>,
  numRuns: number,
): Promise<void> {
  for (const { seed, share } of fuzzSeeds()) {
    tally.seed(seed);
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (input) => {
          const count = await property(input);
          if (typeof count === 'number') tally.add(surface, count);
          else for (const [each, inputs] of Object.entries(count)) tally.add(each, inputs);
        }),
        {
          seed,
          numRuns: Math.max(1, Math.round(numRuns * share)),
          // Shrinking a failure that hangs retries the hang; bound it, and keep the failure.
          plugins: [fc.interruptAfterTimeLimit(60_000, { failOnInterrupt: true })],
        },
      );
    } catch (error) {
      // Counterexamples can be megabytes of text; the seed replays them in full.
      const full = error instanceof Error ? error.message : String(error);
      const message = full.length > 6_000 ? `${full.slice(0, 3_000)}\n…\n${full.slice(-3_000)}` : full;
      throw new Error(`fuzz ${surface} failed with seed ${seed} (replay: FUZZ_SEED=${seed} npx vitest run test/fuzz/)\n${message}`, { cause: error });
    }
  }
}

/**
 * Runs `property` over inputs of a seed of its own before the heap baseline is taken, so JIT code
 * and the gateway's bounded caches are filled. A failure here is a failure like any other; it is
 * not shrunk (a property that hangs would be retried for minutes).
 */
export async function warmUp<T>(arbitrary: fc.Arbitrary<T>, property: (input: T) => Promise<unknown>, numRuns: number): Promise<void> {
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (input) => {
        await property(input);
      }),
      { seed: 1, numRuns, endOnFailure: true },
    );
  } catch (error) {
    throw new Error(`fuzz warm-up failed (its seed is 1)\n${error instanceof Error ? error.message.slice(0, 6_000) : String(error)}`, { cause: error });
  }
}

/** Rejects when `promise` has not settled within `ms`: a hang is a failure like any other. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise and what settles it (Promise.withResolvers, which Node 20 lacks). */
export function latch(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Unhandled rejections and uncaught exceptions seen while the suite runs (vitest would report them too, after the fact). */
export function watchUnhandled(): { readonly seen: unknown[]; stop(): void } {
  const seen: unknown[] = [];
  const record = (error: unknown): void => void seen.push(error);
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  return {
    seen,
    stop() {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    },
  };
}
