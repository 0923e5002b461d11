import { getOperationAST, GraphQLError, type ExecutionArgs, type GraphQLFormattedError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { tokenFromConnectionParams, tokenFromUrl } from '../auth/bearer.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Viewer } from '../auth/viewer.js';
import { ERROR_STATUS } from '../errors.js';
import type { Logger } from '../log.js';
import { closeAtExpiry } from '../auth/token-expiry.js';

/** Close code sent when the connection's token expires; graphql-ws clients reconnect with a fresh one. */
export const TOKEN_EXPIRED_CLOSE_CODE = CloseCode.Unauthorized; // 4401

/** What graphql-ws keeps per connection (its `ctx.extra`). */
export type ConnectionExtra = {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  viewer?: Viewer;
  cancelExpiry?: () => void;
};

export interface GraphqlWsOptions {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;
  readonly verifyToken: VerifyToken;
  /** Operations (subscriptions and in-flight queries) allowed at once on one connection. */
  readonly maxSubscriptionsPerConnection: number;
  readonly logger: Logger;
}

type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

/**
 * graphql-transport-ws on a `ws` server, executing through Yoga's envelop (same schema, plugins,
 * limits and context as HTTP). The token is checked once at connection_init; a refused one is
 * closed 4403, an expired one 4401.
 */
export function attachGraphqlWs(server: WebSocketServer, options: GraphqlWsOptions): void {
  const { yoga, verifyToken, maxSubscriptionsPerConnection, logger } = options;
  useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onConnect: async (ctx) => {
        const token = tokenFromConnectionParams(ctx.connectionParams) ?? tokenFromUrl(ctx.extra.request.url);
        try {
          ctx.extra.viewer = await verifyToken(token);
        } catch (error) {
          logger.debug({ err: error }, 'graphql-ws connection refused');
          return false; // graphql-ws closes with 4403 Forbidden
        }
        ctx.extra.cancelExpiry = closeAtExpiry(ctx.extra.viewer, () =>
          ctx.extra.socket.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired'),
        );
        return true;
      },
      onClose: (ctx) => ctx.extra.cancelExpiry?.(),
      // Errors look the same as over HTTP, where Yoga strips the transport hint `extensions.http`.
      onNext: (_ctx, _id, _params, _args, result) =>
        'errors' in result && result.errors !== undefined ? { ...result, errors: result.errors.map(withoutHttpHint) } : undefined,
      onError: (_ctx, _id, _params, errors) => errors.map(withoutHttpHint),
      onSubscribe: async (ctx, _id, params) => {
        // ctx.subscriptions already holds this operation's id.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerConnection) {
          return [
            new GraphQLError(
              `this connection already has ${maxSubscriptionsPerConnection} operations open (MAX_SUBSCRIPTIONS_PER_CONNECTION)`,
              { extensions: { code: 'RATE_LIMITED', http: { status: ERROR_STATUS.RATE_LIMITED } } },
            ),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          viewer: ctx.extra.viewer,
        });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('could not parse the document')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        if (getOperationAST(document, params.operationName) === null) {
          return [new GraphQLError('unknown operation', { extensions: { code: 'BAD_USER_INPUT' } })];
        }
        return {
          schema,
          document,
          operationName: params.operationName,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    server,
  );
}

function withoutHttpHint(error: GraphQLError): GraphQLFormattedError {
  const formatted = error.toJSON();
  if (formatted.extensions === undefined || !('http' in formatted.extensions)) return formatted;
  const { http: _http, ...extensions } = formatted.extensions;
  return { ...formatted, extensions };
}
