import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { createYoga, useReadinessCheck, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { tokenFromAuthorization, tokenFromUrl } from '../auth/bearer.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Viewer } from '../auth/viewer.js';
import type { Limits } from '../config.js';
import type { Logger } from '../log.js';
import type { HeraldContext, Services } from '../schema/context.js';
import { schema } from '../schema/index.js';
import { useStableErrorCodes } from './error-codes.js';

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

/** The server context: graphql-ws passes the connection's already verified viewer; HTTP and SSE do not. */
export type ServerContext = Record<string, unknown> & { viewer?: Viewer };

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
    logging: logger,
    graphiql: options.graphiql === false ? false : { title: 'Herald', ...options.graphiql },
    // isDev off everywhere: internals (stack traces, original errors) never reach clients, even in development.
    maskedErrors: { maskError: options.maskError, isDev: false },
    context: async ({ request, viewer }) => ({
      viewer: viewer ?? (await verifyToken(tokenFromAuthorization(request.headers.get('authorization')) ?? tokenFromUrl(request.url))),
      services,
    }),
    plugins: [
      maxTokensPlugin({ n: limits.maxTokens }),
      maxDepthPlugin({ n: limits.maxQueryDepth, flattenFragments: true }),
      costLimitPlugin({ maxCost: limits.maxQueryComplexity }),
      maxAliasesPlugin({ n: limits.maxAliases }),
      useStableErrorCodes(),
      ...(options.plugins ?? []),
      useReadinessCheck({
        endpoint: '/ready',
        check: options.checkReady,
      }),
    ],
  });
}
