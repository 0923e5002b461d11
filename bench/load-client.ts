/**
 * The load client, a child process of its own (so it never shares a core's event loop with the
 * server): opens the subscriber sockets, warms every topic up, publishes over HTTP keep-alive
 * (http-publisher.ts), and measures deliveries and publish→deliver latency from the timestamp
 * inside each payload. How it subscribes and publishes on each kind of server is bench/wire.ts's.
 */
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { HttpPublisher } from './http-publisher.js';
import { runStorm } from './storm-client.js';
import { benchPayload, benchTopic, gcReport, now, percentile, type DeliveryTrace, type HarnessCommand, type LoadJob, type LoadResult } from './protocol.js';
import { wireFor } from './wire.js';

const CONNECT_BATCH = 250;
const WARM_SEQ = -1; // subscription warm-up: proves each socket is subscribed
const WARM_LOAD_SEQ = -2; // load warm-up: deliveries counted, not timed
const SETTLE_MS = 5_000; // after the last publish, how long silence may last before the rest counts as lost
/**
 * A fixed-rate publish sent this late means the client itself was frozen (Node's millisecond timers
 * alone make sends up to about 2 ms late). At these rates it idles most of the time, so that is the
 * machine, not load: on this 2-core VM both processes freeze at once for 5–16 ms now and then, and a
 * few such freezes can make a large part of a fixed-rate p99. Counting them says how noisy a run was.
 */
const STALL_MS = 5;

// `"seq":<n>,"t":<ms>` sits inside every frame, whatever envelope wraps the payload. The client finds
// it in the raw bytes and decodes only those few, so it stays cheaper than either server per frame.
const SEQ_MARK = Buffer.from('"seq":');
const STAMP = /^"seq":(-?\d+),"t":([\d.]+)/;

function readStamp(frame: Buffer): { seq: number; t: number } | undefined {
  const at = frame.indexOf(SEQ_MARK);
  if (at === -1) return undefined;
  const match = STAMP.exec(frame.toString('latin1', at, at + 48));
  return match === null ? undefined : { seq: Number(match[1]), t: Number(match[2]) };
}

/** Half the measured messages, sent the same way before measuring (see the load warm-up below). */
const warmupMessages = (scenario: LoadJob['scenario']): number => Math.ceil(scenario.messages / 2);

const nextCommand = (): Promise<HarnessCommand> => new Promise((resolve) => process.once('message', resolve));

interface Subscriber {
  warm: boolean;
}

process.on('message', (message: { type: string; job?: LoadJob }) => {
  if (message.type !== 'job' || message.job === undefined) return;
  const { storm } = message.job.scenario;
  if (storm !== undefined) void runStorm(message.job, storm, nextCommand);
  else void run(message.job);
});

async function run(job: LoadJob): Promise<void> {
  const { scenario, kind, port } = job;
  const publisher = new HttpPublisher(port, scenario.inFlight);
  const wire = wireFor(kind, port, job.token);
  const topicOf = (index: number): string => benchTopic(index, scenario.topics);
  const subscribersPerTopic = scenario.connections / scenario.topics;
  const expected = scenario.messages * subscribersPerTopic;
  const latencies = new Float64Array(expected);
  // --trace only (DeliveryTrace); without it the delivery path records nothing more than the latency.
  const trace = job.traceFile === undefined ? undefined : new Float64Array(expected * 4);
  let delivered = 0;
  let warmDelivered = 0;
  let failedPublishes = 0;
  let lastDelivery = 0;
  let onProgress: (() => void) | undefined;

  const subscribers: Subscriber[] = [];
  const sockets: WebSocket[] = [];
  const connectStart = now();
  for (let first = 0; first < scenario.connections; first += CONNECT_BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = first; i < Math.min(first + CONNECT_BATCH, scenario.connections); i++) {
      batch.push(
        wire
          .subscribe(topicOf(i), (frame) => {
            const stamp = readStamp(frame);
            if (stamp === undefined) return;
            if (stamp.seq === WARM_SEQ) {
              subscribers[i]!.warm = true;
              return;
            }
            if (stamp.seq === WARM_LOAD_SEQ) {
              warmDelivered++;
              onProgress?.();
              return;
            }
            const at = now();
            if (delivered < expected) {
              latencies[delivered] = at - stamp.t;
              if (trace !== undefined) {
                const at4 = delivered * 4;
                trace[at4] = stamp.seq;
                trace[at4 + 1] = stamp.t;
                trace[at4 + 2] = at;
                trace[at4 + 3] = i;
              }
            }
            delivered++;
            lastDelivery = at;
            onProgress?.();
          })
          .then((socket) => {
            sockets[i] = socket;
            subscribers[i] = { warm: false };
          }),
      );
    }
    await Promise.all(batch);
  }

  /** Resolves when `done()` holds, or when deliveries have stopped for SETTLE_MS (the rest is lost). */
  const settle = (done: () => boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        onProgress = undefined;
        resolve();
      };
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(finish, SETTLE_MS);
      };
      let seen = 0;
      onProgress = () => {
        if (done()) return finish();
        if (++seen % 1000 === 0) arm();
      };
      arm();
      if (done()) finish();
    });

  const publish = async (topic: string, payload: unknown): Promise<void> => {
    const { path, headers, body } = wire.publishRequest(topic, payload);
    const answer = await publisher.post(path, headers, body);
    if (!wire.accepted(answer)) throw new Error(`publish failed: ${answer.status} ${answer.body}`);
  };
  // A server without a batch publish (the baselines) publishes one message per request.
  const batch = wire.publishManyRequest === undefined ? 1 : (scenario.batch ?? 1);
  const publishMany = async (items: ReadonlyArray<{ topic: string; payload: unknown }>): Promise<void> => {
    const { path, headers, body } = wire.publishManyRequest!(items);
    const answer = await publisher.post(path, headers, body);
    if (!wire.accepted(answer)) throw new Error(`publishMany failed: ${answer.status} ${answer.body.slice(0, 500)}`);
  };

  // Pub/sub has no subscribe acknowledgement: publish warm-up messages until every socket saw one.
  for (let round = 0; subscribers.some((s) => !s.warm); round++) {
    if (round === 100) throw new Error('warm-up: some subscribers never received a message');
    await Promise.all(Array.from({ length: scenario.topics }, (_, t) => publish(topicOf(t), benchPayload(WARM_SEQ, now()))));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const connectSeconds = (now() - connectStart) / 1000;

  // The harness reads the server's memory now, then says go.
  process.send?.({ type: 'subscribed' });
  await nextCommand();

  /** Milliseconds between publishes at a fixed rate; 0 at max rate. */
  const interval = scenario.deliveriesPerSecond === undefined ? 0 : (1000 * subscribersPerTopic) / scenario.deliveriesPerSecond;

  /**
   * Publishes `count` messages at the scenario's rate or as fast as `inFlight` allows, the first of
   * them number `first` of the phase (which picks its topic); `seqOf` stamps each. At a fixed rate,
   * also counts the client's stalls (a run of sends STALL_MS late or more) into `stalls`.
   */
  const publishPhase = async (first: number, count: number, seqOf: (index: number) => number, stalls: { count: number; maxMs: number }): Promise<void> => {
    const start = now();
    let stalled = false;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        if (batch > 1) {
          const taken = Math.min(batch, count - next);
          const from = first + next;
          next += taken;
          const stamp = now();
          try {
            await publishMany(Array.from({ length: taken }, (_, i) => ({ topic: topicOf(from + i), payload: benchPayload(seqOf(from + i), stamp) })));
          } catch (error) {
            if (failedPublishes === 0) process.stderr.write(`bench: a publish failed: ${(error as Error).message}\n`);
            failedPublishes += taken;
          }
          continue;
        }
        const offset = next++;
        const index = first + offset;
        if (interval > 0) {
          const due = start + offset * interval;
          const wait = due - now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          const late = now() - due;
          if (late >= STALL_MS && !stalled) stalls.count++;
          stalled = late >= STALL_MS;
          stalls.maxMs = Math.max(stalls.maxMs, late);
        }
        try {
          await publish(topicOf(index), benchPayload(seqOf(index), now()));
        } catch (error) {
          // An overloaded server may refuse or reset a publish: counted and reported, not fatal to the run.
          if (failedPublishes++ === 0) process.stderr.write(`bench: a publish failed: ${(error as Error).message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: scenario.inFlight }, worker));
  };

  // Load warm-up, the same traffic unmeasured: a fresh process measured cold times V8 compiling
  // and optimising the hot path (a tenth or more of the server's CPU in the first seconds, more for
  // the larger code base), not the steady state a long-running server lives in.
  const warmExpected = warmupMessages(scenario) * subscribersPerTopic;
  await publishPhase(0, warmupMessages(scenario), () => WARM_LOAD_SEQ, { count: 0, maxMs: 0 });
  await settle(() => warmDelivered >= warmExpected);
  const warmLost = Math.max(0, warmExpected - warmDelivered);
  process.send?.({ type: 'warmed' });

  // The measured phase, in the slices the harness asks for (it alternates servers between them):
  // each publishes its share and waits for its deliveries before the harness moves on.
  const stalls = { count: 0, maxMs: 0 };
  // The client's own GC pauses while it measures (entries arrive after the fact, so each is matched
  // to the slices by its start): with 10k sockets its heap is large, and a pause of its own delays
  // every delivery it was about to read, whichever server sent it.
  const gcPauses: Array<{ startTime: number; duration: number }> = [];
  const slices: Array<{ from: number; to: number }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const { startTime, duration } of list.getEntries()) gcPauses.push({ startTime, duration });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  let published = 0;
  let publishMs = 0;
  let deliveringMs = 0;
  for (let command = await nextCommand(); command.type === 'slice'; command = await nextCommand()) {
    const slice = { from: performance.now(), to: Infinity };
    slices.push(slice);
    const start = now();
    await publishPhase(published, command.messages, (index) => index, stalls);
    // A slice lasts as long as its rate says (its last interval included), or longer if it lagged.
    const scheduledMs = command.messages * interval;
    publishMs += Math.max(now() - start, scheduledMs);
    published += command.messages;
    await settle(() => delivered >= published * subscribersPerTopic);
    if (delivered > 0) deliveringMs += Math.max(lastDelivery - start, scheduledMs);
    slice.to = performance.now();
    process.send?.({ type: 'slice-done' });
  }

  if (job.traceFile !== undefined && trace !== undefined) {
    const output: DeliveryTrace = { scenario, kind, deliveries: Array.from(trace.subarray(0, Math.min(delivered, expected) * 4)) };
    writeFileSync(job.traceFile, JSON.stringify(output));
  }
  const measured = latencies.subarray(0, Math.min(delivered, expected)).sort();
  const result: LoadResult = {
    connectSeconds,
    expected,
    delivered,
    lost: Math.max(0, expected - delivered) + warmLost,
    failedPublishes,
    publishSeconds: publishMs / 1000,
    deliveredPerSecond: delivered === 0 ? 0 : delivered / (deliveringMs / 1000),
    latencyMs: { p50: percentile(measured, 0.5), p99: percentile(measured, 0.99), max: measured.length === 0 ? NaN : measured[measured.length - 1]! },
    stalls: scenario.deliveriesPerSecond === undefined ? undefined : stalls,
    gc: gcReport(gcPauses.filter(({ startTime }) => slices.some(({ from, to }) => startTime >= from && startTime <= to)).map(({ duration }) => duration)),
  };
  gcObserver.disconnect();
  for (const socket of sockets) socket.terminate();
  publisher.close();
  process.send?.({ type: 'result', result }, () => process.exit(0));
}
