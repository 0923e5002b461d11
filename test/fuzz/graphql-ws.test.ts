import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyJson, hostileText, invalidUtf8, mintTokenPool, tokenFrom, type TokenPool } from './arbitraries.js';
import { undocumentedGraphqlCodes } from './answers.js';
import { GRAPHQL_WS_CLOSE_CODES } from './documented-codes.js';
import { fuzz, FuzzTally, inParallel, watchUnhandled } from './fuzz-run.js';
import { assertStillServes, heapBaseline, startFuzzGateway, waitUntilIdle, type FuzzGateway } from './gateway.js';
import { graphqlRequest } from './graphql-documents.js';
import { until } from '../helpers/until.js';
import { openRawSocket, type WsFrame } from './ws-session.js';

/**
 * (b) graphql-ws frames: before and after connection_init, binary, oversized, duplicate ids, rapid
 * subscribe/complete, garbage JSON, wrong field types. Each session is one connection; each run
 * opens a few at once.
 */

const INPUTS = 2_000;
const SERVER_MESSAGE_TYPES = new Set(['connection_ack', 'ping', 'pong', 'next', 'error', 'complete']);

/** One generated graphql-ws connection. */
interface GraphqlWsSession {
  readonly protocol: string | undefined;
  /** A valid token sent in a connection_init (and its ack awaited) before the frames; undefined: none. */
  readonly initFirst: string | undefined;
  readonly frames: readonly WsFrame[];
}

function sessions(tokens: TokenPool): fc.Arbitrary<GraphqlWsSession> {
  const id = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('1', '2', 'a', '') }, { weight: 1, arbitrary: hostileText }, { weight: 1, arbitrary: anyJson });
  const initPayload = fc.oneof(
    tokenFrom(tokens).map((token) => ({ token })),
    tokenFrom(tokens).map((token) => ({ authorization: `Bearer ${token}` })),
    anyJson,
  );
  const message: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 1, arbitrary: fc.record({ type: fc.constant('connection_init'), payload: initPayload }, { requiredKeys: ['type'] }) },
    {
      weight: 6,
      arbitrary: fc.record(
        { id, type: fc.constant('subscribe'), payload: fc.oneof({ weight: 6, arbitrary: graphqlRequest() }, { weight: 1, arbitrary: anyJson }) },
        { requiredKeys: ['type'] },
      ),
    },
    { weight: 3, arbitrary: fc.record({ id, type: fc.constant('complete') }, { requiredKeys: ['type'] }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constantFrom('ping', 'pong'), payload: anyJson }, { requiredKeys: ['type'] }) },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.oneof(fc.constantFrom('connection_ack', 'next', 'error', 'start', 'stop', 'connection_terminate'), hostileText, anyJson),
        id,
        payload: anyJson,
      }),
    },
  );
  const rapid = fc
    .record({ id: fc.constantFrom('r1', 'r2'), times: fc.integer({ min: 2, max: 20 }) })
    .map(({ id, times }) =>
      Array.from({ length: times }, () => [
        { text: JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { topic(name: "fuzz/rapid") { id } }' } }) },
        { text: JSON.stringify({ id, type: 'complete' }) },
      ]).flat(),
    );
  const frame: fc.Arbitrary<WsFrame[]> = fc.oneof(
    { weight: 12, arbitrary: message.map((value) => [{ text: JSON.stringify(value) }]) },
    { weight: 2, arbitrary: hostileText.map((text) => [{ text }]) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => [{ binary }]) },
    { weight: 1, arbitrary: invalidUtf8.map((invalidText) => [{ invalidText }]) },
    { weight: 1, arbitrary: fc.constant<WsFrame[]>([{ oversized: 33 * 1024 }]) },
    { weight: 1, arbitrary: rapid },
  );
  return fc.record({
    // No subprotocol at all (4406). A wrong one cannot be tried with `ws`: its client aborts the
    // handshake itself when the server picks none of the offered protocols.
    protocol: fc.oneof({ weight: 12, arbitrary: fc.constant<string | undefined>('graphql-transport-ws') }, { weight: 1, arbitrary: fc.constant(undefined) }),
    initFirst: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(tokens.all, tokens.limited, tokens.subscribeOnly) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    frames: fc.array(frame, { minLength: 1, maxLength: 10 }).map((groups) => groups.flat()),
  });
}

/** Every server frame is a graphql-ws message with documented codes; a close is a documented code. */
function transcriptProblem(received: readonly string[], closed: { code: number; reason: string; byClient: boolean } | undefined): string | undefined {
  if (closed !== undefined && !closed.byClient && !GRAPHQL_WS_CLOSE_CODES.has(closed.code)) return `closed ${closed.code} ${closed.reason}`;
  for (const text of received) {
    let message: { type?: unknown; payload?: unknown };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return `not JSON: ${text.slice(0, 200)}`;
    }
    if (typeof message.type !== 'string' || !SERVER_MESSAGE_TYPES.has(message.type)) return `unknown message ${text.slice(0, 200)}`;
    const problem =
      message.type === 'error' ? undocumentedGraphqlCodes(message.payload) : message.type === 'next' ? undocumentedGraphqlCodes(message.payload) : undefined;
    if (problem !== undefined) return problem;
  }
  return undefined;
}

describe('fuzz: graphql-ws frames', () => {
  const tally = new FuzzTally('graphql-ws');
  let gateway: FuzzGateway;
  let tokens: TokenPool;
  let unhandled: ReturnType<typeof watchUnhandled>;

  beforeAll(async () => {
    unhandled = watchUnhandled();
    gateway = await startFuzzGateway();
    tokens = await mintTokenPool();
  });
  afterAll(async () => {
    unhandled.stop();
    await gateway.stop();
    console.log(tally.summary());
  });

  async function runSession(session: GraphqlWsSession): Promise<void> {
    const socket = await openRawSocket(gateway.wsUrl, session.protocol);
    try {
      if (session.initFirst !== undefined) {
        socket.send({ text: JSON.stringify({ type: 'connection_init', payload: { token: session.initFirst } }) });
        await socket.until((frame) => frame.includes('"connection_ack"'), 'connection_ack');
      }
      for (const frame of session.frames) socket.send(frame);
      // The server answers pings in order: once this pong is back, every frame before it was read.
      const nonce = `fuzz-${Math.random()}`;
      socket.send({ text: JSON.stringify({ type: 'ping', payload: { nonce } }) });
      await socket.until((frame) => frame.includes(nonce), 'the closing pong');
    } finally {
      await socket.close();
    }
    const problem = transcriptProblem(socket.transcript.received, socket.transcript.closed);
    if (problem !== undefined) throw new Error(problem);
  }

  const runBatch = async (batch: readonly GraphqlWsSession[]): Promise<number> => {
    const before = gateway.app.fanout.size;
    await inParallel(batch, batch.length, runSession);
    // Every connection of the batch is closed: whatever it subscribed must be released.
    await until(() => gateway.app.fanout.size <= before, 'the batch: its subscriptions released', 2_000).catch(() => {
      throw new Error(`the batch left ${gateway.app.fanout.size - before} subscriptions registered after its connections closed`);
    });
    const errors = gateway.takeErrorLogs();
    if (errors.length > 0) throw new Error(`the gateway logged errors:\n${errors.join('\n').slice(0, 2_000)}`);
    if (unhandled.seen.length > 0) throw new Error(`unhandled: ${String(unhandled.seen.splice(0)[0])}`);
    return batch.reduce((sum, session) => sum + session.frames.length + (session.initFirst === undefined ? 0 : 1), 0);
  };

  it(`answers ${INPUTS} generated frames with documented messages and close codes, keeps serving, and its heap returns to the baseline`, async () => {
    const batches = fc.array(sessions(tokens), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(batches, async (batch) => {
        await runBatch(batch);
      }),
      { seed: 1, numRuns: 40 },
    );
    await waitUntilIdle(gateway, 'graphql-ws warm-up');
    const baseline = await heapBaseline();

    await fuzz(tally, 'graphql-ws', batches, runBatch, 260);
    await assertStillServes(gateway, 'graphql-ws');
    await waitUntilIdle(gateway, 'graphql-ws');
    await baseline.assertReturned('graphql-ws');
    expect(tally.count('graphql-ws')).toBeGreaterThanOrEqual(INPUTS);
  }, 120_000);
});
