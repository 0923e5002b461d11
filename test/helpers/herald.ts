import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import { mintToken, type TokenClaims } from '../../src/auth/mint-token.js';
import { loadConfig } from '../../src/config.js';
import { until } from './until.js';

/** The HS256 secret every test server trusts (≥ 32 bytes). */
export const TEST_SECRET = 'herald-test-secret-0123456789abcdef';

export interface TestHerald {
  readonly app: App;
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  /** http://127.0.0.1:<port>/graphql */
  readonly httpUrl: string;
  /** ws://127.0.0.1:<port>/graphql */
  readonly wsUrl: string;
  stop(): Promise<void>;
}

/**
 * A real Herald on port 0, configured through the same loadConfig as production, with an
 * in-memory SQLite store unless `env` says otherwise. Quiet logs; no clock tolerance, so expiry tests are exact.
 */
export async function startHerald(env: Record<string, string> = {}, options: AppOptions = {}): Promise<TestHerald> {
  const config = loadConfig({
    JWT_SECRET: TEST_SECRET,
    PORT: '0',
    DATABASE_URL: ':memory:',
    LOG_LEVEL: 'silent',
    JWT_CLOCK_TOLERANCE: '0',
    // CI runs the protocol suites once more with FAST_LANE=off (.ci/run).
    ...(process.env.FAST_LANE !== undefined && { FAST_LANE: process.env.FAST_LANE }),
    ...env,
  });
  const app = await createApp(config, options);
  const baseUrl = await app.start();
  return {
    app,
    baseUrl,
    httpUrl: `${baseUrl}/graphql`,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    stop: () => app.stop(),
  };
}

/** Resolves once /ready answers 200: on a Redis bus, once its connections are up (a publish or a stream head read before then is UNAVAILABLE). */
export const untilReady = (herald: Pick<TestHerald, 'baseUrl'>): Promise<void> =>
  until(async () => (await fetch(`${herald.baseUrl}/ready`)).status === 200, 'the gateway to be ready');

/** A token signed with TEST_SECRET; 5 minutes unless `ttlSeconds` says otherwise. */
export async function token(claims: Partial<TokenClaims> = {}): Promise<string> {
  return (await mintToken({ secret: TEST_SECRET }, { ttlSeconds: 300, ...claims })).token;
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: ReadonlyArray<{ message: string; extensions?: { code?: string } }>;
}

/** A GraphQL request over real HTTP. */
export async function gql<T = Record<string, any>>(
  url: string,
  bearer: string | undefined,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** The first error code of a response. */
export const errorCode = (response: GraphQLResponse<unknown>): string | undefined => response.errors?.[0]?.extensions?.code;

/** A real graphql-ws client (the package's own), no retries, so refusals surface. */
export function wsClient(url: string, options: Partial<ClientOptions> = {}): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, ...options });
}

/**
 * Resolves when the server counts exactly `count` subscriptions of `audience` that a message to
 * `topic` (null: a broadcast) would reach. Pub/sub has no subscribe acknowledgement, so tests
 * publish only after this.
 */
export function waitForSubscribers(app: App, audience: string, topic: string | null, count = 1): Promise<void> {
  return waitFor(app, () => app.fanout.subscriberCount(audience, topic) === count);
}

function waitFor(app: App, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (done()) return resolve();
    const off = app.fanout.onChange(() => {
      if (!done()) return;
      off();
      resolve();
    });
  });
}
