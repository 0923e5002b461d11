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
import { broadcastHttpProblem, notifluxFrameProblem, publishedTexts } from './answers.js';
import { NOTIFLUX_CLOSE_CODES } from './documented-codes.js';
import { fuzz, FuzzTally, latch, warmUp, watchUnhandled, within } from './fuzz-run.js';
import { assertNotifluxServes, heapBaseline, startFuzzGateway, waitUntilIdle, type FuzzGateway } from './gateway.js';
import { createHttpClient, type HttpInput } from './http-client.js';
import { until } from '../helpers/until.js';
import { openRawSocket, type WsFrame } from './ws-session.js';

/**
 * (d) notiflux: text commands on its /ws socket (/subscribe <topic> <token>, /unsubscribe,
 * /unsubscribe-all; wrong arity, unknown commands, odd whitespace, huge lines, garbage, binary and
 * oversized frames, rapid subscribe/unsubscribe, more subscriptions than the cap) and POST /broadcast
 * bodies. Each run is a batch of sockets and broadcasts sent at once, so the broadcasts reach the
 * sockets' subscriptions.
 */

const COMMAND_INPUTS = 2_000;
const BROADCAST_INPUTS = 2_000;

/** One generated notiflux socket. */
interface NotifluxSession {
  readonly frames: readonly WsFrame[];
  /** After its frames: wait for every reply and close, or drop the connection at once (commands still in flight). */
  readonly leave: 'after-answers' | 'at-once';
}

interface NotifluxBatch {
  readonly sessions: readonly NotifluxSession[];
  readonly broadcasts: readonly HttpInput[];
}

/** Separators between a command's words: what `trim` and `\s` take, and what they do not (NEL, zero-width space). */
const space = fc.oneof(
  { weight: 8, arbitrary: fc.constant(' ') },
  { weight: 2, arbitrary: fc.constantFrom('  ', '\t', '\n', '\r\n', '\u000b', '\f', '\u00a0', '\u2028', '\u3000', '\ufeff', ' \t ') },
  { weight: 1, arbitrary: fc.constantFrom('', '\u0085', '\u200b', '\u180e', '\u0000') },
);
const edge = fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: space });

/** Words of a command, joined by generated separators, with generated leading and trailing space. */
const command = (words: fc.Arbitrary<string[]>): fc.Arbitrary<string> =>
  words.chain((parts) =>
    fc
      .tuple(edge, fc.array(space, { minLength: parts.length, maxLength: parts.length }), edge)
      .map(([lead, gaps, trail]) => `${lead}${parts.map((part, i) => (i === 0 ? part : `${gaps[i]}${part}`)).join('')}${trail}`),
  );

function sessions(tokens: TokenPool): fc.Arbitrary<NotifluxSession> {
  const topic = fc.oneof(
    { weight: 8, arbitrary: topicLike },
    // The topics the batch's broadcasts go to, so that some are delivered.
    { weight: 4, arbitrary: fc.constantFrom('fuzz/a', 'fuzz/b', 'fuzz/*', '**') },
    { weight: 1, arbitrary: fc.integer({ min: 258, max: 30_000 }).map((length) => 'h'.repeat(length)) },
  );
  const token = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(tokens.all, tokens.limited, tokens.subscribeOnly, tokens.publishOnly) },
    { weight: 3, arbitrary: tokenFrom(tokens) },
  );
  const subscribe = fc.tuple(topic, token).map(([t, k]) => ['/subscribe', t, k]);
  const words = fc.oneof(
    { weight: 10, arbitrary: subscribe },
    { weight: 4, arbitrary: topic.map((t) => ['/unsubscribe', t]) },
    { weight: 2, arbitrary: fc.constant(['/unsubscribe-all']).map((parts) => [...parts]) },
    // Wrong arity: missing and extra arguments.
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom('/subscribe', '/unsubscribe', '/unsubscribe-all'), fc.array(fc.oneof(topic, token), { maxLength: 4 }))
        .map(([name, args]) => [name, ...args]),
    },
    // Unknown commands, and names that are almost right.
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(
            fc.constantFrom(
              '/',
              '//subscribe',
              '/SUBSCRIBE',
              '/Subscribe',
              '/subscribe-all',
              '/unsubscribeall',
              '/sub',
              '/broadcast',
              '/ping',
              '/subscribe\u0000',
            ),
            hostileText.map((text) => `/${text}`),
          ),
          fc.array(topic, { maxLength: 2 }),
        )
        .map(([name, args]) => [name, ...args]),
    },
  );
  const text = (value: string): WsFrame[] => [{ text: value }];
  const rapid = fc
    .record({ topic: fc.constantFrom('fuzz/rapid', 'fuzz/*', '**'), times: fc.integer({ min: 2, max: 20 }), all: fc.boolean() })
    .map(({ topic, times, all }) =>
      Array.from({ length: times }, () => [{ text: `/subscribe ${topic} ${tokens.all}` }, { text: all ? '/unsubscribe-all' : `/unsubscribe ${topic}` }]).flat(),
    );
  // FUZZ_LIMITS allows 8 per connection: the rest get RATE_LIMITED.
  const overCap = fc
    .integer({ min: 9, max: 12 })
    .map((count) => Array.from({ length: count }, (_, i) => ({ text: `/subscribe fuzz/cap/${i} ${tokens.subscribeOnly}` })));
  // Well-formed, to the batch's broadcast topics: subscriptions that should receive them.
  const deliverable = fc
    .tuple(fc.constantFrom('fuzz/a', 'fuzz/b', 'fuzz/*', '**'), fc.constantFrom(tokens.all, tokens.limited, tokens.subscribeOnly))
    .map(([t, k]) => text(`/subscribe ${t} ${k}`));
  const frame: fc.Arbitrary<WsFrame[]> = fc.oneof(
    { weight: 16, arbitrary: command(words).map(text) },
    { weight: 4, arbitrary: deliverable },
    { weight: 2, arbitrary: hostileText.map(text) },
    { weight: 1, arbitrary: anyJson.map((value) => text(json(value))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => [{ binary }]) },
    { weight: 1, arbitrary: invalidUtf8.map((invalidText) => [{ invalidText }]) },
    // notiflux ignored binary frames, commands too.
    { weight: 1, arbitrary: command(subscribe).map((value) => [{ binary: Buffer.from(value) }]) },
    { weight: 1, arbitrary: fc.constant<WsFrame[]>([{ oversized: 33 * 1024 }]) },
    { weight: 1, arbitrary: rapid },
    { weight: 1, arbitrary: overCap },
  );
  return fc.record({
    frames: fc.array(frame, { minLength: 1, maxLength: 8 }).map((groups) => groups.flat()),
    leave: fc.oneof({ weight: 5, arbitrary: fc.constant('after-answers' as const) }, { weight: 1, arbitrary: fc.constant('at-once' as const) }),
  });
}

function broadcasts(tokens: TokenPool): fc.Arbitrary<HttpInput> {
  const good = fc
    .record({
      topic: fc.option(
        fc
          .oneof({ weight: 8, arbitrary: topicLike }, { weight: 4, arbitrary: fc.constantFrom('fuzz/a', 'fuzz/b') }, { weight: 1, arbitrary: anyJson })
          .map(json),
        { freq: 16 },
      ),
      // notiflux's messages are strings; Herald takes any JSON value.
      message: fc.option(fc.oneof({ weight: 3, arbitrary: hostileText.map(json) }, { weight: 3, arbitrary: messageText }), { freq: 16 }),
      token: fc.option(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(tokens.all, tokens.limited, tokens.publishOnly).map(json) },
          { weight: 3, arbitrary: tokenFrom(tokens).map(json) },
          { weight: 1, arbitrary: anyJson.map(json) },
        ),
        { freq: 16 },
      ),
      extra: fc.option(fc.tuple(fc.constantFrom('topic', 'message', 'token', '__proto__', 'scope'), anyJson.map(json)), { freq: 6 }),
    })
    .map(({ topic, message, token, extra }) => {
      // JSON texts already, so that messages nested past JSON.stringify's stack and duplicate keys can be sent.
      const members: string[] = [];
      if (topic !== null) members.push(`"topic":${topic}`);
      if (message !== null) members.push(`"message":${message}`);
      if (token !== null) members.push(`"token":${token}`);
      if (extra !== null) members.push(`${json(extra[0])}:${extra[1]}`);
      return `{${members.join(',')}}`;
    });
  // Well-formed, to the sockets' topics: what the subscriptions of the batch should receive.
  const deliverable = fc
    .record({
      topic: fc.constantFrom('fuzz/a', 'fuzz/b'),
      message: fc.oneof(hostileText.map(json), messageText),
      token: fc.constantFrom(tokens.all, tokens.limited),
    })
    .map(({ topic, message, token }) => `{"topic":${json(topic)},"message":${message},"token":${json(token)}}`);
  const body = fc.oneof(
    { weight: 10, arbitrary: good },
    { weight: 4, arbitrary: deliverable },
    { weight: 2, arbitrary: hostileText },
    { weight: 1, arbitrary: anyJson.map(json) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 33 * 1024, max: 36 * 1024 })
        .map((size) => JSON.stringify({ topic: 'fuzz/a', message: 'x'.repeat(size), token: tokens.all })),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc
    .record({
      method: fc.oneof({ weight: 12, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH') }),
      body,
      contentType: fc.option(fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded'), { freq: 6 }),
      framing: bodyFraming,
    })
    .map(({ method, body, contentType, framing }) => ({
      method,
      target: '/broadcast',
      headers: { ...(contentType !== null && { 'content-type': contentType }) },
      body,
      chunked: framing.chunked && body !== undefined,
      cutOff: framing.cutOff && body !== undefined && body.length > 1,
    }));
}

/** Every frame is a published message or a documented reply; a close is a documented code. */
function transcriptProblem(
  received: readonly string[],
  closed: { code: number; reason: string; byClient: boolean } | undefined,
  published: ReadonlySet<string>,
): string | undefined {
  if (closed !== undefined && !closed.byClient && !NOTIFLUX_CLOSE_CODES.has(closed.code)) return `closed ${closed.code} ${closed.reason}`;
  for (const frame of received) {
    const problem = notifluxFrameProblem(frame, published);
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

describe('fuzz: notiflux commands and broadcasts', () => {
  const tally = new FuzzTally('notiflux');
  let gateway: FuzzGateway;
  let tokens: TokenPool;
  let unhandled: ReturnType<typeof watchUnhandled>;
  let client: ReturnType<typeof createHttpClient>;
  let markers = 0;

  beforeAll(async () => {
    unhandled = watchUnhandled();
    gateway = await startFuzzGateway();
    tokens = await mintTokenPool();
    client = createHttpClient(gateway.baseUrl);
  });
  afterAll(async () => {
    client.close();
    unhandled.stop();
    await gateway.stop();
    console.log(tally.summary());
  });

  /** Runs one socket; returns how many frames it sent. */
  async function runSession(session: NotifluxSession, published: ReadonlySet<string>, batch: BatchTiming): Promise<number> {
    const socket = await within(5_000, 'the notiflux upgrade', openRawSocket(`${gateway.baseUrl.replace(/^http/, 'ws')}/ws`));
    let sent: number;
    try {
      for (const frame of session.frames) socket.send(frame);
      sent = socket.sent;
      if (session.leave === 'after-answers') {
        // Commands are handled in order: once this one's reply is back, every command before it was handled.
        const marker = `fuzz-end/${String(++markers).padStart(8, '0')}`;
        socket.send({ text: `/subscribe ${marker} not-a-token` });
        await socket.until((frame) => frame.includes(`"${marker}"`), 'the closing reply');
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
    return sent;
  }

  async function sendBroadcast(input: HttpInput): Promise<void> {
    const answer = await within(5_000, `${input.method} /broadcast`, client.send(input));
    // Nobody is left to read an answer; what the gateway logged is checked after the batch.
    if (answer.cutOff) return;
    const problem = broadcastHttpProblem(answer.status, answer.text);
    if (problem !== undefined) throw new Error(`${input.method} /broadcast ${JSON.stringify(input.body?.slice(0, 300))}: ${problem}`);
  }

  const runBatch = async (batch: NotifluxBatch): Promise<{ 'notiflux-ws': number; 'notiflux-broadcast': number }> => {
    const before = gateway.app.fanout.size;
    // A string message is delivered as the bare string, anything else as its JSON text.
    const published = publishedTexts(
      batch.broadcasts.map((input) => input.body ?? ''),
      (message) => (typeof message === 'string' ? message : json(message)),
    );
    // Half the broadcasts go at once, racing the sockets' commands; the other half once every socket has
    // subscribed, and a socket that waited for its answers stays until all are answered.
    const subscribed = batch.sessions.map(() => latch());
    const everySubscribed = Promise.all(subscribed.map(({ promise }) => promise));
    const sent = Promise.allSettled(
      batch.broadcasts.map(async (input, i) => {
        if (i % 2 === 1) await everySubscribed;
        await sendBroadcast(input);
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
    // Every socket of the batch is closed: whatever it subscribed must be released.
    await until(() => gateway.app.fanout.size <= before, 'the batch: its subscriptions released', 2_000).catch(() => {
      throw new Error(`the batch left ${gateway.app.fanout.size - before} subscriptions registered after its sockets closed`);
    });
    const errors = gateway.takeErrorLogs();
    if (errors.length > 0) throw new Error(`the gateway logged errors:\n${errors.join('\n').slice(0, 2_000)}`);
    if (unhandled.seen.length > 0) throw new Error(`unhandled: ${String(unhandled.seen.splice(0)[0])}`);
    await assertNotifluxServes(gateway, 'notiflux');
    return { 'notiflux-ws': frames, 'notiflux-broadcast': batch.broadcasts.length };
  };

  it(`answers ${COMMAND_INPUTS} generated commands and ${BROADCAST_INPUTS} broadcasts with documented replies and codes, keeps serving, and its heap returns to the baseline`, async () => {
    const batches = fc.record({
      sessions: fc.array(sessions(tokens), { minLength: 1, maxLength: 3 }),
      broadcasts: fc.array(broadcasts(tokens), { minLength: 4, maxLength: 10 }),
    });
    await warmUp(batches, runBatch, 40);
    await waitUntilIdle(gateway, 'notiflux warm-up');
    const baseline = await heapBaseline();

    await fuzz(tally, 'notiflux', batches, runBatch, 340);
    client.close();
    client = createHttpClient(gateway.baseUrl);
    await waitUntilIdle(gateway, 'notiflux');
    // A cut-off request of the last batch may be handled after that batch's check.
    expect(gateway.takeErrorLogs()).toEqual([]);
    await baseline.assertReturned('notiflux');
    expect(tally.count('notiflux-ws')).toBeGreaterThanOrEqual(COMMAND_INPUTS);
    expect(tally.count('notiflux-broadcast')).toBeGreaterThanOrEqual(BROADCAST_INPUTS);
  }, 120_000);
});
