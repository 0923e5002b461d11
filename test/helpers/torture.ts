import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Client } from 'graphql-ws';
import { createClient } from 'herald/client';
import { until } from './until.js';

/**
 * The resume torture test's machinery (issue 17): a publisher sends 1..N to one topic at a steady
 * rate while K herald/client subscribers have their sockets cut at seeded random moments; each must
 * end holding exactly 1..N. The test supplies how to publish and where to connect; this runs it.
 */

/** How a subscriber's socket is cut. */
export type CutKind = 'server-terminate' | 'client-terminate' | 'client-close';

/** mulberry32: small, seedable, good enough to spread cuts. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** TORTURE_SEED replays a failed run; otherwise a fresh seed each run. */
export function tortureSeed(): number {
  const fixed = process.env.TORTURE_SEED;
  return fixed !== undefined && fixed !== '' ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}

/**
 * Server sockets accepted in this process, by the client port they serve, so a test can cut a
 * graphql-ws connection from the server's side (what a load balancer or a crashed peer does) without
 * reaching into Herald: Node publishes every accepted socket on this diagnostics channel.
 */
export function watchServerSockets(): { socketFor(clientPort: number): Socket | undefined; stop(): void } {
  const open = new Map<number, Socket>();
  const onSocket = (message: unknown): void => {
    const { socket } = message as { socket: Socket };
    const port = socket.remotePort;
    if (port === undefined) return;
    open.set(port, socket);
    socket.once('close', () => {
      if (open.get(port) === socket) open.delete(port);
    });
  };
  subscribeChannel('net.server.socket', onSocket);
  return { socketFor: (clientPort) => open.get(clientPort), stop: () => unsubscribeChannel('net.server.socket', onSocket) };
}

export interface TortureOptions {
  readonly seed: number;
  /** Messages, published as the numbers 1..n. */
  readonly n: number;
  /** Subscribers. */
  readonly k: number;
  /** How long the publisher takes for all n at its steady rate. */
  readonly publishMs: number;
  /** Cuts scheduled per subscriber: from min to max inclusive, during publishing. */
  readonly cutsPerSubscriber: readonly [number, number];
  readonly cutKinds: readonly CutKind[];
  /** Where subscriber `subscriber` connects on its `attempt`-th connection (0 first). */
  readonly url: (subscriber: number, attempt: number) => string;
  readonly connectionParams: Record<string, unknown>;
  readonly topic: string;
  /** Publishes one number (to a marker first: 0, whose id every subscription starts after); resolves with the Message.id. */
  readonly publish: (payload: number) => Promise<string>;
  /** Needed for server-terminate. */
  readonly serverSockets?: ReturnType<typeof watchServerSockets>;
  /** Run between two publishes once `at` numbers have been published (a publisher is never mid-request then). */
  readonly midRun?: { readonly at: number; readonly run: () => void };
  /** How long subscribers may take to catch up after the last publish. */
  readonly settleMs?: number;
}

export interface TortureResult {
  readonly received: readonly (readonly number[])[];
  /** Cuts made, by kind (a scheduled cut that found its subscriber between sockets is not made). */
  readonly cuts: Record<CutKind, number>;
  readonly cutsSkipped: number;
  /** Connections each subscriber opened, by URL in order. */
  readonly connections: readonly (readonly string[])[];
  /** Errors or completions any subscription reported (must be none). */
  readonly failures: readonly string[];
  /** Each delivery that was not the next number: which, after what, on which connection, how many messages into it. */
  readonly anomalies: readonly string[];
  readonly publishedMs: number;
  readonly caughtUpMs: number;
}

const SUBSCRIPTION = 'subscription($name: String!, $after: ID) { topic(name: $name, after: $after) { id payload } }';

export async function runTorture(options: TortureOptions): Promise<TortureResult> {
  const random = prng(options.seed);
  const { n, k } = options;
  const marker = await options.publish(0);

  const received: number[][] = [];
  const connections: string[][] = [];
  const sockets: (WebSocket | undefined)[] = [];
  /** Per subscriber: connection number to how many messages it held when that connection delivered its first. */
  const firstOnConnection: Map<number, number>[] = [];
  const failures: string[] = [];
  const anomalies: string[] = [];
  const clients: Client[] = [];
  const disposers: (() => void)[] = [];
  for (let i = 0; i < k; i++) {
    received.push([]);
    connections.push([]);
    firstOnConnection.push(new Map());
    sockets.push(undefined);
    let attempt = 0;
    const url = (): string => options.url(i, attempt++);
    class Tracked extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        connections[i]!.push(String(args[0]));
        // eslint-disable-next-line @typescript-eslint/no-this-alias -- the schedule cuts this very socket
        const socket = this;
        sockets[i] = socket;
        socket.once('close', () => {
          if (sockets[i] === socket) sockets[i] = undefined;
        });
      }
    }
    const client = createClient({
      url,
      webSocketImpl: Tracked,
      connectionParams: options.connectionParams,
      retryAttempts: 1_000,
      shouldRetry: () => true,
      retryWait: () => new Promise((resolve) => setTimeout(resolve, Math.random() * 20)),
    });
    clients.push(client);
    // The document's after is the marker, so a subscription that starts (or is cut) before its first
    // message still begins at 1; herald/client's own cursor replaces it once a message came.
    disposers.push(
      client.subscribe<{ topic: { id: string; payload: number } }>(
        { query: SUBSCRIPTION, variables: { name: options.topic, after: marker } },
        {
          next: (result) => {
            if (result.data == null) failures.push(`subscriber ${i}: result without data ${JSON.stringify(result.errors)}`);
            else {
              const got = received[i]!;
              const payload = result.data.topic.payload;
              if (payload !== (got.at(-1) ?? 0) + 1) {
                const connection = connections[i]!.length;
                const into = got.length - (firstOnConnection[i]!.get(connection) ?? got.length);
                anomalies.push(
                  `subscriber ${i}: ${payload} (id ${result.data.topic.id}) after ${got.at(-1) ?? 'nothing'}, ` +
                    `message ${into + 1} on connection ${connection} (${connections[i]!.at(-1)}, previous ${connections[i]!.at(-2) ?? 'none'})`,
                );
              }
              if (!firstOnConnection[i]!.has(connections[i]!.length)) firstOnConnection[i]!.set(connections[i]!.length, got.length);
              got.push(payload);
            }
          },
          error: (error) => failures.push(`subscriber ${i}: error ${JSON.stringify(error)}`),
          complete: () => failures.push(`subscriber ${i}: completed`),
        },
      ),
    );
  }

  // Every subscriber connected once before the publisher starts (its replay may still be running).
  await until(() => sockets.every((socket) => socket?.readyState === WebSocket.OPEN), 'every subscriber connected');

  const cuts: Record<CutKind, number> = { 'server-terminate': 0, 'client-terminate': 0, 'client-close': 0 };
  let cutsSkipped = 0;
  const timers: NodeJS.Timeout[] = [];
  /** Whether the cut was made: the subscriber may be between sockets. */
  const tryCut = (socket: WebSocket | undefined, kind: CutKind): boolean => {
    if (socket?.readyState !== WebSocket.OPEN) return false;
    if (kind === 'client-close') socket.close(4000, 'torture: client-side close');
    else if (kind === 'client-terminate') socket.terminate();
    else {
      const server = options.serverSockets?.socketFor(localPort(socket));
      if (server === undefined) return false;
      // What ws's terminate does on the server's side: the TCP socket goes, no close frame.
      server.destroy();
    }
    return true;
  };
  const cut = (subscriber: number, kind: CutKind): void => {
    if (tryCut(sockets[subscriber], kind)) cuts[kind]++;
    else cutsSkipped++;
  };

  const start = Date.now();
  for (let i = 0; i < k; i++) {
    const [min, max] = options.cutsPerSubscriber;
    const count = min + Math.floor(random() * (max - min + 1));
    for (let c = 0; c < count; c++) {
      const at = options.publishMs * (0.02 + 0.96 * random());
      const kind = options.cutKinds[Math.floor(random() * options.cutKinds.length)]!;
      timers.push(setTimeout(() => cut(i, kind), at));
    }
  }

  try {
    const interval = options.publishMs / n;
    for (let number = 1; number <= n; number++) {
      if (options.midRun !== undefined && number - 1 === options.midRun.at) options.midRun.run();
      const due = start + (number - 1) * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await options.publish(number);
    }
    const publishedMs = Date.now() - start;
    await until(
      () => failures.length > 0 || received.every((got) => got.length >= n),
      `every subscriber to hold ${n} messages (have ${received.map((got) => got.length).join(',')})`,
      options.settleMs ?? 20_000,
    );
    const caughtUpMs = Date.now() - start;
    return { received, cuts, cutsSkipped, connections, failures, anomalies, publishedMs, caughtUpMs };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const dispose of disposers) dispose();
    for (const client of clients) await client.dispose();
  }
}

/** The local port of a client WebSocket's TCP connection (which the server sees as the remote port). */
function localPort(socket: WebSocket): number {
  return (socket as unknown as { _socket?: Socket })._socket?.localPort ?? -1;
}

/** 1..n, what every subscriber must hold. */
export const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** A one-line account of a run, for the log and the issue's note. */
export function describeRun(label: string, options: TortureOptions, result: TortureResult): string {
  const total = Object.values(result.cuts).reduce((a, b) => a + b, 0);
  const connections = result.connections.reduce((sum, list) => sum + list.length, 0);
  return (
    `${label}: seed=${options.seed} N=${options.n} K=${options.k} cuts=${total} ` +
    `(${Object.entries(result.cuts)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ')}; ${result.cutsSkipped} skipped between sockets) connections=${connections} ` +
    `published in ${result.publishedMs} ms, all caught up at ${result.caughtUpMs} ms`
  );
}
