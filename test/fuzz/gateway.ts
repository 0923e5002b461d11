import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import type { App } from '../../src/app.js';
import { startHerald, token, waitForSubscribers } from '../helpers/herald.js';
import { heapProblem, settledHeapBytes } from './heap.js';
import { within } from './fuzz-run.js';
import { until } from '../helpers/until.js';
import { openRawSocket, type RawSocket } from './ws-session.js';

/** The gateway every fuzz file runs against: small limits, so oversized inputs stay cheap to send. */
export const FUZZ_LIMITS = {
  MAX_BODY_BYTES: String(32 * 1024),
  MAX_PAYLOAD_BYTES: String(8 * 1024),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: '8',
} as const;

export interface FuzzGateway {
  readonly app: App;
  readonly baseUrl: string;
  readonly httpUrl: string;
  readonly wsUrl: string;
  /**
   * Log lines at error level or above since the last take. Error level is for what an operator must
   * act on (an internal error, masked as a 500, ESERVER_UNKNOWN or 4500); no client input may cause one.
   */
  takeErrorLogs(): string[];
  stop(): Promise<void>;
}

export async function startFuzzGateway(env: Record<string, string> = {}): Promise<FuzzGateway> {
  let errors: string[] = [];
  // The logger's level is error: every line it writes counts.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      errors.push(chunk.toString('utf8').trim());
      done();
    },
  });
  const herald = await startHerald({ ...FUZZ_LIMITS, ...env }, { logger: pino({ level: 'error' }, sink) });
  return {
    app: herald.app,
    baseUrl: herald.baseUrl,
    httpUrl: herald.httpUrl,
    wsUrl: herald.wsUrl,
    takeErrorLogs() {
      const taken = errors;
      errors = [];
      return taken;
    },
    stop: () => herald.stop(),
  };
}

/**
 * The gateway still serves: a real graphql-ws subscriber of a fresh topic receives a message
 * published with a real HTTP mutation. Raw `ws` frames, so nothing of the client library stays behind.
 */
export async function assertStillServes(gateway: FuzzGateway, label: string): Promise<void> {
  const audience = 'fuzz-alive';
  const topic = `alive/${label}/${Date.now()}`;
  const bearer = await token({ audience, scopes: ['subscribe', 'publish'] });
  const ws = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
  try {
    const frames: Array<Record<string, any>> = [];
    let wake = (): void => {};
    ws.on('message', (data) => {
      frames.push(JSON.parse((data as Buffer).toString()) as Record<string, any>);
      wake();
    });
    const frame = (match: (frame: Record<string, any>) => boolean): Promise<Record<string, any>> =>
      new Promise((resolve) => {
        const check = (): void => {
          const found = frames.find(match);
          if (found !== undefined) resolve(found);
        };
        wake = check;
        check();
      });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    await within(
      5_000,
      `${label}: connection_ack`,
      frame((f) => f.type === 'connection_ack'),
    );
    ws.send(
      JSON.stringify({ id: 's', type: 'subscribe', payload: { query: 'subscription($t: String!) { topic(name: $t) { payload } }', variables: { t: topic } } }),
    );
    await within(5_000, `${label}: subscriber counted`, waitForSubscribers(gateway.app, audience, topic));
    const response = await fetch(gateway.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query: 'mutation($t: String!) { publish(topic: $t, payload: {alive: true}) { id } }', variables: { t: topic } }),
    });
    if (response.status !== 200) throw new Error(`${label}: the liveness publish got ${response.status}: ${await response.text()}`);
    const next = await within(
      5_000,
      `${label}: the liveness message`,
      frame((f) => f.type === 'next'),
    );
    if (JSON.stringify(next.payload) !== JSON.stringify({ data: { topic: { payload: { alive: true } } } })) {
      throw new Error(`${label}: the liveness subscriber got ${JSON.stringify(next)}`);
    }
  } finally {
    ws.close();
    await new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve(undefined) : ws.once('close', resolve)));
  }
}

const LIVENESS_AUDIENCE = 'fuzz-alive';
let livenessToken: Promise<string> | undefined;
let livenessRound = 0;

/**
 * One liveness round on a compat surface: `subscribe` opens a real subscriber of a fresh topic (in
 * an audience of its own, apart from the fuzz input), the round waits for the gateway to count it,
 * `publish` sends a real message, and the subscriber must receive exactly `expected`. Afterwards the
 * subscriber's subscriptions must be released again.
 */
async function assertCompatServes(
  gateway: FuzzGateway,
  label: string,
  round: {
    readonly open: (bearer: string) => Promise<RawSocket>;
    readonly subscribe: (socket: RawSocket, topic: string, bearer: string) => void;
    readonly publish: (topic: string, bearer: string, nonce: string) => Promise<Response>;
    readonly expected: (nonce: string) => string;
  },
): Promise<void> {
  livenessToken ??= token({ audience: LIVENESS_AUDIENCE, scopes: ['subscribe', 'publish'] });
  const bearer = await livenessToken;
  const nonce = `${label}-${++livenessRound}`;
  const topic = `alive/${nonce}`;
  const before = gateway.app.fanout.size;
  const socket = await within(5_000, `${label}: the liveness socket`, round.open(bearer));
  try {
    round.subscribe(socket, topic, bearer);
    await within(5_000, `${label}: liveness subscriber counted`, waitForSubscribers(gateway.app, LIVENESS_AUDIENCE, topic));
    const response = await round.publish(topic, bearer, nonce);
    if (response.status !== 200) throw new Error(`${label}: the liveness publish got ${response.status}: ${await response.text()}`);
    const expected = round.expected(nonce);
    await socket.until((frame) => frame === expected, `${label}: the liveness message`);
    if (!socket.transcript.received.includes(expected)) {
      throw new Error(
        `${label}: the liveness subscriber closed (${JSON.stringify(socket.transcript.closed)}) after ${JSON.stringify(socket.transcript.received)}`,
      );
    }
  } finally {
    await socket.close();
  }
  await until(() => gateway.app.fanout.size <= before, `${label}: the liveness subscriber released`, 5_000);
}

const wsOrigin = (gateway: FuzzGateway): string => gateway.baseUrl.replace(/^http/, 'ws');

/** courier still serves: a courier socket subscribed to a fresh topic receives a message POSTed to /v1/hook. */
export function assertCourierServes(gateway: FuzzGateway, label: string): Promise<void> {
  return assertCompatServes(gateway, label, {
    async open(bearer) {
      const socket = await openRawSocket(`${wsOrigin(gateway)}/ws?token=${bearer}`);
      await socket.until(() => true, `${label}: the connection id`);
      return socket;
    },
    subscribe: (socket, topic) => socket.send({ text: JSON.stringify({ action: 'subscribe', topic }) }),
    publish: (topic, bearer, nonce) =>
      fetch(`${gateway.baseUrl}/v1/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ action: 'publish', topic, message: { alive: nonce } }),
      }),
    expected: (nonce) => JSON.stringify({ alive: nonce }),
  });
}

/** notiflux still serves: a `/subscribe`d notiflux socket receives a message POSTed to /broadcast. */
export function assertNotifluxServes(gateway: FuzzGateway, label: string): Promise<void> {
  return assertCompatServes(gateway, label, {
    open: () => openRawSocket(`${wsOrigin(gateway)}/ws`),
    subscribe: (socket, topic, bearer) => socket.send({ text: `/subscribe ${topic} ${bearer}` }),
    publish: (topic, bearer, nonce) =>
      fetch(`${gateway.baseUrl}/broadcast`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic, message: `alive ${nonce}`, token: bearer }),
      }),
    expected: (nonce) => `alive ${nonce}`,
  });
}

/** Resolves once the gateway holds no WebSocket connection and no subscription of any surface. */
export async function waitUntilIdle(gateway: FuzzGateway, label: string, timeoutMs = 10_000): Promise<void> {
  await until(
    () => gateway.app.graphqlWs.connections === 0 && gateway.app.fanout.size === 0,
    `${label}: every connection and subscription released`,
    timeoutMs,
  ).catch((error: unknown) => {
    const state = `graphql-ws connections ${gateway.app.graphqlWs.connections}, fan-out entries ${gateway.app.fanout.size}`;
    throw new Error(`${(error as Error).message} (${state})`);
  });
}

/** Heap baseline and the check against it; a check that fails says by how much. */
export async function heapBaseline(): Promise<{ readonly bytes: number; assertReturned(label: string): Promise<void> }> {
  const bytes = await settledHeapBytes();
  return {
    bytes,
    async assertReturned(label) {
      const after = await settledHeapBytes();
      if (process.env.FUZZ_HEAP_LOG !== undefined) console.log(`${label}: heap ${(bytes / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MB`);
      const problem = heapProblem(bytes, after);
      if (problem !== undefined) throw new Error(`${label}: ${problem}`);
    },
  };
}
