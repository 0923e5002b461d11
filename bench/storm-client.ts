/**
 * The reconnect storm, the load client's side (a scenario with `storm`, Herald only: the plain `ws`
 * baseline has no history to resume from).
 *
 * 1. Every subscriber connects and subscribes as herald/client does: `topic(name) { id payload }`
 *    with `extensions.heraldResume.after` (null at first), and keeps the last Message.id it received.
 * 2. One publisher per topic publishes that topic's messages in order, seq 0, 1, 2, … (the next only
 *    once Herald answered the previous, so Herald stamps them in seq order), at the steady rate.
 * 3. After `steadyMs` every socket is cut at once, with no close frame (`terminate()`: the TCP socket
 *    is destroyed), as when a proxy or load balancer in front of Herald restarts or the network
 *    drops: Herald stays up with its history and sees every socket go at once. Frames already on the
 *    wire but not yet read are lost with the socket, as they would be.
 * 4. Each subscriber waits `reconnectDelayMs` (in the full scenario graphql-ws's first retry:
 *    1 s + 300–3 000 ms), reconnects and resubscribes with `after` = the last id it received. A
 *    failed attempt is retried with graphql-ws's backoff (2^n s + 300–3 000 ms, 5 attempts).
 *
 * Catch-up target of a subscriber: the newest seq on its topic that Herald had answered when the
 * subscriber sent its resubscribe (so it covers everything published before the cut and while it was
 * away); if nothing was published since its last message, the next one. Caught up: the moment it
 * receives that seq. Lost: over each subscriber's whole sequence, from seq 0 to the last seq
 * published on its topic, every seq it never received (a gap, or a tail missing after the settle);
 * duplicates: every seq received twice (or out of order).
 */
import WebSocket from 'ws';
import { HttpPublisher } from './http-publisher.js';
import { benchPayload, now, percentile, type LoadJob, type Quantiles, type StormResult, type StormSpec } from './protocol.js';

const CONNECT_BATCH = 250;
const WARM_SEQ = -1;
/** graphql-ws's defaults for its client (retryAttempts, randomisedExponentialBackoff). */
const RETRY_ATTEMPTS = 5;
const retryWaitMs = (retries: number): number => 2 ** retries * 1000 + 300 + Math.random() * 2700;
/** How long after the cut the storm may take before the subscribers still behind count as failed. */
const CATCH_UP_TIMEOUT_MS = 90_000;
/** After the publishers stop, how long silence may last before what is missing counts as lost. */
const SETTLE_MS = 5_000;
const SUBSCRIPTION = 'subscription ($n: String!) { topic(name: $n) { id payload } }';
const CLIENT_OPTIONS = { skipUTF8Validation: true } as const;

const SEQ_MARK = Buffer.from('"seq":');
const ID_MARK = Buffer.from('"topic":{"id":"');
const QUOTE = 0x22;

interface Subscriber {
  readonly topic: number;
  socket: WebSocket | undefined;
  /** The last Message.id received: what a resubscribe sends as `after`. */
  after: string | null;
  /** The next seq expected on its topic. */
  next: number;
  warm: boolean;
  nextAtCut: number;
  reconnectAt: number;
  target: number;
  caughtUpAt: number;
  retries: number;
  failed: string | undefined;
  /** How far its current connection attempt got: where a reconnect that never settles is stuck. */
  phase: 'connecting' | 'upgraded' | 'acknowledged';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runStorm(job: LoadJob, storm: StormSpec, nextCommand: () => Promise<{ type: string }>): Promise<void> {
  const { scenario, port, token } = job;
  const url = `ws://127.0.0.1:${port}/graphql`;
  const init = JSON.stringify({ type: 'connection_init', payload: { token } });
  const publisher = new HttpPublisher(port, scenario.topics);
  const headers = `Authorization: Bearer ${token}\r\n`;
  const publish = async (topic: number, payload: unknown): Promise<void> => {
    const body = JSON.stringify({
      query: 'mutation ($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }',
      variables: { t: `bench/${topic}`, p: payload },
    });
    const answer = await publisher.post('/graphql', headers, body);
    if (answer.status !== 200 || answer.body.includes('"errors"')) throw new Error(`publish failed: ${answer.status} ${answer.body}`);
  };

  const subscribers: Subscriber[] = Array.from({ length: scenario.connections }, (_, i) => ({
    topic: i % scenario.topics,
    socket: undefined,
    after: null,
    next: 0,
    warm: false,
    nextAtCut: 0,
    reconnectAt: NaN,
    target: NaN,
    caughtUpAt: NaN,
    retries: 0,
    failed: undefined,
    phase: 'connecting',
  }));
  /** Per topic, the newest seq Herald answered (-1: none yet). */
  const answered = new Int32Array(scenario.topics).fill(-1);
  const deliberatelyCut = new WeakSet<WebSocket>();
  let storming = false;
  let delivered = 0;
  let lost = 0;
  let duplicates = 0;
  let retries = 0;
  let failedPublishes = 0;
  let caughtUp = 0;
  let lastDelivery = now();
  /** Why subscribers failed, and how many for each reason. */
  const failures = new Map<string, number>();
  /** Why reconnect attempts failed, and how often. */
  const retryReasons = new Map<string, number>();

  const fail = (sub: Subscriber, reason: string): void => {
    if (sub.failed !== undefined) return;
    sub.failed = reason;
    failures.set(reason, (failures.get(reason) ?? 0) + 1);
  };

  const onFrame = (sub: Subscriber, frame: Buffer): void => {
    const at = frame.indexOf(SEQ_MARK);
    if (at === -1) {
      if (frame.includes('"type":"error"') || frame.includes('"type":"complete"')) fail(sub, frame.toString('utf8', 0, 400));
      return;
    }
    const idAt = frame.indexOf(ID_MARK);
    if (idAt !== -1) {
      const start = idAt + ID_MARK.length;
      sub.after = frame.toString('latin1', start, frame.indexOf(QUOTE, start));
    }
    const seq = parseInt(frame.toString('latin1', at + SEQ_MARK.length, at + SEQ_MARK.length + 12), 10);
    if (seq === WARM_SEQ) {
      sub.warm = true;
      return;
    }
    delivered++;
    lastDelivery = now();
    if (seq === sub.next) sub.next++;
    else if (seq < sub.next) {
      duplicates++;
      if (process.env.BENCH_STORM_DEBUG !== undefined && duplicates <= 5)
        process.stderr.write(`dup seq ${seq} next ${sub.next} nextAtCut ${sub.nextAtCut} target ${sub.target} since reconnect ${now() - sub.reconnectAt} ms\n`);
    } else {
      lost += seq - sub.next;
      sub.next = seq + 1;
    }
    if (seq >= sub.target && Number.isNaN(sub.caughtUpAt)) {
      sub.caughtUpAt = lastDelivery;
      caughtUp++;
    }
  };

  /** Opens a socket for `sub`, subscribes with its `after`; settles once the subscribe is sent, or fails before the ack. */
  const connect = (sub: Subscriber): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = new WebSocket(url, 'graphql-transport-ws', CLIENT_OPTIONS);
      sub.socket = socket;
      sub.phase = 'connecting';
      let acknowledged = false;
      socket.on('open', () => {
        sub.phase = 'upgraded';
        socket.send(init);
      });
      let failure = '';
      socket.on('error', (error) => {
        // Followed by 'close', which decides.
        failure = error.message;
      });
      socket.on('close', (code, reason) => {
        if (!acknowledged) return reject(new Error(`closed before connection_ack: ${code} ${reason.toString()}${failure === '' ? '' : ` (${failure})`}`));
        if (deliberatelyCut.has(socket) || sub.failed !== undefined) return;
        // Herald (or the network) dropped a resubscribed socket: graphql-ws would retry.
        if (storming) void reconnect(sub, retryWaitMs(0));
        else fail(sub, `socket closed ${code} ${reason.toString()}`);
      });
      socket.on('message', (data) => {
        const frame = data as Buffer;
        // A cut socket's frames already parsed may still be emitted; a client has dropped that socket.
        if (sub.socket !== socket) return;
        if (acknowledged) return onFrame(sub, frame);
        if (!frame.includes('"connection_ack"')) {
          reject(new Error(`expected connection_ack, got ${frame.toString()}`));
          socket.terminate();
          return;
        }
        acknowledged = true;
        sub.phase = 'acknowledged';
        if (storming && Number.isNaN(sub.target)) sub.target = Math.max(answered[sub.topic]!, sub.next);
        socket.send(
          JSON.stringify({
            id: '1',
            type: 'subscribe',
            payload: { query: SUBSCRIPTION, variables: { n: `bench/${sub.topic}` }, extensions: { heraldResume: { after: sub.after } } },
          }),
        );
        sub.retries = 0;
        resolve();
      });
    });

  const reconnect = async (sub: Subscriber, delayMs: number): Promise<void> => {
    await sleep(delayMs);
    if (Number.isNaN(sub.reconnectAt)) sub.reconnectAt = now();
    for (;;) {
      try {
        return await connect(sub);
      } catch (error) {
        if (sub.retries >= RETRY_ATTEMPTS) return fail(sub, `gave up reconnecting: ${(error as Error).message}`);
        retries++;
        const reason = (error as Error).message;
        retryReasons.set(reason, (retryReasons.get(reason) ?? 0) + 1);
        await sleep(retryWaitMs(sub.retries++));
      }
    }
  };

  for (let first = 0; first < subscribers.length; first += CONNECT_BATCH) {
    await Promise.all(subscribers.slice(first, first + CONNECT_BATCH).map(connect));
  }
  for (let round = 0; subscribers.some((s) => !s.warm); round++) {
    if (round === 100) throw new Error('warm-up: some subscribers never received a message');
    await Promise.all(Array.from({ length: scenario.topics }, (_, t) => publish(t, benchPayload(WARM_SEQ, now()))));
    await sleep(100);
  }
  process.send?.({ type: 'subscribed' });
  await nextCommand(); // go: the steady phase before the cut is this scenario's warm-up
  process.send?.({ type: 'warmed' });
  await nextCommand(); // storm

  /**
   * Resolves once `done()` or `givenUp()` holds, polled every 50 ms: checking after every delivery
   * would cost a pass over all subscribers per frame. Each catch-up is timed at its own delivery.
   */
  const until = (done: () => boolean, givenUp: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const timer = setInterval(() => {
        if (!done() && !givenUp()) return;
        clearInterval(timer);
        resolve();
      }, 50);
    });

  // Per topic, seq n is due at start + n × interval, topics staggered across one interval.
  const interval = (1000 * scenario.connections) / scenario.deliveriesPerSecond!;
  let publishing = true;
  const publishStart = now();
  const publishers = Array.from({ length: scenario.topics }, async (_, topic) => {
    const start = publishStart + (topic * interval) / scenario.topics;
    for (let seq = 0; publishing;) {
      const wait = start + seq * interval - now();
      if (wait > 1) await sleep(wait);
      try {
        await publish(topic, benchPayload(seq, now()));
        answered[topic] = seq++;
      } catch (error) {
        // Retried with the same seq at its next slot: a refused publish was not stamped.
        if (failedPublishes++ === 0) process.stderr.write(`bench: a publish failed: ${(error as Error).message}\n`);
      }
    }
  });

  await sleep(storm.steadyMs);
  const cutAt = now();
  storming = true;
  for (const sub of subscribers) {
    sub.nextAtCut = sub.next;
    deliberatelyCut.add(sub.socket!);
    sub.socket!.terminate();
    const [low, high] = storm.reconnectDelayMs;
    void reconnect(sub, low + Math.random() * (high - low));
  }
  const settled = (sub: Subscriber): boolean => sub.failed !== undefined || !Number.isNaN(sub.caughtUpAt);
  await until(
    () => subscribers.every(settled),
    () => now() - cutAt > CATCH_UP_TIMEOUT_MS,
  );
  for (const sub of subscribers) {
    if (settled(sub)) continue;
    fail(
      sub,
      Number.isNaN(sub.target)
        ? `not resubscribed in ${CATCH_UP_TIMEOUT_MS / 1000} s (attempt ${sub.retries + 1}, ${sub.phase === 'connecting' ? 'no WebSocket yet' : 'no connection_ack yet'})`
        : `resubscribed but never received seq ${sub.target} (next expected ${sub.next}) in ${CATCH_UP_TIMEOUT_MS / 1000} s`,
    );
  }

  await sleep(storm.afterMs);
  publishing = false;
  await Promise.all(publishers);
  const complete = (sub: Subscriber): boolean => sub.failed !== undefined || sub.next > answered[sub.topic]!;
  await until(
    () => subscribers.every(complete),
    () => now() - lastDelivery > SETTLE_MS,
  );
  for (const sub of subscribers) if (sub.failed === undefined) lost += Math.max(0, answered[sub.topic]! + 1 - sub.next);

  const ok = subscribers.filter((sub) => sub.failed === undefined);
  const quantiles = (values: number[]): Quantiles => {
    const sorted = Float64Array.from(values).sort();
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]! };
  };
  const result: StormResult = {
    subscribers: subscribers.length,
    caughtUp,
    failed: subscribers.length - ok.length,
    errors: [...failures].map(([reason, count]) => `${count}× ${reason}`).slice(0, 5),
    catchUpFromCutMs: quantiles(ok.map((sub) => sub.caughtUpAt - cutAt)),
    catchUpFromReconnectMs: quantiles(ok.map((sub) => sub.caughtUpAt - sub.reconnectAt)),
    missed: quantiles(ok.map((sub) => sub.target - sub.nextAtCut + 1)),
    lost,
    duplicates,
    retries,
    retryReasons: [...retryReasons].map(([reason, count]) => `${count}× ${reason}`).slice(0, 5),
    published: answered.reduce((sum, seq) => sum + seq + 1, 0),
    failedPublishes,
    delivered,
  };
  for (const sub of subscribers) sub.socket?.terminate();
  publisher.close();
  // Exits when told: the harness reads this process's CPU time first.
  process.send?.({ type: 'storm-result', result });
  await nextCommand();
  process.exit(0);
}
