/** What the harness, the load client and the servers share. */

export const BENCH_SECRET = 'herald-bench-secret-0123456789abcdef';

/**
 * The plain `ws` fan-out baseline, nginx + nchan (the second baseline, a real pub/sub server; see
 * servers/nchan.ts), the Node floor (`--floor`, servers/floor.ts), Herald on its in-process bus, Herald on the Redis bus (`--redis`), and Herald on
 * the cluster bus over the bench's own Redis Cluster (`--redis-cluster N`).
 */
export type ServerKind = 'baseline' | 'nchan' | 'floor' | 'herald' | 'herald-redis' | 'herald-cluster';

/** Every Herald kind speaks GraphQL (graphql-transport-ws subscriptions, the publish mutation). */
export const speaksGraphql = (kind: ServerKind): boolean => kind === 'herald' || kind === 'herald-redis' || kind === 'herald-cluster';

/** The audience of the bench's token: every Herald message of the bench is in it. */
export const BENCH_AUDIENCE = 'bench';

/**
 * The topic of the `index`th message or socket of a phase (round robin). The harness needs it too:
 * on a cluster, which master each topic's messages go to follows from its name.
 */
export const benchTopic = (index: number, topics: number): string => `bench/${index % topics}`;

export interface Scenario {
  readonly name: string;
  /** Subscriber connections (one subscription each). */
  readonly connections: number;
  /** Topics the connections are spread over, evenly. */
  readonly topics: number;
  /** Messages published in the measured phase. */
  readonly messages: number;
  /** Undefined: as fast as possible with `inFlight` publishes outstanding; else deliveries per second. */
  readonly deliveriesPerSecond: number | undefined;
  readonly inFlight: number;
  /**
   * Messages per publish request where the server has a batch publish (Herald's publishMany, the
   * floor's /pub-many); the baselines, which have none, publish one per request as always. Max rate
   * only. Default 1.
   */
  readonly batch?: number;
  /** A reconnect storm (Herald only, see StormSpec) instead of a measured fixed or max-rate phase. */
  readonly storm?: StormSpec;
}

/**
 * A reconnect storm (bench/storm-client.ts): every subscriber is live under a steady publish rate
 * (`deliveriesPerSecond`, spread evenly over the topics), then all sockets are cut at once, and each
 * resubscribes as herald/client does, with `extensions.heraldResume.after` = the last Message.id it
 * received. `messages` is unused: the publishers run for as long as the storm lasts.
 */
export interface StormSpec {
  /** Live traffic before the cut. */
  readonly steadyMs: number;
  /** Live traffic after the last subscriber caught up, before the publishers stop. */
  readonly afterMs: number;
  /** Each subscriber waits a uniform random time in this range between the cut and its first reconnect attempt. */
  readonly reconnectDelayMs: readonly [number, number];
}

/** Milliseconds at three quantiles, over the subscribers that caught up. */
export interface Quantiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** What a storm measured (see bench/storm-client.ts for the definitions). */
export interface StormResult {
  readonly subscribers: number;
  readonly caughtUp: number;
  /** Subscribers that ended with an error frame, ran out of retries or never caught up (the first few errors in `errors`). */
  readonly failed: number;
  readonly errors: readonly string[];
  /** From the cut to the delivery of the subscriber's catch-up target. */
  readonly catchUpFromCutMs: Quantiles;
  /** From the subscriber's first reconnect attempt to the same delivery: Herald's part, without the client's backoff. */
  readonly catchUpFromReconnectMs: Quantiles;
  /** Messages each subscriber had to be replayed: its target minus the last seq it had before the cut. */
  readonly missed: Quantiles;
  /** Sequence gaps over every subscriber, from its first message to the last one published on its topic. */
  readonly lost: number;
  readonly duplicates: number;
  /** Reconnect attempts that failed and were retried (graphql-ws's backoff). */
  readonly retries: number;
  /** Why those attempts failed: the most common reasons, each with its count. */
  readonly retryReasons: readonly string[];
  /** Publishes Herald answered in the whole run (before, during and after the storm), and those it refused or reset. */
  readonly published: number;
  readonly failedPublishes: number;
  readonly delivered: number;
}

export interface LoadJob {
  readonly kind: ServerKind;
  readonly port: number;
  readonly scenario: Scenario;
  /** A token for Herald (subscribe + publish, audience "bench"). */
  readonly token: string;
  /** `--trace`: where to write every measured delivery (see DeliveryTrace). */
  readonly traceFile?: string | undefined;
}

/**
 * `--trace` output, one file per server and run, for reading a latency tail (bench/trace-tail.ts):
 * are the slowest deliveries spread out, or a few stalls; did the client or the server stop.
 * `deliveries` holds four numbers per measured delivery, in arrival order: the message's seq, its
 * send time and its arrival time (ms on the client's wall clock), and the index of the socket it
 * arrived on (socket i listens to topic i mod topics).
 */
export interface DeliveryTrace {
  readonly scenario: Scenario;
  readonly kind: ServerKind;
  readonly deliveries: number[];
}

export interface LoadResult {
  readonly connectSeconds: number;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  /** Publishes the server refused or reset (their deliveries count as lost). */
  readonly failedPublishes: number;
  readonly publishSeconds: number;
  /**
   * Deliveries per second over the slices' summed lengths: a slice lasts from its first publish to
   * its last delivery, or at a fixed rate its scheduled length if that is longer.
   */
  readonly deliveredPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Fixed rate only: times the client froze (sends STALL_MS late or more) and the longest. */
  readonly stalls: { readonly count: number; readonly maxMs: number } | undefined;
  /** The load client's own GC pauses during the measured slices. */
  readonly gc: GcReport;
}

/**
 * What the harness tells a load client: `go` (warm up), then, once it has warmed up, publish the
 * next `messages` of the measured phase and report `slice-done` when they are delivered, or `finish`
 * (send the result).
 */
export type HarnessCommand = { readonly type: 'slice'; readonly messages: number } | { readonly type: 'finish' } | { readonly type: 'go' };

/** GC pauses in a process (a server, the load client) during the measured phase. */
export interface GcReport {
  readonly pauses: number;
  readonly totalMs: number;
  readonly maxMs: number;
}

export function gcReport(pauses: readonly number[]): GcReport {
  return { pauses: pauses.length, totalMs: pauses.reduce((sum, ms) => sum + ms, 0), maxMs: Math.max(0, ...pauses) };
}

/** Roughly 200 bytes of JSON once stamped; `t` is the send time (ms, wall clock with µs precision). */
export function benchPayload(seq: number, t: number): Record<string, unknown> {
  return {
    seq,
    t,
    kind: 'order.updated',
    order: { id: `ord_${seq.toString().padStart(8, '0')}`, status: 'shipped', total: 129.9, currency: 'EUR' },
    customer: { id: 'cus_0042', tier: 'gold' },
    note: 'lorem ipsum dolor sit amet consectetur',
  };
}

export const now = (): number => performance.timeOrigin + performance.now();

/** The `p` quantile of ascending `sorted` latencies, as the table reports it (NaN when empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
