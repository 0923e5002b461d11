import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApolloClient, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, subscriptionExchange } from '@urql/core';
import { parse } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, type HeraldClientOptions } from 'herald/client';
import { gql, startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { until } from './helpers/until.js';
import { anchorsIn, openHarness, openLine, type Harness, type Line } from './helpers/client-line.js';

/**
 * herald/client with the clients applications use (Apollo Client 4, urql, graphql-ws as is), across
 * real cuts: a network hop the test drops (the client sees an abnormal close, Herald a dead socket)
 * and the client's own socket terminated. Publishing goes on meanwhile; what the application sees
 * must be every message once, in order.
 */

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const TOPIC = 'subscription($name: String!) { topic(name: $name) { id payload } }';
const root = fileURLToPath(new URL('..', import.meta.url));

type Message = { topic: { id: string; payload: number } };
interface GraphQLErrorLike {
  readonly message: string;
  readonly extensions?: Record<string, unknown>;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, index) => from + index);

function firstError(error: unknown): GraphQLErrorLike | undefined {
  return Array.isArray(error) ? (error[0] as GraphQLErrorLike | undefined) : undefined;
}

describe('herald/client across cuts', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  const harness = (audience: string, options: Partial<HeraldClientOptions> = {}, target = herald): Promise<Harness> => openHarness(target, audience, options);

  /**
   * Publishes 1..N one after another over HTTP while cutting the connection three times: dropped on
   * the network side and held down while messages are published, terminated by the client and let
   * straight back while publishing goes on, terminated by the client and held down again. Then one
   * last message, so a duplicate of any earlier one would have arrived before it.
   */
  async function publishThroughCuts(h: Harness, audience: string, topic: string, got: readonly number[], errors: readonly unknown[]): Promise<void> {
    const N = 40;
    await waitForSubscribers(herald.app, audience, topic);
    for (let n = 1; n <= N; n++) {
      if (n === 8) {
        // A resume needs something delivered to resume from.
        await until(() => got.length > 0, 'a first message before the first cut');
        h.line.hold();
        h.line.cut();
      }
      if (n === 20) h.sockets.current().terminate();
      if (n === 30) {
        h.line.hold();
        h.sockets.current().terminate();
      }
      if (n === 12 || n === 34) h.line.release();
      await h.publish(topic, n);
    }
    await h.publish(topic, N + 1);
    await until(() => got.includes(N + 1) || errors.length > 0, 'the last message');
    expect(errors).toEqual([]);
    expect(got).toEqual(range(1, N + 1));
    expect(h.connections()).toBe(4);
  }

  it('Apollo Client 4 (GraphQLWsLink): every message once, in order, across network and client cuts', async () => {
    const audience = 'apollo-resume';
    const h = await harness(audience);
    const apollo = new ApolloClient({ link: new GraphQLWsLink(h.client), cache: new InMemoryCache() });
    const got: number[] = [];
    const errors: unknown[] = [];
    const subscription = apollo.subscribe<Message>({ query: parse(TOPIC), variables: { name: 'orders' } }).subscribe({
      next: (result) => (result.data === undefined ? errors.push(result.error) : got.push(result.data.topic.payload)),
      error: (error: unknown) => errors.push(error),
    });
    await publishThroughCuts(h, audience, 'orders', got, errors);
    subscription.unsubscribe();
    await h.close();
  });

  it('urql (subscriptionExchange): every message once, in order, across network and client cuts', async () => {
    const audience = 'urql-resume';
    const h = await harness(audience);
    const urql = new UrqlClient({
      url: herald.httpUrl,
      exchanges: [
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: h.client.subscribe({ ...request, query: request.query ?? '' }, sink) }),
          }),
        }),
      ],
    });
    const got: number[] = [];
    const errors: unknown[] = [];
    const subscription = urql.subscription<Message>(parse(TOPIC), { name: 'orders' }).subscribe((result) => {
      if (result.data !== undefined) got.push(result.data.topic.payload);
      if (result.error !== undefined) errors.push(result.error);
    });
    await publishThroughCuts(h, audience, 'orders', got, errors);
    subscription.unsubscribe();
    await h.close();
  });

  it('client.iterate() of the wrapped client resumes across cuts', async () => {
    const audience = 'iterate-resume';
    const h = await harness(audience);
    const got: number[] = [];
    const errors: unknown[] = [];
    const iterator = h.client.iterate<Message>({ query: TOPIC, variables: { name: 'orders' } });
    const reading = (async () => {
      try {
        for await (const result of iterator) {
          if (result.data == null) errors.push(result.errors);
          else got.push(result.data.topic.payload);
          if (got.at(-1) === 41) break;
        }
      } catch (error) {
        errors.push(error);
      }
    })();
    await publishThroughCuts(h, audience, 'orders', got, errors);
    await reading;
    // Leaving the loop ended the subscription on the server.
    await waitForSubscribers(herald.app, audience, 'orders', 0);
    await h.close();
  });

  it('refuses, at subscribe, a selection without the root id (it could never resume)', async () => {
    const audience = 'no-id';
    const h = await harness(audience);
    const error = await new Promise<unknown>((resolve) => {
      h.client.subscribe(
        { query: 'subscription { topic(name: "orders") { payload } }' },
        { next: () => resolve('a result'), error: resolve, complete: () => resolve('completed') },
      );
    });
    expect(firstError(error)?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(firstError(error)?.message).toMatch(/\bselect id\b/);
    await h.close();
  });

  it('a pattern subscription goes live at first, then fails CURSOR_EXPIRED when it tries to resume after a cut', async () => {
    const audience = 'pattern-resume';
    const h = await harness(audience);
    const got: string[] = [];
    let failure: unknown;
    const dispose = h.client.subscribe<{ topic: { id: string; topic: string } }>(
      { query: 'subscription { topic(name: "a/*") { id topic } }' },
      { next: (result) => got.push(result.data!.topic.topic), error: (error) => (failure = error), complete: () => {} },
    );
    await waitForSubscribers(herald.app, audience, 'a/1');
    await h.publish('a/1', 1);
    await until(() => got.length === 1, 'the live message');
    h.line.cut();
    await until(() => failure !== undefined, 'the resume refused');
    expect(firstError(failure)).toMatchObject({ extensions: { code: 'CURSOR_EXPIRED' } });
    expect(firstError(failure)?.message).toMatch(/pattern/);
    expect(got).toEqual(['a/1']);
    dispose();
    await h.close();
  });

  // Nothing delivered yet, so no message id to resume from: the anchor Herald sent first is the cursor.
  it('a subscription cut before its first message still gets what was published while it was down', async () => {
    const audience = 'gap-before-first';
    const h = await harness(audience);
    const got: number[] = [];
    const dispose = h.client.subscribe<Message>(
      { query: TOPIC, variables: { name: 'orders' } },
      { next: (r) => got.push(r.data!.topic.payload), error: () => {}, complete: () => {} },
    );
    await until(() => anchorsIn(h.sockets.frames).length === 1, 'the anchor');
    h.line.hold();
    h.line.cut();
    await waitForSubscribers(herald.app, audience, 'orders', 0);
    await h.publish('orders', 1);
    h.line.release();
    await waitForSubscribers(herald.app, audience, 'orders');
    await h.publish('orders', 2);
    await until(() => got.includes(2), 'the live message');
    dispose();
    await h.close();
    expect(got).toEqual([1, 2]);
  });
});

describe('herald/client when the gap is gone (HISTORY_SIZE 3)', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald({ HISTORY_SIZE: '3' });
  });
  afterAll(() => herald.stop());

  /** Delivers 1, then holds the client off while 2..6 are published (more than the history keeps), then lets it reconnect. */
  async function loseTheGap(
    h: { line: Line; publish(topic: string, payload: unknown): Promise<string> },
    audience: string,
    got: readonly number[],
  ): Promise<void> {
    await waitForSubscribers(herald.app, audience, 'orders');
    await h.publish('orders', 1);
    await until(() => got.length === 1, 'the first message');
    h.line.hold();
    h.line.cut();
    await waitForSubscribers(herald.app, audience, 'orders', 0);
    for (let n = 2; n <= 6; n++) await h.publish('orders', n);
    h.line.release();
  }

  it('without onCursorExpired, the subscription fails with CURSOR_EXPIRED', async () => {
    // Its own harness on this server: the helpers above are bound to the other one.
    const audience = 'expired-error';
    const h = await expiredHarness(herald, audience);
    const got: number[] = [];
    let failure: unknown;
    h.client.subscribe<Message>(
      { query: TOPIC, variables: { name: 'orders' } },
      { next: (r) => got.push(r.data!.topic.payload), error: (e) => (failure = e), complete: () => {} },
    );
    await loseTheGap(h, audience, got);
    await until(() => failure !== undefined, 'the failure');
    expect(firstError(failure)?.extensions?.code).toBe('CURSOR_EXPIRED');
    expect(got).toEqual([1]);
    await h.close();
  });

  it('with onCursorExpired, the callback runs once, then the subscription goes on live', async () => {
    const audience = 'expired-callback';
    const expired: unknown[] = [];
    const h = await expiredHarness(herald, audience, { onCursorExpired: (e) => void expired.push(e) });
    const got: number[] = [];
    const errors: unknown[] = [];
    const dispose = h.client.subscribe<Message>(
      { query: TOPIC, variables: { name: 'orders' } },
      { next: (r) => got.push(r.data!.topic.payload), error: (e) => errors.push(e), complete: () => {} },
    );
    await loseTheGap(h, audience, got);
    await until(() => expired.length > 0, 'onCursorExpired');
    await waitForSubscribers(herald.app, audience, 'orders');
    await h.publish('orders', 7);
    await h.publish('orders', 8);
    await until(() => got.length === 3, 'live messages');
    expect(got).toEqual([1, 7, 8]);
    expect(errors).toEqual([]);
    expect(expired).toHaveLength(1);
    expect(firstError((expired[0] as { errors: unknown }).errors)?.extensions?.code).toBe('CURSOR_EXPIRED');
    dispose();
    await h.close();
  });

  it('Apollo gets CURSOR_EXPIRED as CombinedGraphQLErrors with its code', async () => {
    // GraphQLWsLink reads the global WebSocket to classify errors; Node 20 has none (browsers and Node 22 do).
    const global = globalThis as { WebSocket?: unknown };
    const had = 'WebSocket' in global;
    global.WebSocket ??= WebSocket;
    try {
      const audience = 'expired-apollo';
      const h = await expiredHarness(herald, audience);
      const apollo = new ApolloClient({ link: new GraphQLWsLink(h.client), cache: new InMemoryCache() });
      const got: number[] = [];
      const errors: unknown[] = [];
      const subscription = apollo.subscribe<Message>({ query: parse(TOPIC), variables: { name: 'orders' } }).subscribe({
        next: (result) => (result.data === undefined ? errors.push(result.error) : got.push(result.data.topic.payload)),
        error: (error: unknown) => errors.push(error),
      });
      await loseTheGap(h, audience, got);
      await until(() => errors.length > 0, 'the failure');
      expect(CombinedGraphQLErrors.is(errors[0])).toBe(true);
      expect((errors[0] as CombinedGraphQLErrors).errors[0]!.extensions?.code).toBe('CURSOR_EXPIRED');
      expect(got).toEqual([1]);
      subscription.unsubscribe();
      await h.close();
    } finally {
      if (!had) delete global.WebSocket;
    }
  });
});

async function expiredHarness(
  herald: TestHerald,
  audience: string,
  options: Partial<HeraldClientOptions> = {},
): Promise<{ client: Client; line: Line; publish(topic: string, payload: unknown): Promise<string>; close(): Promise<void> }> {
  const line = await openLine(herald);
  const reader = await token({ audience, scopes: ['subscribe'] });
  const publisher = await token({ audience, scopes: ['publish'] });
  const client = createClient({
    url: line.url,
    webSocketImpl: WebSocket,
    connectionParams: { token: reader },
    retryAttempts: 1000,
    retryWait: () => Promise.resolve(),
    shouldRetry: () => true,
    ...options,
  });
  return {
    client,
    line,
    async publish(topic, payload) {
      const response = await gql<{ publish: { id: string } }>(herald.httpUrl, publisher, PUBLISH, { t: topic, p: payload });
      return response.data!.publish.id;
    },
    async close() {
      await client.dispose();
      await line.close();
    },
  };
}

describe('herald/client as a package', () => {
  it('imports from plain node (no loader) as herald/client', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', "import('herald/client').then((m) => console.log(typeof m.createClient, typeof m.isCursorExpired))"],
      { cwd: root },
    );
    expect(stdout.trim()).toBe('function function');
  });

  it('dist/client imports nothing but graphql-ws and its own files', async () => {
    const files = (await readdir(`${root}/dist/client`)).filter((file) => file.endsWith('.js'));
    const specifiers = new Set<string>();
    for (const file of files) {
      const source = await readFile(`${root}/dist/client/${file}`, 'utf8');
      for (const match of source.matchAll(
        /\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]|\bimport\s+['"]([^'"]+)['"]|\brequire\s*\(\s*['"]([^'"]+)['"]/g,
      ))
        specifiers.add(match[1] ?? match[2] ?? match[3] ?? match[4]!);
    }
    const own = new Set(files.map((file) => `./${file}`));
    expect([...specifiers].filter((specifier) => specifier !== 'graphql-ws' && !own.has(specifier))).toEqual([]);
    expect(specifiers).toContain('graphql-ws');
    expect(specifiers).toContain('./token-renewal.js');
  });
});
