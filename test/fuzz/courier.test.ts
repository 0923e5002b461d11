import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  anyJson,
  bodyFraming,
  hostileText,
  invalidUtf8,
  jsonText as json,
  messageText,
  mintTokenPool,
  tokenFrom,
  topicLike,
  type TokenPool,
} from './arbitraries.js';
import { courierFrameProblem, courierHttpProblem, publishedTexts } from './answers.js';
import { COURIER_CLOSE_CODES } from './documented-codes.js';
import { fuzz, FuzzTally, latch, warmUp, watchUnhandled, within } from './fuzz-run.js';
import { assertCourierServes, heapBaseline, startFuzzGateway, waitUntilIdle, type FuzzGateway } from './gateway.js';
import { createHttpClient, headerSafe, type HttpInput } from './http-client.js';
import { until } from '../helpers/until.js';
import { openRawSocket, UpgradeRefused, type WsFrame } from './ws-session.js';

/**
 * (c) courier: JSON action frames on its /ws?token= socket (subscribe, unsubscribe, publish,
 * broadcast; garbage JSON, wrong field types, unknown actions, huge and odd topics, binary and
 * oversized frames, rapid subscribe/unsubscribe, more subscriptions than the cap) and bodies of its
 * REST routes (/v1/hook, /v1/topic, /v1/audience, /v1/sign). Each run is a batch of sockets and
 * requests sent at once, so one client's publishes and broadcasts reach the others.
 */

const FRAME_INPUTS = 2_000;
const REST_INPUTS = 2_000;

/** One generated courier socket. */
interface CourierSession {
  /** The `?token=` credential: a pool token, a /v1/sign key, or garbage. */
  readonly token: string;
  readonly frames: readonly WsFrame[];
  /** After its frames: wait for every answer and close, or drop the connection at once (answers and subscribes still in flight). */
  readonly leave: 'after-answers' | 'at-once';
}

interface CourierBatch {
  readonly sessions: readonly CourierSession[];
  readonly requests: readonly HttpInput[];
}

/** A JSON member `"key":<text>`; the texts are JSON already, so duplicate keys and deep nesting can be sent. */
const member = (key: string, text: string | null): string[] => (text === null ? [] : [`${JSON.stringify(key)}:${text}`]);

/** `{"action","topic","message"}` with right and wrong values, missing and duplicate fields. */
function actionText(actions: readonly string[]): fc.Arbitrary<string> {
  const action = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...actions) },
    { weight: 1, arbitrary: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'broadcast', 'Subscribe', 'PUBLISH', 'subscribe ', 'join', 'send', '') },
    { weight: 1, arbitrary: hostileText },
    { weight: 1, arbitrary: anyJson },
  );
  const topic = fc.oneof(
    { weight: 8, arbitrary: topicLike },
    // Topics the batch's publishes go to and patterns that match them, so that some are delivered.
    { weight: 4, arbitrary: fc.constantFrom(...(actions.includes('subscribe') ? ['fuzz/a', 'fuzz/b', 'fuzz/*', '**'] : ['fuzz/a', 'fuzz/b'])) },
    { weight: 1, arbitrary: fc.integer({ min: 258, max: 20_000 }).map((length) => 'h'.repeat(length)) },
    { weight: 1, arbitrary: anyJson },
  );
  return fc
    .record({
      action: fc.option(action.map(json), { freq: 16 }),
      topic: fc.option(topic.map(json), { freq: 10 }),
      message: fc.option(messageText, { freq: 3 }),
      extra: fc.option(fc.tuple(fc.constantFrom('action', 'topic', 'message', 'token', 'id', '__proto__'), anyJson.map(json)), { freq: 8 }),
    })
    .map(({ action, topic, message, extra }) =>
      [
        '{',
        [...member('action', action), ...member('topic', topic), ...member('message', message), ...(extra === null ? [] : member(...extra))].join(','),
        '}',
      ].join(''),
    );
}

function sessions(tokens: TokenPool, signedKeys: readonly string[]): fc.Arbitrary<CourierSession> {
  const text = (value: string): WsFrame[] => [{ text: value }];
  const subscribeFrame = (topic: string): WsFrame => ({ text: JSON.stringify({ action: 'subscribe', topic }) });
  const rapid = fc
    .record({ topic: fc.constantFrom('fuzz/rapid', 'fuzz/*', '**'), times: fc.integer({ min: 2, max: 20 }) })
    .map(({ topic, times }) => Array.from({ length: times }, () => [subscribeFrame(topic), { text: JSON.stringify({ action: 'unsubscribe', topic }) }]).flat());
  // FUZZ_LIMITS allows 8 per connection: the rest get ERATE_LIMITED.
  const overCap = fc.integer({ min: 9, max: 12 }).map((count) => Array.from({ length: count }, (_, i) => subscribeFrame(`fuzz/cap/${i}`)));
  // Well-formed, to the batch's publish topics: subscriptions that should receive them.
  const deliverable = fc.constantFrom('fuzz/a', 'fuzz/b', 'fuzz/*', '**').map((topic) => [subscribeFrame(topic)]);
  const frame: fc.Arbitrary<WsFrame[]> = fc.oneof(
    { weight: 14, arbitrary: actionText(['subscribe', 'unsubscribe', 'publish', 'broadcast']).map(text) },
    { weight: 4, arbitrary: deliverable },
    { weight: 2, arbitrary: hostileText.map(text) },
    { weight: 1, arbitrary: anyJson.map((value) => text(json(value))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => [{ binary }]) },
    { weight: 1, arbitrary: invalidUtf8.map((invalidText) => [{ invalidText }]) },
    // courier read binary frames as text: a binary action is still an action.
    { weight: 1, arbitrary: actionText(['subscribe', 'publish']).map((value) => [{ binary: Buffer.from(value) }]) },
    { weight: 1, arbitrary: fc.constant<WsFrame[]>([{ oversized: 33 * 1024 }]) },
    { weight: 1, arbitrary: rapid },
    { weight: 1, arbitrary: overCap },
  );
  return fc.record({
    token: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(tokens.all, tokens.limited, tokens.subscribeOnly, tokens.publishOnly, ...signedKeys) },
      { weight: 2, arbitrary: tokenFrom(tokens) },
    ),
    frames: fc.array(frame, { minLength: 1, maxLength: 8 }).map((groups) => groups.flat()),
    leave: fc.oneof({ weight: 5, arbitrary: fc.constant('after-answers' as const) }, { weight: 1, arbitrary: fc.constant('at-once' as const) }),
  });
}

function requests(tokens: TokenPool): fc.Arbitrary<HttpInput> {
  const authorization = fc.option(
    fc.oneof({ weight: 6, arbitrary: fc.constant(tokens.all) }, { weight: 3, arbitrary: tokenFrom(tokens) }).map((token) => `Bearer ${headerSafe(token)}`),
    { freq: 12 },
  );
  const contentType = fc.option(fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded'), { freq: 6 });
  const headers = fc.record({ authorization, contentType }).map(({ authorization, contentType }) => ({
    ...(authorization !== null && { authorization }),
    ...(contentType !== null && { 'content-type': contentType }),
  }));
  const garbage = fc.oneof(
    hostileText,
    anyJson.map(json),
    fc.integer({ min: 33 * 1024, max: 36 * 1024 }).map((size) => JSON.stringify({ action: 'publish', topic: 'fuzz/a', message: { pad: 'x'.repeat(size) } })),
  );
  const body = (good: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> =>
    fc.oneof({ weight: 8, arbitrary: good }, { weight: 2, arbitrary: garbage }, { weight: 1, arbitrary: fc.constant(undefined) });
  // Well-formed, to the sockets' topics: what the subscriptions of the batch should receive.
  const deliverable = fc
    .record({ action: fc.constantFrom('publish', 'publish', 'broadcast'), topic: fc.constantFrom('fuzz/a', 'fuzz/b'), message: messageText })
    .map(({ action, topic, message }) => `{"action":${json(action)},"topic":${json(topic)},"message":${message}}`);
  const topicBody = fc
    .record({ topic: fc.option(fc.oneof({ weight: 6, arbitrary: topicLike }, { weight: 1, arbitrary: anyJson }), { freq: 10 }) })
    .map(({ topic }) => (topic === null ? '{}' : JSON.stringify({ topic })));
  const param = (value: string): string => {
    try {
      return encodeURIComponent(value);
    } catch {
      return encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '\ufffd'));
    }
  };
  const signQuery = fc
    .record({
      ttl: fc.option(fc.oneof(fc.constantFrom('0', '1', '60', '3600', '3601', '-1', '1.5', '1e3', '', ' 60', '0x10', '99999999999999999999'), hostileText), {
        freq: 2,
      }),
      topics: fc.array(fc.oneof({ weight: 4, arbitrary: topicLike }, { weight: 1, arbitrary: hostileText }), { maxLength: 24 }),
    })
    .map(({ ttl, topics }) => [...(ttl === null ? [] : [`ttl=${param(ttl)}`]), ...topics.map((topic) => `topic=${param(topic)}`)].join('&'))
    .filter((query) => query.length < 12 * 1024);
  const route = fc.oneof(
    { weight: 8, arbitrary: fc.record({ method: fc.constant('POST'), target: fc.constant('/v1/hook'), body: body(actionText(['publish', 'broadcast'])) }) },
    { weight: 6, arbitrary: fc.record({ method: fc.constant('POST'), target: fc.constant('/v1/hook'), body: deliverable }) },
    { weight: 3, arbitrary: fc.record({ method: fc.constant('POST'), target: fc.constant('/v1/topic'), body: body(topicBody) }) },
    { weight: 1, arbitrary: fc.record({ method: fc.constant('GET'), target: fc.constant('/v1/topic') }) },
    { weight: 1, arbitrary: fc.record({ method: fc.constant('POST'), target: fc.constant('/v1/audience'), body: fc.option(garbage, { freq: 3 }) }) },
    { weight: 3, arbitrary: fc.record({ method: fc.constant('GET'), target: signQuery.map((query) => `/v1/sign?${query}`) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        method: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'POST'),
        target: fc.constantFrom('/v1/hook', '/v1/sign', '/v1/audience', '/v1/topic/', '/v1/hooks', '/v1'),
        body: fc.option(actionText(['publish']), { freq: 2 }),
      }),
    },
  );
  return fc
    .record({
      route,
      headers,
      framing: bodyFraming,
    })
    .map(({ route, headers, framing }) => {
      const body = 'body' in route ? (route.body ?? undefined) : undefined;
      return {
        method: route.method,
        target: route.target,
        headers,
        body,
        chunked: framing.chunked && body !== undefined,
        cutOff: framing.cutOff && body !== undefined && body.length > 1,
      };
    });
}

/** Every frame after the connection id is a published message or a documented error frame; a close is a documented code. */
function transcriptProblem(
  received: readonly string[],
  closed: { code: number; reason: string; byClient: boolean } | undefined,
  published: ReadonlySet<string>,
): string | undefined {
  if (closed !== undefined && !closed.byClient && !COURIER_CLOSE_CODES.has(closed.code)) return `closed ${closed.code} ${closed.reason}`;
  const [id, ...rest] = received;
  if (id !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id))
    return `the first frame is no connection id: ${id.slice(0, 200)}`;
  for (const frame of rest) {
    const problem = courierFrameProblem(frame, published);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** How a socket of a batch waits for the batch's publishes. */
interface BatchTiming {
  /** Called once the socket's commands are answered (or it will send none): the waiting publishes may go. */
  readonly subscribed: () => void;
  /** Settles once every publish of the batch is answered. */
  readonly published: Promise<unknown>;
}

describe('fuzz: courier actions and REST bodies', () => {
  const tally = new FuzzTally('courier');
  let gateway: FuzzGateway;
  let tokens: TokenPool;
  let signedKeys: string[];
  let unhandled: ReturnType<typeof watchUnhandled>;
  let client: ReturnType<typeof createHttpClient>;
  let markers = 0;

  beforeAll(async () => {
    unhandled = watchUnhandled();
    gateway = await startFuzzGateway();
    tokens = await mintTokenPool();
    client = createHttpClient(gateway.baseUrl);
    // Sockets opened with /v1/sign keys (subscribe-only, signed by the gateway), as browsers open them.
    signedKeys = await Promise.all(
      ['/v1/sign?ttl=600', '/v1/sign?ttl=600&topic=fuzz/*'].map(async (target) => {
        const response = await fetch(`${gateway.baseUrl}${target}`, { headers: { authorization: `Bearer ${tokens.all}` } });
        return ((await response.json()) as { data: { key: string } }).data.key;
      }),
    );
  });
  afterAll(async () => {
    client.close();
    unhandled.stop();
    await gateway.stop();
    console.log(tally.summary());
  });

  /** Runs one socket; returns how many inputs it sent (the upgrade and the frames the socket took). */
  async function runSession(session: CourierSession, published: ReadonlySet<string>, batch: BatchTiming): Promise<number> {
    const url = `${gateway.baseUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(session.token)}`;
    let socket;
    try {
      socket = await within(5_000, 'the courier upgrade', openRawSocket(url));
    } catch (error) {
      batch.subscribed();
      if (!(error instanceof UpgradeRefused)) throw error;
      const problem = error.status === 401 || error.status === 403 ? courierHttpProblem(error.status, error.body) : `status ${error.status}`;
      if (problem !== undefined) throw new Error(`upgrade with ${JSON.stringify(session.token.slice(0, 80))}: ${problem}`, { cause: error });
      return 1;
    }
    let sent: number;
    try {
      await socket.until(() => true, 'the connection id');
      for (const frame of session.frames) socket.send(frame);
      sent = socket.sent;
      if (session.leave === 'after-answers') {
        // Frames are handled in order: once this one's error frame is back, every frame before it was handled.
        const marker = `fuzz-end ${String(++markers).padStart(8, '0')}`;
        socket.send({ text: JSON.stringify({ action: 'subscribe', topic: marker }) });
        await socket.until((frame) => frame.includes(`${marker}\\"`), 'the closing error frame');
        batch.subscribed();
        // Subscribed, so stay for the batch's publishes.
        await batch.published;
      }
    } finally {
      batch.subscribed();
      await (session.leave === 'at-once' ? socket.abort() : socket.close());
    }
    const problem = transcriptProblem(socket.transcript.received, socket.transcript.closed, published);
    if (problem !== undefined) throw new Error(problem);
    return 1 + sent;
  }

  async function sendRequest(input: HttpInput): Promise<void> {
    const answer = await within(5_000, `${input.method} ${input.target.slice(0, 200)}`, client.send(input));
    // Nobody is left to read an answer; what the gateway logged is checked after the batch.
    if (answer.cutOff) return;
    const problem = courierHttpProblem(answer.status, answer.text);
    if (problem !== undefined) throw new Error(`${input.method} ${input.target.slice(0, 300)} ${JSON.stringify(input.body?.slice(0, 300))}: ${problem}`);
  }

  const runBatch = async (batch: CourierBatch): Promise<{ 'courier-ws': number; 'courier-rest': number }> => {
    const before = gateway.app.fanout.size;
    const published = publishedTexts(
      [
        ...batch.sessions.flatMap((session) =>
          session.frames.map((frame) => ('text' in frame ? frame.text : 'binary' in frame ? Buffer.from(frame.binary).toString() : '')),
        ),
        ...batch.requests.map((request) => request.body ?? ''),
      ],
      json,
    );
    // Half the requests go at once, racing the sockets' commands; the other half once every socket has
    // subscribed, and a socket that waited for its answers stays until all are answered.
    const subscribed = batch.sessions.map(() => latch());
    const everySubscribed = Promise.all(subscribed.map(({ promise }) => promise));
    const sent = Promise.allSettled(
      batch.requests.map(async (input, i) => {
        if (i % 2 === 1) await everySubscribed;
        await sendRequest(input);
      }),
    );
    let frames = 0;
    await Promise.all([
      Promise.all(
        batch.sessions.map(async (session, i) => {
          frames += await runSession(session, published, { subscribed: () => subscribed[i]!.open(), published: sent });
        }),
      ),
      sent.then((outcomes) => {
        for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
      }),
    ]);
    // Every socket of the batch is closed: whatever it subscribed (its broadcasts entry included) must be released.
    await until(() => gateway.app.fanout.size <= before, 'the batch: its subscriptions released', 2_000).catch(() => {
      throw new Error(`the batch left ${gateway.app.fanout.size - before} subscriptions registered after its sockets closed`);
    });
    const errors = gateway.takeErrorLogs();
    if (errors.length > 0) throw new Error(`the gateway logged errors:\n${errors.join('\n').slice(0, 2_000)}`);
    if (unhandled.seen.length > 0) throw new Error(`unhandled: ${String(unhandled.seen.splice(0)[0])}`);
    await assertCourierServes(gateway, 'courier');
    return { 'courier-ws': frames, 'courier-rest': batch.requests.length };
  };

  it(`answers ${FRAME_INPUTS} generated frames and ${REST_INPUTS} REST bodies with documented codes, keeps serving, and its heap returns to the baseline`, async () => {
    const batches = fc.record({
      sessions: fc.array(sessions(tokens, signedKeys), { minLength: 1, maxLength: 3 }),
      requests: fc.array(requests(tokens), { minLength: 4, maxLength: 10 }),
    });
    await warmUp(batches, runBatch, 40);
    await waitUntilIdle(gateway, 'courier warm-up');
    const baseline = await heapBaseline();

    await fuzz(tally, 'courier', batches, runBatch, 340);
    client.close();
    client = createHttpClient(gateway.baseUrl);
    await waitUntilIdle(gateway, 'courier');
    // A cut-off request of the last batch may be handled after that batch's check.
    expect(gateway.takeErrorLogs()).toEqual([]);
    await baseline.assertReturned('courier');
    expect(tally.count('courier-ws')).toBeGreaterThanOrEqual(FRAME_INPUTS);
    expect(tally.count('courier-rest')).toBeGreaterThanOrEqual(REST_INPUTS);
  }, 120_000);
});
