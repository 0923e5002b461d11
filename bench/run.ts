/**
 * `npm run bench`: Herald against two baselines, a plain `ws` fan-out server and nginx + nchan (one
 * worker; Debian's packages, installed or extracted by the bench itself: nchan-install.ts), same
 * machine, same load client, alternating which goes first, so the ratios hold while the machine's
 * speed drifts.
 *
 *   npm run bench                      full matrix, median of 3 runs
 *   npm run bench -- --no-nchan        without the nchan baseline
 *   npm run bench -- --floor           also the Node floor (servers/floor.ts): what one write per delivery costs in Node itself
 *   npm run bench -- --quick           200 subscribers, one run: a smoke test (CI), no figure checked
 *   npm run bench -- --runs 5 --only 1k-1t-max
 *   npm run bench -- --only 10k-100t-max --runs 1 --profile   CPU profiles of both servers and clients in bench/results/profiles
 *   npm run bench -- --redis            also Herald on the Redis bus (REDIS_URL, default redis://127.0.0.1:6379)
 *   npm run bench -- --redis-cluster 3  also Herald on the cluster bus over a Redis Cluster of 3 masters (1 to 6) the bench
 *                                       starts on spare ports and stops at the end, with what each master did (redis-cluster.ts)
 *   npm run bench -- --only 1k-100t-10k/s --runs 1 --trace   every measured delivery in bench/results/traces (DeliveryTrace)
 *
 * Each server and the load client run in their own process; the harness reads the server's RSS
 * (after a forced GC) and CPU time from /proc. The servers take turns in slices of the measured
 * phase (SLICE_SECONDS, MAX_RATE_SLICES). Results print as a table and go to bench/results/.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintToken } from '../src/auth/mint-token.js';
import { ensureNchan, type NchanInstall } from './nchan-install.js';
import { addUsed, expectedUse, noUse, startBenchCluster, type BenchCluster, type ShardUse } from './redis-cluster.js';
import { BENCH_AUDIENCE, BENCH_SECRET, speaksGraphql, type GcReport, type LoadResult, type Scenario, type ServerKind, type StormResult } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const registerTypescript = join(here, '..', 'bin', 'register-typescript.mjs');
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
/** The publish path alone: no subscriber, so the figure is publishes per second (publish-max, publish-many-max). */
const isPublishOnly = (scenario: Scenario): boolean => scenario.connections === 0;
/**
 * The servers take turns in slices of their measured phase, so a noisy stretch of the machine (a
 * minute of 5–60 ms freezes is not rare on this VM) falls on every server alike instead of on
 * whichever ran then: with whole 30-second runs one after the other, one server's p99 at
 * 1k-100t-10k/s ranged 1.8–38 ms over one afternoon, the other's 1.8–4.3 ms, and the 1k-100t-max
 * throughput ratio read 0.89–1.33× over five tables of one build. At a fixed rate a slice is
 * SLICE_SECONDS of the phase.
 */
const SLICE_SECONDS = 2;
/**
 * At max rate a slice is a share of the publishes, at most MAX_RATE_SLICES of them, and each at
 * least MIN_SLICE_WINDOWS times the in-flight window: every slice starts with an empty pipeline and
 * ends draining it, so a slice of only a few windows would measure that ramp more than the steady
 * rate (10k-1t-max, 30 publishes, stays one slice).
 */
const MAX_RATE_SLICES = 10;
const MIN_SLICE_WINDOWS = 4;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    redis: { type: 'boolean', default: false },
    'redis-cluster': { type: 'string' },
    profile: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'no-nchan': { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
  },
});
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const scenarios = buildScenarios(args.quick).filter((s) => args.only === undefined || args.only.split(',').includes(s.name));
if (scenarios.length === 0) {
  process.stderr.write(`bench: no scenario named ${args.only}\n`);
  process.exit(2);
}
const runs = Number(args.runs ?? (args.quick ? 1 : 3));
// Each master is a process of its own beside the servers and load clients: a few fit on a small machine.
const clusterMasters = args['redis-cluster'] === undefined ? undefined : Number(args['redis-cluster']);
if (clusterMasters !== undefined && !(Number.isInteger(clusterMasters) && clusterMasters >= 1 && clusterMasters <= 6)) {
  process.stderr.write(`bench: --redis-cluster takes the number of masters, 1 to 6, got ${args['redis-cluster']}\n`);
  process.exit(2);
}

// Each process holds one descriptor per socket; Node cannot raise its own limit, so say what to run.
const neededDescriptors = Math.max(...scenarios.map((s) => s.connections)) + 256;
const openFilesLimit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Infinity);
if (openFilesLimit < neededDescriptors) {
  process.stderr.write(
    `bench: needs ${neededDescriptors} open files per process, the limit is ${openFilesLimit}; run \`ulimit -n ${neededDescriptors}\` first\n`,
  );
  process.exit(2);
}

// nginx + nchan, fetched now if missing (a few seconds, once per machine), unless no scenario needs it.
const nchan: NchanInstall | undefined = args['no-nchan'] || scenarios.every((s) => s.storm !== undefined) ? undefined : findNchan();
if (nchan !== undefined && nchan.source !== 'system') process.stderr.write(`bench: nginx + nchan: ${nchan.nginx} (${nchan.source})\n`);
const kinds: ServerKind[] = [
  'baseline',
  ...(nchan === undefined ? [] : ['nchan' as const]),
  ...(args.floor ? ['floor' as const] : []),
  'herald',
  ...(args.redis ? ['herald-redis' as const] : []),
  ...(clusterMasters === undefined ? [] : ['herald-cluster' as const]),
];
/** The table's name for each server: the plain `ws` baseline is "ws" there. */
const label = (kind: ServerKind): string => (kind === 'baseline' ? 'ws' : kind);

interface Measurement extends LoadResult {
  readonly rssPerConnectionKB: number;
  readonly cpuMicrosPerDelivery: number;
  /** Fraction of one core each process used during the measured phase. */
  readonly serverCpuShare: number;
  readonly clientCpuShare: number;
  /** Server GC pause time per second of the measured phase, and its longest pause. */
  readonly gcMsPerSecond: number;
  readonly gcMaxPauseMs: number;
  /** The same for the load client: its own pauses delay what it reads from either server. */
  readonly clientGcMsPerSecond: number;
  readonly clientGcMaxPauseMs: number;
  /** Publishes per second the load client got answered in the measured phase. */
  readonly publishesPerSecond: number;
  /**
   * CPU time the hypervisor gave to other guests while this run measured (steal in /proc/stat), per
   * second and summed over the cores: whatever the servers do, time neither process could run.
   */
  readonly stealMsPerSecond: number;
  /** herald-cluster: what each master did over the measured slices, and the REDIS_PREFIX its channels were under. */
  readonly shards?: { readonly prefix: string; readonly use: readonly ShardUse[] };
}

/** One storm on one Herald: what the load client measured, and the CPU both processes used for it. */
interface StormMeasurement {
  readonly kind: ServerKind;
  readonly storm: StormResult;
  readonly rssPerConnectionKB: number;
  readonly serverCpuShare: number;
  readonly clientCpuShare: number;
  readonly seconds: number;
  /**
   * Connections the kernel dropped because the listen queue was full during the storm (TcpExt
   * ListenOverflows, machine-wide): each waits out a TCP SYN retransmit (1, 3, 7, 15, 31 s…), which
   * is where the catch-up tail comes from when the loop is too busy to accept.
   */
  readonly listenOverflows: number;
}
interface StormEntry {
  readonly scenario: Scenario;
  readonly runs: StormMeasurement[];
}

const token = (await mintToken({ secret: BENCH_SECRET }, { audience: BENCH_AUDIENCE, scopes: ['subscribe', 'publish'], ttlSeconds: 3600 })).token;
const results: Array<{ scenario: Scenario; runs: Partial<Record<ServerKind, Measurement[]>> }> = [];

const storms: StormEntry[] = [];

// The bench's own cluster, stopped however the bench ends (done, failed, interrupted): its
// redis-servers and data dirs must not outlive it. Interrupted, the servers and load clients go
// too: a signal sent to this process alone would leave them running (a Herald on the stopped
// cluster retries for ever).
let clusterStarting: Promise<BenchCluster> | undefined;
const stopCluster = async (): Promise<void> => (await clusterStarting?.catch(() => undefined))?.stop();
const children = new Set<ChildProcess>();
const exitWith = (code: number) => (): void => {
  for (const child of children) child.kill();
  void stopCluster().finally(() => process.exit(code));
};
process.once('SIGINT', exitWith(130));
process.once('SIGTERM', exitWith(143));
if (clusterMasters !== undefined) clusterStarting = startBenchCluster(clusterMasters);
const cluster = await clusterStarting;
if (cluster !== undefined) {
  const ports = cluster.masters.map(({ node }) => node.port).join(', ');
  process.stderr.write(`bench: Redis Cluster of ${cluster.masters.length} masters (no replicas) on ports ${ports}\n`);
}

try {
  for (const scenario of scenarios) {
    if (scenario.storm !== undefined) {
      // Herald only: the baseline has no history to resume from. One server at a time: a storm is one
      // event, not a steady phase to interleave, and two idle 10k-socket sessions would only add noise.
      const entry: StormEntry = { scenario, runs: [] };
      storms.push(entry);
      const stormKinds = kinds.filter(speaksGraphql);
      for (let run = 0; run < runs; run++) {
        for (const kind of stormKinds.map((_, i) => stormKinds[(i + run) % stormKinds.length]!)) {
          const measured = await measureStorm(kind, scenario, run);
          entry.runs.push(measured);
          const { storm } = measured;
          process.stderr.write(
            `  ${scenario.name} run ${run + 1}/${runs} ${kind.padEnd(14)} catch-up from cut p50 ${fmt(storm.catchUpFromCutMs.p50, 0)} ` +
              `p99 ${fmt(storm.catchUpFromCutMs.p99, 0)} max ${fmt(storm.catchUpFromCutMs.max, 0)} ms, from reconnect p50 ` +
              `${fmt(storm.catchUpFromReconnectMs.p50, 0)} p99 ${fmt(storm.catchUpFromReconnectMs.p99, 0)} max ${fmt(storm.catchUpFromReconnectMs.max, 0)} ms  ` +
              `lost ${storm.lost} dup ${storm.duplicates} failed ${storm.failed}${storm.errors.length > 0 ? ` (${storm.errors[0]})` : ''}\n`,
          );
        }
      }
      continue;
    }
    const entry = { scenario, runs: Object.fromEntries(kinds.map((kind) => [kind, [] as Measurement[]])) as Partial<Record<ServerKind, Measurement[]>> };
    results.push(entry);
    for (let run = 0; run < runs; run++) {
      // Each run starts with a different server, so drift in the machine's speed spreads over all of them.
      const order = kinds.map((_, i) => kinds[(i + run) % kinds.length]!);
      for (const [kind, measurement] of await measureInterleaved(order, scenario, run)) {
        entry.runs[kind]!.push(measurement);
        process.stderr.write(
          `  ${scenario.name} run ${run + 1}/${runs} ${label(kind).padEnd(14)} ${fmt(measurement.deliveredPerSecond, 0)} msg/s ` +
            `p99 ${fmt(measurement.latencyMs.p99, 1)} ms  lost ${measurement.lost}  ` +
            (measurement.failedPublishes > 0 ? `FAILED PUBLISHES ${measurement.failedPublishes}  ` : '') +
            (measurement.stalls !== undefined ? `client stalls ${measurement.stalls.count} (max ${fmt(measurement.stalls.maxMs, 1)} ms)  ` : '') +
            `cpu server ${fmt(100 * measurement.serverCpuShare, 0)}% client ${fmt(100 * measurement.clientCpuShare, 0)}%  ` +
            `gc max server ${fmt(measurement.gcMaxPauseMs, 1)} client ${fmt(measurement.clientGcMaxPauseMs, 1)} ms  ` +
            `steal ${fmt(measurement.stealMsPerSecond, 1)} ms/s\n`,
        );
      }
    }
  }

  report(results, storms);
} finally {
  await stopCluster();
}

// ---------------------------------------------------------------------------------------------

function findNchan(): NchanInstall {
  try {
    return ensureNchan(join(here, 'results', 'nchan-cache'), (line) => process.stderr.write(`${line}\n`));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

function buildScenarios(quick: boolean): Scenario[] {
  const list: Scenario[] = [];
  const sizes = quick ? [200] : [1_000, 10_000];
  const count = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));
  for (const connections of sizes) {
    // One topic (many sockets share it), 100 topics, and at the largest size one topic per socket:
    // the per-user notification pattern (10k-10kt), where every delivery is its own publish.
    const topicCounts = quick ? [1, 10] : [1, 100];
    if (connections === sizes[sizes.length - 1]) topicCounts.push(connections);
    for (const topics of topicCounts) {
      const perTopic = connections / topics;
      const label = `${count(connections)}-${count(topics)}t`;
      // Max rate: about 300k deliveries (20k in quick mode), at least 20 publishes. With one topic per
      // socket every delivery is a publish (10k-10kt-max: 300k of them, about 20–40 s per server),
      // and quick mode, a smoke test, publishes 5k there.
      const target = quick ? (perTopic === 1 ? 5_000 : 20_000) : 300_000;
      list.push({
        name: `${label}-max`,
        connections,
        topics,
        messages: Math.max(20, Math.round(target / perTopic)),
        deliveriesPerSecond: undefined,
        inFlight: 16,
      });
      // Quick mode smokes the one-topic-per-socket path at max rate only: its fixed-rate run uses the
      // same machinery as the other topic counts' and cost the quick run about 20 s more.
      if (quick && perTopic === 1) continue;
      // Fixed rate: 10 000 deliveries/s for 30 s (2 s in quick mode). With one topic per socket each
      // delivery is a publish, and 10 000/s was past both Herald's and the ws baseline's maximum on
      // this machine (10k-10kt-max: 7.5k and 10.2k/s), where a p99 measures the backlog rather than
      // delivery: 5 000/s there. A few machine stalls in the whole phase (the client and the server
      // frozen together for 5–16 ms; the client counts them, see STALL_MS) make a large part of the
      // p99 at a fixed rate: over 10 s the same build's ratio at 1k-100t ranged 0.84–1.58× over six
      // runs, over 5 s 0.7–1.4×. A longer phase averages over more of them.
      const seconds = quick ? 2 : 30;
      const rate = perTopic === 1 ? 5_000 : 10_000;
      list.push({
        name: `${label}-${rate / 1000}k/s`,
        connections,
        topics,
        messages: Math.max(5, Math.round((rate * seconds) / perTopic)),
        deliveriesPerSecond: rate,
        inFlight: 16,
      });
    }
  }
  // The many-topic rows again with each server's best publish path: Herald's publishMany, 100
  // messages a request (what a backend with volume uses; the floor's batch too), the baselines one a
  // request, as they have no other. With few subscribers per topic the publish is
  // most of the cost per delivery, and this is what a backend publishing thousands a second gets.
  // Enough messages that each slice holds 4 of Herald's in-flight windows (16 × 100): 10 slices, and
  // 3 at 10k-100t, where 10 would be 6.4 million deliveries per server and run.
  if (!quick) {
    const window = 16 * 100;
    list.push(
      {
        name: '1k-100t-many-max',
        connections: 1_000,
        topics: 100,
        messages: MAX_RATE_SLICES * MIN_SLICE_WINDOWS * window,
        deliveriesPerSecond: undefined,
        inFlight: 16,
        batch: 100,
      },
      {
        name: '10k-100t-many-max',
        connections: 10_000,
        topics: 100,
        messages: 3 * MIN_SLICE_WINDOWS * window,
        deliveriesPerSecond: undefined,
        inFlight: 16,
        batch: 100,
      },
      { name: '10k-10kt-many-max', connections: 10_000, topics: 10_000, messages: 300_000, deliveriesPerSecond: undefined, inFlight: 16, batch: 100 },
    );
  }
  // Reconnect storm (Herald only): 10 000 subscribers on 10 topics at 100 000 deliveries/s, that is
  // 10 messages/s per topic, 100 publishes/s. The fan-out sets the load and the per-topic rate how
  // much each subscriber misses (10/s over its 1.3–4 s away, well inside HISTORY_SIZE's 1 000). One
  // topic at 1 000 messages/s would be 10 million deliveries/s, far past what two cores carry: the
  // steady load is kept well under the 10k max-rate figures, so the storm (10 000 handshakes, token
  // checks and history reads on top of it) is what gets measured, not a saturated steady state.
  // Each subscriber reconnects after graphql-ws's first retry wait (1 s + 300–3 000 ms), as
  // herald/client does; quick mode shortens it, as it shortens everything.
  list.push(
    quick
      ? {
          name: 'storm-10k',
          connections: 200,
          topics: 2,
          messages: 0,
          deliveriesPerSecond: 2_000,
          inFlight: 2,
          storm: { steadyMs: 1_000, afterMs: 500, reconnectDelayMs: [100, 500] },
        }
      : {
          name: 'storm-10k',
          connections: 10_000,
          topics: 10,
          messages: 0,
          deliveriesPerSecond: 100_000,
          inFlight: 10,
          storm: { steadyMs: 5_000, afterMs: 2_000, reconnectDelayMs: [1_300, 4_000] },
        },
  );
  // Unloaded latency: one subscriber, messages spaced 5 ms apart, so each is timed on its own
  // (this is where the Redis bus's added hop shows, without queueing on top).
  list.push({ name: '1-1t-200/s', connections: 1, topics: 1, messages: quick ? 100 : 400, deliveriesPerSecond: 200, inFlight: 1 });
  // The publish path alone: no subscriber, publishes as fast as 16 in flight allow (target: 5 000/s).
  list.push({ name: 'publish-max', connections: 0, topics: 1, messages: quick ? 2_000 : 20_000, deliveriesPerSecond: undefined, inFlight: 16 });
  // The best publish path for a backend with volume: Herald's publishMany, 100 messages a request
  // over 100 topics; the baselines have no batch publish and publish one per request, as above.
  list.push({
    name: 'publish-many-max',
    connections: 0,
    topics: 100,
    messages: quick ? 5_000 : 100_000,
    deliveriesPerSecond: undefined,
    inFlight: 16,
    batch: 100,
  });
  return list;
}

/** The messages of each slice of `scenario`'s measured phase. */
function slicesOf(scenario: Scenario): number[] {
  const count =
    scenario.deliveriesPerSecond === undefined
      ? Math.min(MAX_RATE_SLICES, Math.floor(scenario.messages / (MIN_SLICE_WINDOWS * scenario.inFlight * (scenario.batch ?? 1))))
      : Math.round((scenario.messages * (scenario.connections / scenario.topics)) / scenario.deliveriesPerSecond / SLICE_SECONDS);
  return splitEvenly(scenario.messages, Math.min(scenario.messages, Math.max(1, count)));
}

/** `total` as `count` near-equal parts, the larger first. */
function splitEvenly(total: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor(total / count) + (i < total % count ? 1 : 0));
}

/** One server and its load client, connected and warmed up, between measured slices. */
interface Session {
  readonly kind: ServerKind;
  readonly server: ChildProcess;
  /** The process measured as the server: `server` itself, or the one it wraps (nginx's worker for nchan). */
  pid: number;
  readonly client: ChildProcess;
  readonly rssPerConnectionKB: number;
  serverCpuMicros: number;
  clientCpuMicros: number;
  stealMicros: number;
  elapsedMicros: number;
  /** The client sent its result and is exiting. */
  finished: boolean;
  /** Herald on Redis: the REDIS_PREFIX of its channels and keys, its own per session. */
  readonly redisPrefix: string | undefined;
  /** herald-cluster: what each master did over the measured slices so far. */
  shardUse: ShardUse[] | undefined;
}

/**
 * Measures one run of `scenario` on every server in `order`: each is started, connected and warmed
 * up in turn (memory is read then, while it is the only one being loaded), then their measured
 * slices alternate, and each reports its result over all of its slices.
 */
async function measureInterleaved(order: ServerKind[], scenario: Scenario, run: number): Promise<Map<ServerKind, Measurement>> {
  const sessions: Session[] = [];
  try {
    for (const kind of order) sessions.push(await startSession(kind, scenario, run));
    for (const messages of slicesOf(scenario)) {
      for (const session of sessions) await measureSlice(session, messages);
    }
    const measured = new Map<ServerKind, Measurement>();
    for (const session of sessions) measured.set(session.kind, await finishSession(session, scenario));
    return measured;
  } finally {
    for (const session of sessions) await stopSession(session);
  }
}

async function startSession(kind: ServerKind, scenario: Scenario, run: number): Promise<Session> {
  // Both servers, so Herald's profile can be read against the baseline's from the same run, and the
  // load client serving each (near 100% CPU, it is the limit). A folder each, not a file name: every
  // thread writes its own profile (the TypeScript loader's hooks run in a second one).
  const profileOf = (name: string): string[] =>
    args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'profiles', `${scenario.name.replace('/', '')}-${name}-run${run + 1}`)}`] : [];
  // nchan's wrapper is not the server: nginx is profiled with perf, if at all, not here.
  const profile = kind === 'nchan' ? [] : profileOf(kind);
  const script = {
    baseline: 'baseline.ts',
    nchan: 'nchan.ts',
    floor: 'floor.ts',
    herald: 'herald.ts',
    'herald-redis': 'herald.ts',
    'herald-cluster': 'herald.ts',
  }[kind];
  // Its own prefix per session, so nothing else on that Redis hears the benchmark (or is heard), and
  // no run resumes another's history.
  const redisPrefix = kind === 'herald-redis' || kind === 'herald-cluster' ? `herald-bench-${process.pid}-${Date.now()}` : undefined;
  const server = fork(join(here, 'servers', script), [], {
    // The servers load TypeScript the way `npm start` does (bin/register-typescript.mjs), not through tsx.
    execArgv: ['--expose-gc', '--import', registerTypescript, ...profile],
    env: {
      ...process.env,
      ...(redisPrefix !== undefined && { BENCH_REDIS_PREFIX: redisPrefix }),
      ...(kind === 'herald-redis' && { BENCH_REDIS_URL: redisUrl }),
      ...(kind === 'herald-cluster' && { BENCH_REDIS_CLUSTER_NODES: cluster!.seeds }),
      ...(kind === 'nchan' && { BENCH_NGINX: nchan!.nginx, BENCH_NCHAN_MODULE: nchan!.module, BENCH_CONNECTIONS: String(scenario.connections) }),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const client = fork(join(here, 'load-client.ts'), [], {
    execArgv: ['--import', 'tsx', ...profileOf(`${kind}-client`)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Not nchan's wrapper: it stops nginx itself once this process is gone (servers/control.ts), and a signal would leave nginx running.
  for (const child of kind === 'nchan' ? [client] : [server, client]) {
    children.add(child);
    child.once('exit', () => children.delete(child));
  }
  const session: Session = {
    kind,
    server,
    pid: server.pid!,
    client,
    rssPerConnectionKB: NaN,
    serverCpuMicros: 0,
    clientCpuMicros: 0,
    stealMicros: 0,
    elapsedMicros: 0,
    finished: false,
    redisPrefix,
    shardUse: kind === 'herald-cluster' ? noUse(cluster!.masters.length) : undefined,
  };
  try {
    const { port, pid } = await nextMessage<{ port: number; pid?: number }>(server, 'ready');
    if (pid !== undefined) session.pid = pid;
    const rssBefore = await settledRssKB(server, session.pid);
    client.send({ type: 'job', job: { kind, port, scenario, token, traceFile: args.trace ? traceFile(kind, scenario, run) : undefined } });
    await nextMessage(client, 'subscribed');
    const rssAfter = await settledRssKB(server, session.pid);
    // The client warms the server up with unmeasured traffic first; CPU is read from its end.
    client.send({ type: 'go' });
    await nextMessage(client, 'warmed');
    // A handful of sockets is lost in the RSS noise of the heap itself: no per-connection figure then.
    return { ...session, rssPerConnectionKB: scenario.connections >= 100 ? (rssAfter - rssBefore) / scenario.connections : NaN };
  } catch (error) {
    await stopSession(session);
    throw error;
  }
}

/** Publishes `messages` more of the measured phase through `session` and adds what it cost. */
async function measureSlice(session: Session, messages: number): Promise<void> {
  const { server, client, pid } = session;
  // Around herald-cluster's own slices only: the other servers' slices do not touch the cluster.
  const shardsBefore = session.shardUse === undefined ? undefined : await cluster!.read();
  const serverBefore = cpuMicros(pid);
  const clientBefore = cpuMicros(client.pid!);
  const stealBefore = stealMicros();
  const startedAt = performance.now();
  server.send({ type: 'count-gc' });
  client.send({ type: 'slice', messages });
  await nextMessage(client, 'slice-done');
  server.send({ type: 'stop-gc' });
  session.elapsedMicros += (performance.now() - startedAt) * 1000;
  session.serverCpuMicros += cpuMicros(pid) - serverBefore;
  session.clientCpuMicros += cpuMicros(client.pid!) - clientBefore;
  session.stealMicros += stealMicros() - stealBefore;
  if (shardsBefore !== undefined) session.shardUse = addUsed(session.shardUse!, shardsBefore, await cluster!.read());
}

async function finishSession(session: Session, scenario: Scenario): Promise<Measurement> {
  const { server, client, elapsedMicros } = session;
  const resultMessage = nextMessage<{ result: LoadResult }>(client, 'result');
  client.send({ type: 'finish' });
  const { result } = await resultMessage;
  session.finished = true;
  server.send({ type: 'gc-report' });
  // No report from a server that is not a Node process (nchan's nginx): its figures are NaN, printed n/a.
  const { report: gcReport = { pauses: NaN, totalMs: NaN, maxMs: NaN } } = await nextMessage<{ report?: GcReport }>(server, 'gc-report');
  const seconds = elapsedMicros / 1_000_000;
  return {
    ...result,
    rssPerConnectionKB: session.rssPerConnectionKB,
    // Per publish where nothing is delivered (publish-max).
    cpuMicrosPerDelivery: session.serverCpuMicros / Math.max(1, result.delivered > 0 ? result.delivered : scenario.messages),
    publishesPerSecond: scenario.messages / result.publishSeconds,
    serverCpuShare: session.serverCpuMicros / elapsedMicros,
    // Near 100%: the figures are the client's limit, not the server's.
    clientCpuShare: session.clientCpuMicros / elapsedMicros,
    gcMsPerSecond: gcReport.totalMs / seconds,
    gcMaxPauseMs: gcReport.maxMs,
    clientGcMsPerSecond: result.gc.totalMs / seconds,
    clientGcMaxPauseMs: result.gc.maxMs,
    stealMsPerSecond: session.stealMicros / 1000 / seconds,
    ...(session.shardUse !== undefined && { shards: { prefix: session.redisPrefix!, use: session.shardUse } }),
  };
}

/** One storm on `kind`: started, connected and settled like a session (its memory read), then the storm. */
async function measureStorm(kind: ServerKind, scenario: Scenario, run: number): Promise<StormMeasurement> {
  const session = await startSession(kind, scenario, run);
  try {
    const { client } = session;
    const serverBefore = cpuMicros(session.pid);
    const clientBefore = cpuMicros(client.pid!);
    const startedAt = performance.now();
    const overflowsBefore = listenOverflows();
    const answer = nextMessage<{ result: StormResult }>(client, 'storm-result');
    client.send({ type: 'storm' });
    const { result } = await answer;
    const elapsedMicros = (performance.now() - startedAt) * 1000;
    const measured = {
      kind,
      storm: result,
      rssPerConnectionKB: session.rssPerConnectionKB,
      serverCpuShare: (cpuMicros(session.pid) - serverBefore) / elapsedMicros,
      clientCpuShare: (cpuMicros(client.pid!) - clientBefore) / elapsedMicros,
      seconds: elapsedMicros / 1_000_000,
      listenOverflows: listenOverflows() - overflowsBefore,
    };
    client.send({ type: 'finish' });
    session.finished = true;
    return measured;
  } finally {
    await stopSession(session);
  }
}

/** TcpExt ListenOverflows from /proc/net/netstat (NaN where it cannot be read). */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const names = lines.find((line) => line.startsWith('TcpExt:'))?.split(' ');
    const values = lines.filter((line) => line.startsWith('TcpExt:'))[1]?.split(' ');
    const at = names?.indexOf('ListenOverflows') ?? -1;
    return at < 0 || values === undefined ? NaN : Number(values[at]);
  } catch {
    return NaN;
  }
}

async function stopSession({ server, client, finished }: Session): Promise<void> {
  // A polite exit lets --cpu-prof write its profile; a client that has sent its result exits by itself.
  if (server.exitCode === null && server.signalCode === null) {
    server.send({ type: 'exit' });
    await new Promise((resolve) => server.once('exit', resolve));
  }
  if (client.exitCode === null && client.signalCode === null) {
    const exited = new Promise((resolve) => client.once('exit', resolve));
    if (!finished) client.kill();
    await exited;
  }
}

/** `--trace`: bench/results/traces/<scenario>-<kind>-run<n>.json, one per server and run. */
function traceFile(kind: ServerKind, scenario: Scenario, run: number): string {
  const dir = join(here, 'results', 'traces');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${scenario.name.replace('/', '')}-${kind}-run${run + 1}.json`);
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string } & T): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message);
    };
    // 'close', not 'exit': a child that sends its result and exits at once (the load client) can be
    // reaped before its last message is read off the IPC channel, and 'exit' then came first (seen
    // once in a quick run); 'close' waits for the channel to end too.
    const onClose = (code: number | null): void => {
      cleanup();
      reject(new Error(`bench: a child exited (${code}) before sending "${type}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('close', onClose);
    };
    child.on('message', onMessage);
    child.on('close', onClose);
  });
}

async function gc(server: ChildProcess): Promise<void> {
  server.send({ type: 'gc' });
  await nextMessage(server, 'gc-done');
}

/**
 * The server's RSS once it stops falling: V8 hands freed pages back to the system some time after
 * a collection (Herald, just started: 166 MB after a forced GC, 159 MB half a second later), and at
 * 1 000 connections those 7 MB were the whole per-connection figure, which came out negative.
 * Collects and reads every 250 ms until two readings are within 256 KB (3 s at most). `pid` is
 * the process measured (nginx's worker for nchan, where the collection is a no-op).
 */
async function settledRssKB(server: ChildProcess, pid: number): Promise<number> {
  await gc(server);
  let last = rssKB(pid);
  for (let attempt = 0; attempt < 12; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    await gc(server);
    const now = rssKB(pid);
    if (Math.abs(now - last) < 256) return now;
    last = now;
  }
  return last;
}

function rssKB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? NaN);
}

function cpuMicros(pid: number): number {
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1_000_000;
}

/** Steal time of all cores since boot: the 8th number of /proc/stat's `cpu` line; NaN where there is none. */
function stealMicros(): number {
  const fields = /^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]?.split(/\s+/);
  return (Number(fields?.[7] ?? NaN) / TICKS_PER_SECOND) * 1_000_000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${fmt(value, 2)}`;
}

function report(all: typeof results, stormEntries: StormEntry[]): void {
  type Row = Record<string, string>;
  const rows: Row[] = [];
  const summary = all.map(({ scenario, runs: byKind }) => {
    const pick = (kind: ServerKind) => {
      const list = byKind[kind] ?? [];
      return {
        deliveredPerSecond: median(list.map((m) => m.deliveredPerSecond)),
        publishesPerSecond: median(list.map((m) => m.publishesPerSecond)),
        p50: median(list.map((m) => m.latencyMs.p50)),
        p99: median(list.map((m) => m.latencyMs.p99)),
        max: median(list.map((m) => m.latencyMs.max)),
        lost: list.reduce((sum, m) => sum + m.lost, 0),
        rssPerConnectionKB: median(list.map((m) => m.rssPerConnectionKB)),
        cpuMicrosPerDelivery: median(list.map((m) => m.cpuMicrosPerDelivery)),
        connectSeconds: median(list.map((m) => m.connectSeconds)),
        serverCpuShare: median(list.map((m) => m.serverCpuShare)),
        clientCpuShare: median(list.map((m) => m.clientCpuShare)),
        gcMsPerSecond: median(list.map((m) => m.gcMsPerSecond)),
        gcMaxPauseMs: median(list.map((m) => m.gcMaxPauseMs)),
        clientGcMsPerSecond: median(list.map((m) => m.clientGcMsPerSecond)),
        clientGcMaxPauseMs: median(list.map((m) => m.clientGcMaxPauseMs)),
        stalls: median(list.map((m) => m.stalls?.count ?? NaN)),
        stallMaxMs: median(list.map((m) => m.stalls?.maxMs ?? NaN)),
        stealMsPerSecond: median(list.map((m) => m.stealMsPerSecond)),
      };
    };
    const herald = pick('herald');
    const baseline = pick('baseline');
    const nchanFigures = kinds.includes('nchan') ? pick('nchan') : undefined;
    const floor = kinds.includes('floor') ? pick('floor') : undefined;
    const heraldRedis = kinds.includes('herald-redis') ? pick('herald-redis') : undefined;
    const heraldCluster = kinds.includes('herald-cluster') ? pick('herald-cluster') : undefined;
    /**
     * `combine` of two servers' figures run by run, and the median of those: the servers of one run
     * took turns on the same stretch of the machine, so a run's ratio cancels its noise, and the
     * median of the medians would not (in one full table, 1k-100t-10k/s p99: the runs' ratios
     * 0.90, 1.26 and 1.06, the ratio of the servers' medians 1.26: both medians came from one run).
     */
    const paired = (a: ServerKind, b: ServerKind, figure: (m: Measurement) => number, combine: (x: number, y: number) => number) => {
      const second = byKind[b] ?? [];
      const perRun = (byKind[a] ?? []).map((m, i) => (second[i] === undefined ? NaN : combine(figure(m), figure(second[i]))));
      return { median: median(perRun), perRun };
    };
    const divide = (x: number, y: number): number => x / y;
    /** Herald ÷ `peer`, paired run by run (NaN when `peer` did not run: `--no-nchan`). */
    const ratiosTo = (peer: ServerKind) => ({
      deliveredPerSecond: paired('herald', peer, (m) => m.deliveredPerSecond, divide),
      publishesPerSecond: paired('herald', peer, (m) => m.publishesPerSecond, divide),
      p99: paired('herald', peer, (m) => m.latencyMs.p99, divide),
      rssPerConnection: paired('herald', peer, (m) => m.rssPerConnectionKB, divide),
      cpuMicrosPerDelivery: paired('herald', peer, (m) => m.cpuMicrosPerDelivery, divide),
    });
    const ratio = ratiosTo('baseline');
    const ratioNchan = ratiosTo('nchan');
    const subtract = (x: number, y: number): number => x - y;
    const redisAdds = heraldRedis && {
      p50: paired('herald-redis', 'herald', (m) => m.latencyMs.p50, subtract),
      p99: paired('herald-redis', 'herald', (m) => m.latencyMs.p99, subtract),
      deliveredPerSecond: paired('herald-redis', 'herald', (m) => m.deliveredPerSecond, divide),
      publishesPerSecond: paired('herald-redis', 'herald', (m) => m.publishesPerSecond, divide),
    };
    /** herald-cluster against `peer`: added latency, and the throughput and publish-rate ratios. */
    const clusterVs = (peer: ServerKind) => ({
      p50: paired('herald-cluster', peer, (m) => m.latencyMs.p50, subtract),
      p99: paired('herald-cluster', peer, (m) => m.latencyMs.p99, subtract),
      deliveredPerSecond: paired('herald-cluster', peer, (m) => m.deliveredPerSecond, divide),
      publishesPerSecond: paired('herald-cluster', peer, (m) => m.publishesPerSecond, divide),
    });
    const clusterAdds = heraldCluster && { herald: clusterVs('herald'), heraldRedis: heraldRedis && clusterVs('herald-redis') };
    const measured: Array<[ServerKind, typeof herald]> = [['baseline', baseline]];
    if (nchanFigures !== undefined) measured.push(['nchan', nchanFigures]);
    if (floor !== undefined) measured.push(['floor', floor]);
    measured.push(['herald', herald]);
    if (heraldRedis !== undefined) measured.push(['herald-redis', heraldRedis]);
    if (heraldCluster !== undefined) measured.push(['herald-cluster', heraldCluster]);
    for (const [kind, m] of measured) {
      rows.push({
        scenario: scenario.name,
        server: label(kind),
        'msg/s': fmt(m.deliveredPerSecond, 0),
        'pub/s': fmt(m.publishesPerSecond, 0),
        'p50 ms': fmt(m.p50, 2),
        'p99 ms': fmt(m.p99, 2),
        'max ms': fmt(m.max, 1),
        lost: String(m.lost),
        'KB/conn': fmt(m.rssPerConnectionKB, 1),
        'CPU µs/msg': fmt(m.cpuMicrosPerDelivery, 2),
        'connect s': fmt(m.connectSeconds, 2),
        // Near 100% for the client: the run measured the load client's limit as much as the server's.
        'cpu srv/cli': `${fmt(100 * m.serverCpuShare, 0)}/${fmt(100 * m.clientCpuShare, 0)}%`,
        // n/a for nchan: nginx has no GC (and the wrapper's own is not the server's).
        'gc ms/s (max)': `${fmt(m.gcMsPerSecond, 1)} (${fmt(m.gcMaxPauseMs, 1)})`,
        'cli gc (max)': `${fmt(m.clientGcMsPerSecond, 1)} (${fmt(m.clientGcMaxPauseMs, 1)})`,
        // How often the machine froze during the run, seen from the load client (load-client.ts, STALL_MS): a large part of a fixed-rate p99.
        'stalls (max ms)': Number.isFinite(m.stalls) ? `${fmt(m.stalls, 0)} (${fmt(m.stallMaxMs, 1)})` : 'n/a',
        // CPU the hypervisor took away while measuring (ms per second, both cores): the machine's noise, not either server's.
        'steal ms/s': fmt(m.stealMsPerSecond, 1),
      });
    }
    /** What the Node floor reaches against each peer, paired run by run (`--floor`): what one write per delivery leaves a Node server. */
    const floorVs = (peer: ServerKind) => ({
      throughput: paired('floor', peer, (m) => (isPublishOnly(scenario) ? m.publishesPerSecond : m.deliveredPerSecond), divide),
      p99: paired('floor', peer, (m) => m.latencyMs.p99, divide),
    });
    const floorRatios = floor && { ws: floorVs('baseline'), nchan: floorVs('nchan'), herald: floorVs('herald') };
    return {
      scenario,
      herald,
      baseline,
      nchan: nchanFigures,
      floor,
      heraldRedis,
      heraldCluster,
      ratio,
      ratioNchan,
      floorRatios,
      redisAdds,
      clusterAdds,
      runs: byKind,
    };
  });

  const out: string[] = [];
  if (rows.length > 0) {
    const peers = kinds.includes('nchan') ? 'a plain ws fan-out server (ws) and nginx + nchan' : 'a plain ws fan-out server (ws)';
    out.push(`Herald vs ${peers}, median of ${runs} run(s), ${new Date().toISOString()}`, '', ...table(rows));
    const failed = all.flatMap(({ scenario, runs: byKind }) =>
      Object.entries(byKind).flatMap(([kind, list]) => list.filter((m) => m.failedPublishes > 0).map((m) => `${scenario.name} ${kind}: ${m.failedPublishes}`)),
    );
    if (failed.length > 0) out.push('', `Publishes that failed (their deliveries are in "lost"): ${failed.join(', ')}`);
    /** A paired ratio: its median, then each run's own (in brackets, when there are several). */
    const times = ({ median: value, perRun }: { median: number; perRun: number[] }): string =>
      `${fmt(value, 2)}×${perRun.length > 1 ? ` (${perRun.map((one) => fmt(one, 2)).join(' ')})` : ''}`;
    const runsOf = ({ perRun }: { perRun: number[] }): string => (perRun.length > 1 ? ` (runs ${perRun.map((value) => fmt(value, 2)).join(', ')})` : '');
    const ratioRows = summary.map(({ scenario, ratio, ratioNchan, herald, baseline, nchan: nchanOf }) => {
      // publish-max delivers nothing: its throughput is the publish rate.
      const publishOnly = isPublishOnly(scenario);
      const throughput = (r: typeof ratio) => times(publishOnly ? r.publishesPerSecond : r.deliveredPerSecond);
      return {
        scenario: scenario.name,
        'Herald÷ws msg/s': throughput(ratio),
        'Herald÷nchan msg/s': throughput(ratioNchan),
        'p99 ÷ws': publishOnly ? '' : times(ratio.p99),
        'p99 ÷nchan': publishOnly ? '' : times(ratioNchan.p99),
        'mem/conn ÷ws': publishOnly ? '' : fmt(ratio.rssPerConnection.median, 2),
        'mem/conn ÷nchan': publishOnly ? '' : fmt(ratioNchan.rssPerConnection.median, 2),
        'CPU µs/msg Herald/ws/nchan': [herald, baseline, nchanOf].map((m) => fmt(m?.cpuMicrosPerDelivery ?? NaN, 1)).join(' / '),
      };
    });
    out.push(
      '',
      "Herald ÷ each baseline, the median of the runs' own ratios, each run's in brackets (msg/s: higher is better, pub/s in the publish-only rows;",
      'p99 and memory: lower is better; at a fixed rate the p99 is the headline). CPU: server CPU µs per delivered message (per publish in the publish-only rows), median:',
      '',
      ...table(ratioRows, 1),
    );
    const publishOnly = summary.filter(({ scenario }) => isPublishOnly(scenario));
    if (publishOnly.length > 0) out.push('');
    for (const { scenario, herald, baseline, nchan: nchanOf } of publishOnly) {
      out.push(
        `${scenario.name}: Herald ${fmt(herald.publishesPerSecond, 0)} publishes/s${scenario.batch === undefined ? ' (target ≥ 5 000/s)' : ` (${scenario.batch} a request)`}` +
          `, ws ${fmt(baseline.publishesPerSecond, 0)}, nchan ${fmt(nchanOf?.publishesPerSecond ?? NaN, 0)} (one a request)`,
      );
    }
    if (kinds.includes('floor')) {
      out.push(
        '',
        'The Node floor (servers/floor.ts: one prebuilt frame, one socket.write per subscriber, nothing parsed but HTTP) ÷ each server, the median',
        "of the runs' own ratios (throughput: higher is better). Where a socket gets under one frame per loop turn (many topics), every server writes",
        'once per delivery, and no Node server doing any work per message can beat the floor:',
        '',
        ...table(
          summary.flatMap(({ scenario, floor: floorOf, floorRatios }) =>
            floorRatios === undefined
              ? []
              : [
                  {
                    scenario: scenario.name,
                    'floor÷ws': times(floorRatios.ws.throughput),
                    'floor÷nchan': times(floorRatios.nchan.throughput),
                    'floor÷Herald': times(floorRatios.herald.throughput),
                    'p99 floor÷nchan': isPublishOnly(scenario) ? '' : times(floorRatios.nchan.p99),
                    'CPU µs/msg floor': fmt(floorOf?.cpuMicrosPerDelivery ?? NaN, 1),
                  },
                ],
          ),
          1,
        ),
      );
    }
    if (kinds.includes('herald-redis')) {
      out.push('', 'Redis bus vs in-process bus (herald-redis − herald, median of the runs; target: ≤ 1 ms added to p50):');
      for (const { scenario, heraldRedis, redisAdds } of summary) {
        if (redisAdds === undefined) continue;
        if (isPublishOnly(scenario)) {
          out.push(`  ${scenario.name.padEnd(14)} publish rate ${fmt(redisAdds.publishesPerSecond.median, 2)}×`);
          continue;
        }
        out.push(
          `  ${scenario.name.padEnd(14)} p50 ${signed(redisAdds.p50.median)} ms${runsOf(redisAdds.p50)}   p99 ${signed(redisAdds.p99.median)} ms` +
            `   throughput ${fmt(redisAdds.deliveredPerSecond.median, 2)}×   lost ${heraldRedis!.lost}`,
        );
      }
    }
    if (cluster !== undefined) {
      const vsRedis = kinds.includes('herald-redis') ? ' and one Redis (herald-redis)' : '';
      out.push(
        '',
        `Redis Cluster bus, ${cluster.masters.length} masters (herald-cluster) vs in-process bus (herald)${vsRedis}, median of the runs' own ratios and differences:`,
      );
      for (const { scenario, heraldCluster, clusterAdds } of summary) {
        if (clusterAdds === undefined) continue;
        const lost = `lost ${heraldCluster!.lost}${heraldCluster!.lost > 0 ? ' (MUST BE 0)' : ''}`;
        const peers = [
          ['herald', clusterAdds.herald] as const,
          ...(clusterAdds.heraldRedis === undefined ? [] : [['herald-redis', clusterAdds.heraldRedis] as const]),
        ];
        const rates = peers
          .map(([name, vs]) => `${fmt((isPublishOnly(scenario) ? vs.publishesPerSecond : vs.deliveredPerSecond).median, 2)}× ${name}`)
          .join(', ');
        if (isPublishOnly(scenario)) {
          out.push(`  ${scenario.name.padEnd(16)} publishes/s ${fmt(heraldCluster!.publishesPerSecond, 0)}: ${rates}   ${lost}`);
          continue;
        }
        const latency = peers.map(([name, vs]) => `p50 ${signed(vs.p50.median)} p99 ${signed(vs.p99.median)} ms vs ${name}`).join(', ');
        out.push(`  ${scenario.name.padEnd(16)} msg/s ${fmt(heraldCluster!.deliveredPerSecond, 0)}: ${rates}   ${latency}   ${lost}`);
      }
      out.push('', ...shardReport(cluster, all));
    }
  }
  const stormSummary = stormEntries.map(({ scenario, runs: list }) => ({ scenario, runs: list }));
  if (stormEntries.length > 0) out.push(...(out.length > 0 ? [''] : []), ...stormReport(stormEntries));
  process.stdout.write(`${out.join('\n')}\n`);

  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}${args.quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify({ runs, node: process.version, cluster: cluster?.masters, summary, storms: stormSummary }, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${file}\n`);
}

/**
 * What each master of the bench's cluster did in each herald-cluster run, against what the cluster
 * bus's design says it should (expectedUse), and what classic PUBLISH would have cost there.
 */
function shardReport(benchCluster: BenchCluster, all: typeof results): string[] {
  const nodes = benchCluster.masters.length;
  const out = [
    `Per master, over herald-cluster's measured slices (INFO commandstats and cpu of every master, read before and after each slice). Expected: each`,
    `message's append script (EVALSHA, which SPUBLISHes its topic's shard channel) on the master owning the topic's slot, and nothing else: with no`,
    `pattern subscriber, no pattern channel is published. PUBLISH: classic pub/sub, which the cluster bus does not use.`,
  ];
  for (const { scenario, runs: byKind } of all) {
    for (const [run, measurement] of (byKind['herald-cluster'] ?? []).entries()) {
      if (measurement.shards === undefined) continue;
      const { prefix, use } = measurement.shards;
      const expected = expectedUse(benchCluster.masters, prefix, scenario.topics, scenario.messages);
      const published = scenario.messages - measurement.failedPublishes;
      const total = (key: keyof ShardUse): number => use.reduce((sum, one) => sum + one[key], 0);
      const share = (part: number, whole: number): string => `${fmt((100 * part) / whole, 1)}%`;
      const rows = benchCluster.masters.map(({ node, slots }, i) => ({
        master: `${node.host}:${node.port}`,
        slots: slots.map(([from, to]) => `${from}-${to}`).join(','),
        topics: String(expected[i]!.topics),
        'EVALSHA exp': fmt(expected[i]!.scripts, 0),
        EVALSHA: fmt(use[i]!.scripts, 0),
        'share exp/meas': `${share(expected[i]!.scripts, scenario.messages)} / ${share(use[i]!.scripts, total('scripts'))}`,
        'SPUBLISH exp': fmt(expected[i]!.spublish, 0),
        SPUBLISH: fmt(use[i]!.spublish, 0),
        PUBLISH: fmt(use[i]!.publish, 0),
        'Redis CPU s': fmt(use[i]!.cpuSeconds, 2),
      }));
      rows.push({
        master: 'all',
        slots: '',
        topics: String(scenario.topics),
        'EVALSHA exp': fmt(scenario.messages, 0),
        EVALSHA: fmt(total('scripts'), 0),
        'share exp/meas': '',
        'SPUBLISH exp': fmt(
          expected.reduce((sum, one) => sum + one.spublish, 0),
          0,
        ),
        SPUBLISH: fmt(total('spublish'), 0),
        PUBLISH: fmt(total('publish'), 0),
        'Redis CPU s': fmt(total('cpuSeconds'), 2),
      });
      out.push(
        '',
        `${scenario.name} run ${run + 1}: ${fmt(published, 0)} messages published${measurement.failedPublishes > 0 ? ` (${measurement.failedPublishes} failed)` : ''}`,
        ...table(rows).map((line) => `  ${line}`),
        // Classic PUBLISH on a cluster is broadcast over the cluster bus to every node, subscribers or not.
        `  computed, not measured: classic PUBLISH here would have every one of the ${nodes} nodes handle every message: ${nodes} × ${fmt(published, 0)} = ` +
          `${fmt(nodes * published, 0)} (× 2 channels, topic and patterns, as the one-Redis bus publishes: ${fmt(2 * nodes * published, 0)}), ` +
          `against the ${fmt(total('spublish'), 0)} SPUBLISHes measured over all masters`,
      );
    }
  }
  return out;
}

/** Rows as aligned text: the first `labels` columns left-aligned, the figures right-aligned. */
function table(rows: ReadonlyArray<Record<string, string>>, labels = 2): string[] {
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i < labels ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(columns), ...rows.map((row) => line(columns.map((column) => row[column]!)))];
}

/** The storm table: one row per Herald and run (a storm is one event: no median over runs hides a bad one). */
function stormReport(entries: StormEntry[]): string[] {
  const rows = entries.flatMap(({ scenario, runs: list }) =>
    list.map((m) => {
      const { storm } = m;
      const q = (values: { p50: number; p99: number; max: number }): string => `${fmt(values.p50, 0)}/${fmt(values.p99, 0)}/${fmt(values.max, 0)}`;
      return {
        scenario: scenario.name,
        server: m.kind,
        subs: `${storm.subscribers}/${scenario.topics}t`,
        'pub/s': fmt(scenario.deliveriesPerSecond! / (scenario.connections / scenario.topics), 0),
        'catch-up from cut p50/p99/max ms': q(storm.catchUpFromCutMs),
        'from reconnect p50/p99/max ms': q(storm.catchUpFromReconnectMs),
        'missed p50/max': `${fmt(storm.missed.p50, 0)}/${fmt(storm.missed.max, 0)}`,
        lost: String(storm.lost),
        dup: String(storm.duplicates),
        failed: String(storm.failed),
        retries: String(storm.retries),
        'failed pub': String(storm.failedPublishes),
        'listen drops': fmt(m.listenOverflows, 0),
        'KB/conn': fmt(m.rssPerConnectionKB, 1),
        'cpu srv/cli': `${fmt(100 * m.serverCpuShare, 0)}/${fmt(100 * m.clientCpuShare, 0)}%`,
      };
    }),
  );
  const errors = entries.flatMap(({ scenario, runs: list }) =>
    list.flatMap((m) =>
      [...m.storm.errors, ...m.storm.retryReasons.map((reason) => `retried: ${reason}`)].map((error) => `  ${scenario.name} ${m.kind}: ${error}`),
    ),
  );
  return [
    'Reconnect storm, Herald only (the plain ws baseline has no history to resume from), one row per run:',
    'every socket cut at once (no close frame), each resubscribes with heraldResume.after = the last id it received;',
    "catch-up: until it received the newest message Herald had answered when it resubscribed; lost/dup: over each subscriber's whole sequence;",
    'listen drops: connection attempts the kernel dropped on a full listen queue (each waits out a SYN retransmit: the tail)',
    '',
    ...table(rows),
    ...(errors.length > 0 ? ['', 'Errors and failed reconnect attempts:', ...errors] : []),
  ];
}
