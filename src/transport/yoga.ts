import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { createYoga, useReadinessCheck, type Plugin, type YogaLogger, type YogaServerInstance } from 'graphql-yoga';
import { getOperationAST, parse } from 'graphql';
import { tokenFromAuthorization, tokenFromUrl } from '../auth/bearer.js';
import { HeraldError } from '../errors.js';
import { mayAuthenticateFromUrl, URL_TOKEN_REFUSAL } from '../auth/url-token.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Viewer } from '../auth/viewer.js';
import type { Limits } from '../config.js';
import type { Logger } from '../log.js';
import type { ConnectionControl, HeraldContext, Services } from '../schema/context.js';
import { schema } from '../schema/index.js';
import { useStableErrorCodes } from './error-codes.js';
import { useGraphiQLPage } from './graphiql-page.js';
import { acceptsEventStream, useJsonParameterErrors, useSubscriptionsOnlyOverSse } from './http-request-rules.js';
import { useSseEventIds } from './sse-event-ids.js';

export const GRAPHQL_PATH = '/graphql';

export interface HeraldYogaOptions {
  readonly services: Services;
  readonly verifyToken: VerifyToken;
  readonly limits: Limits;
  readonly logger: Logger;
  /** Yoga's maskError; the graphql-ws server and the HTTP fast lane mask with the same function. */
  readonly maskError: (error: unknown, message: string) => Error;
  /** What GraphiQL opens with (development: a live subscription and a ready token); false: no GraphiQL. */
  readonly graphiql: false | { readonly defaultQuery?: string; readonly headers?: string };
  /** More plugins (the fast lane's record of validated documents). */
  readonly plugins?: readonly Plugin[];
  /** GET /ready: throws while a backing service (bus, store) is unreachable, which answers 503. */
  readonly checkReady: () => Promise<void>;
}

/** The server context: graphql-ws passes the connection's already verified viewer and its control; HTTP and SSE do not. */
export type ServerContext = Record<string, unknown> & { viewer?: Viewer; connection?: ConnectionControl };

/**
 * One Yoga instance serves HTTP, SSE and (through its envelop) graphql-ws, so every transport gets
 * the same schema, limits, error masking and context.
 */
export function createHeraldYoga(options: HeraldYogaOptions): YogaServerInstance<ServerContext, HeraldContext> {
  const { services, verifyToken, limits, logger } = options;
  return createYoga<ServerContext, HeraldContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: '/health',
    landingPage: false,
    logging: yogaLogger(logger),
    // Yoga's own page loads GraphiQL from a CDN; useGraphiQLPage serves one that carries it.
    graphiql: false,
    // isDev off everywhere: internals (stack traces, original errors) never reach clients, even in development.
    maskedErrors: { maskError: options.maskError, isDev: false },
    context: async ({ request, params, viewer, connection }) => ({
      viewer: viewer ?? (await viewerOfRequest(verifyToken, request, params)),
      services,
      connection,
      // graphql-ws operations have no request (their server context carries the viewer).
      lastEventId: (request as Request | undefined)?.headers.get('last-event-id') ?? undefined,
    }),
    plugins: [
      ...(options.graphiql === false ? [] : [useGraphiQLPage(GRAPHQL_PATH, { title: 'Herald', ...options.graphiql })]),
      maxTokensPlugin({ n: limits.maxTokens }),
      maxDepthPlugin({ n: limits.maxQueryDepth, flattenFragments: true }),
      costLimitPlugin({ maxCost: limits.maxQueryComplexity }),
      maxAliasesPlugin({ n: limits.maxAliases }),
      useStableErrorCodes(),
      useJsonParameterErrors(),
      useSubscriptionsOnlyOverSse(),
      useSseEventIds(),
      ...(options.plugins ?? []),
      useReadinessCheck({
        endpoint: '/ready',
        check: options.checkReady,
      }),
    ],
  });
}

/**
 * The caller of an HTTP or SSE request: the Authorization header's token, or else `?token=`, which
 * only a signSubscription token subscribing over SSE may use (auth/url-token.ts).
 */
async function viewerOfRequest(verifyToken: VerifyToken, request: Request, params: { query?: string; operationName?: string }): Promise<Viewer> {
  const bearer = tokenFromAuthorization(request.headers.get('authorization'));
  if (bearer !== undefined) return verifyToken(bearer);
  const fromUrl = tokenFromUrl(request.url);
  if (fromUrl === undefined) return verifyToken(undefined);
  const viewer = await verifyToken(fromUrl);
  const operation = acceptsEventStream(request.headers.get('accept')) ? operationType(params) : undefined;
  // A valid credential in a place it may not be used: refused as FORBIDDEN, as the WebSocket upgrade does (4403).
  if (operation === undefined || !mayAuthenticateFromUrl(viewer, operation)) throw new HeraldError('FORBIDDEN', URL_TOKEN_REFUSAL);
  return viewer;
}

/** The operation type of an already validated request (Yoga parsed it once; this rare path parses again). */
function operationType({ query, operationName }: { query?: string; operationName?: string }): 'query' | 'mutation' | 'subscription' | undefined {
  if (query === undefined) return undefined;
  try {
    return getOperationAST(parse(query), operationName)?.operation;
  } catch {
    return undefined;
  }
}

/**
 * Yoga logs at error level every error its maskError replaced, and Herald's maskError replaces a
 * client's mistakes too (to give them a code): a depth limit or a bad variable would read like an
 * outage. createMaskError (error-codes.ts) is the one place that logs what an operator must act on,
 * at error level; what Yoga reports at error goes to debug.
 */
function yogaLogger(logger: Logger): YogaLogger {
  return {
    debug: logger.debug.bind(logger),
    info: logger.info.bind(logger),
    warn: logger.warn.bind(logger),
    error: logger.debug.bind(logger),
  };
}
