/**
 * Visits every member once per `intervalMs`, spread over the interval: members are dealt
 * round-robin into slices, and one timer visits one slice per tick (about every SLICE_MS).
 *
 * Why not one pass over everyone per interval: the pass stalls the event loop for its whole length
 * (at 10k sockets, 10k pings written and then 10k pongs to read), and every delivery waiting behind
 * it takes the stall as latency. The benchmark measured p99 going from about 10 ms to about 200 ms
 * at 10k subscribers. Why not a timer per member: at 10k sockets the timers alone weigh.
 */
export interface StaggeredSweep<T> {
  /** Visits `member` from its slice's next turn on. */
  add(member: T): void;
  delete(member: T): void;
  stop(): void;
}

/** About how often the timer ticks; each tick visits 1/slices of the members. */
const SLICE_MS = 100;

export function startStaggeredSweep<T>(intervalMs: number, visit: (member: T) => void): StaggeredSweep<T> {
  const slices = Array.from({ length: Math.max(1, Math.round(intervalMs / SLICE_MS)) }, () => new Set<T>());
  const sliceOf = new Map<T, Set<T>>();
  let dealt = 0;
  let turn = 0;
  const timer = setInterval(() => {
    const slice = slices[turn]!;
    turn = (turn + 1) % slices.length;
    for (const member of slice) visit(member);
  }, intervalMs / slices.length);
  timer.unref();
  return {
    add(member) {
      const slice = slices[dealt++ % slices.length]!;
      slice.add(member);
      sliceOf.set(member, slice);
    },
    delete(member) {
      sliceOf.get(member)?.delete(member);
      sliceOf.delete(member);
    },
    stop: () => clearInterval(timer),
  };
}
