import {
  createSourceEventStream,
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols, MessageType, parseMessage, stringifyMessage, type SubscribePayload } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { tokenFromConnectionParams, tokenFromUrl } from '../auth/bearer.js';
import { closeAtExpiry } from '../auth/token-expiry.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Viewer } from '../auth/viewer.js';
import { MessageSource } from '../bus/message-stream.js';
import type { Logger } from '../log.js';
import { formatErrors } from './format-errors.js';
import { startKeepAlive } from './keep-alive.js';
import type { SendBufferLimit } from './send-buffer-limit.js';
import type { SubscriptionGroups } from './subscription-groups.js';
import { writeTextFrame } from './text-frame.js';

/**
 * graphql-transport-ws, served by Herald itself so that delivery can be grouped (see
 * subscription-groups.ts). From the graphql-ws package it keeps what that package does well: the
 * protocol name and negotiation, message types, close codes, message parsing and validation, and
 * the client (every test speaks to this server through it, Apollo and urql). It replaces only the
 * per-subscriber execute/async-iterator/awaited-write chain of graphql-ws's own server.
 */

/** The token expired: graphql-ws's Unauthorized. */
export const TOKEN_EXPIRED_CLOSE_CODE = CloseCode.Unauthorized; // 4401

export interface GraphqlWsServerOptions {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;
  readonly groups: SubscriptionGroups;
  readonly verifyToken: VerifyToken;
  readonly maskError: (error: unknown) => Error;
  readonly logger: Logger;
  /** Operations (subscriptions and in-flight queries) open at once on one connection. */
  readonly maxSubscriptionsPerConnection: number;
  /** MAX_BUFFERED_BYTES, shared with the other WebSocket surfaces. */
  readonly sendBufferLimit: SendBufferLimit;
  /** How long a socket may stay open without connection_init. Default 3 000 ms (as graphql-ws). */
  readonly connectionInitWaitMs?: number;
  /** Server-side ping interval; a socket that has not answered the previous ping is terminated. Default 12 000 ms. */
  readonly keepAliveMs?: number;
}

export interface GraphqlWsServer {
  /** Connections open now. */
  readonly connections: number;
}

/** What one open operation holds until it ends. */
type Operation = { stop: () => void };

interface Connection {
  readonly socket: WebSocket;
  /** The upgrade request's URL (a signed URL carries ?token=); the request itself is not kept. */
  readonly url: string | undefined;
  readonly operations: Map<string, Operation | null>;
  initReceived: boolean;
  /** Closes the socket if connection_init has not come within connectionInitWaitMs; cleared when it comes. */
  initTimer: NodeJS.Timeout | undefined;
  viewer: Viewer | undefined;
  closed: boolean;
  cancelExpiry?: () => void;
}

export function attachGraphqlWsServer(server: WebSocketServer, options: GraphqlWsServerOptions): GraphqlWsServer {
  const { yoga, groups, verifyToken, maskError, logger, maxSubscriptionsPerConnection, sendBufferLimit } = options;
  const connectionInitWaitMs = options.connectionInitWaitMs ?? 3_000;
  const keepAliveMs = options.keepAliveMs ?? 12_000;

  server.options.handleProtocols = handleProtocols;

  const connections = new Set<Connection>();
  const keepAlive = startKeepAlive(keepAliveMs);
  server.on('close', () => keepAlive.stop());

  server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const connection: Connection = {
      socket,
      url: request.url,
      operations: new Map(),
      initReceived: false,
      initTimer: undefined,
      viewer: undefined,
      closed: false,
    };
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      socket.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    connection.initTimer = setTimeout(() => {
      if (!connection.initReceived) socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
    }, connectionInitWaitMs);

    keepAlive.watch(socket);
    connections.add(connection);

    socket.on('message', (data, isBinary) => {
      if (isBinary) return socket.close(CloseCode.BadRequest, 'Invalid message received');
      // A Buffer: binaryType is ws's default, nodebuffer.
      handleMessage(connection, (data as Buffer).toString()).catch((error: unknown) => {
        logger.error({ err: error }, 'graphql-ws message handling failed');
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      });
    });
    socket.on('error', (error) => logger.debug({ err: error }, 'graphql-ws socket error'));
    socket.once('close', () => {
      connection.closed = true;
      clearTimeout(connection.initTimer);
      connections.delete(connection);
      connection.cancelExpiry?.();
      for (const operation of connection.operations.values()) operation?.stop();
      connection.operations.clear();
    });
  });

  const send = (connection: Connection, frame: string): void => {
    if (connection.closed || connection.socket.readyState !== connection.socket.OPEN) return;
    connection.socket.send(frame);
    if (sendBufferLimit.exceeded(connection.socket)) stopConnection(connection);
  };

  /** The hot path: one group event to one member, the shared body written by reference. */
  const sendShared = (connection: Connection, prefix: Buffer, body: Buffer): void => {
    if (connection.closed || connection.socket.readyState !== connection.socket.OPEN) return;
    writeTextFrame(connection.socket, prefix, body);
    if (sendBufferLimit.exceeded(connection.socket)) stopConnection(connection);
  };

  /** A slow consumer being closed: stop queueing for it at once, so memory stays bounded. */
  function stopConnection(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    for (const operation of connection.operations.values()) operation?.stop();
    connection.operations.clear();
  }

  async function handleMessage(connection: Connection, data: string): Promise<void> {
    const { socket } = connection;
    let message;
    try {
      message = parseMessage(data);
    } catch {
      return socket.close(CloseCode.BadRequest, 'Invalid message received');
    }
    switch (message.type) {
      case MessageType.ConnectionInit: {
        if (connection.initReceived) return socket.close(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
        connection.initReceived = true;
        // Released now rather than when it fires: at 10k connections, 10k timers held for nothing.
        clearTimeout(connection.initTimer);
        connection.initTimer = undefined;
        const params = message.payload ?? undefined;
        try {
          connection.viewer = await verifyToken(tokenFromConnectionParams(params) ?? tokenFromUrl(connection.url));
        } catch (error) {
          logger.debug({ err: error }, 'graphql-ws connection refused');
          return socket.close(CloseCode.Forbidden, 'Forbidden');
        }
        if (connection.closed) return;
        connection.cancelExpiry = closeAtExpiry(connection.viewer, () => socket.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired'));
        return send(connection, stringifyMessage({ type: MessageType.ConnectionAck }));
      }
      case MessageType.Ping:
        return send(
          connection,
          stringifyMessage(message.payload === undefined ? { type: MessageType.Pong } : { type: MessageType.Pong, payload: message.payload }),
        );
      case MessageType.Pong:
        return;
      case MessageType.Subscribe: {
        if (connection.viewer === undefined) return socket.close(CloseCode.Unauthorized, 'Unauthorized');
        if (connection.operations.has(message.id)) {
          return socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${message.id} already exists`);
        }
        connection.operations.set(message.id, null);
        return subscribe(connection, connection.viewer, message.id, message.payload);
      }
      case MessageType.Complete: {
        const operation = connection.operations.get(message.id);
        connection.operations.delete(message.id);
        operation?.stop();
        return;
      }
      default:
        return socket.close(CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  /** Runs one subscribe message: a grouped subscription, or a query/mutation executed once. */
  async function subscribe(connection: Connection, viewer: Viewer, id: string, payload: SubscribePayload): Promise<void> {
    const isOpen = (): boolean => !connection.closed && connection.operations.has(id);
    const sendError = (errors: readonly unknown[]): void => {
      if (!isOpen()) return;
      connection.operations.delete(id);
      send(connection, stringifyMessage({ id, type: MessageType.Error, payload: formatErrors(errors, maskError) }));
    };
    const sendResultThenComplete = (result: ExecutionResult): void => {
      if (!isOpen()) return;
      connection.operations.delete(id);
      send(connection, nextFrame(id, result, maskError));
      send(connection, stringifyMessage({ id, type: MessageType.Complete }));
    };

    if (connection.operations.size > maxSubscriptionsPerConnection) {
      return sendError([
        new GraphQLError(`this connection already has ${maxSubscriptionsPerConnection} operations open (MAX_SUBSCRIPTIONS_PER_CONNECTION)`, {
          extensions: { code: 'RATE_LIMITED' },
        }),
      ]);
    }

    // The server context carries the connection's verified viewer; the context factory uses it as is.
    const enveloped = yoga.getEnveloped({ params: payload, viewer });
    let document: DocumentNode;
    try {
      document = enveloped.parse(payload.query) as DocumentNode;
    } catch (error) {
      return sendError([error instanceof GraphQLError ? error : new GraphQLError('could not parse the document')]);
    }
    const validationErrors = enveloped.validate(enveloped.schema, document) as readonly GraphQLError[];
    if (validationErrors.length > 0) return sendError(validationErrors);
    const operation = getOperationAST(document, payload.operationName);
    if (operation == null) return sendError([new GraphQLError('unknown operation', { extensions: { code: 'BAD_USER_INPUT' } })]);

    const args: ExecutionArgs = {
      schema: enveloped.schema as GraphQLSchema,
      document,
      operationName: payload.operationName,
      variableValues: payload.variables,
      contextValue: await enveloped.contextFactory(),
    };
    if (!isOpen()) return;

    if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
      return sendResultThenComplete((await enveloped.execute(args)) as ExecutionResult);
    }

    // Authorise and resolve the source once, at subscribe time: the resolvers (and their checks) run here.
    const source = await createSourceEventStream(args);
    if (!isOpen()) return;
    if (!(Symbol.asyncIterator in source)) return sendResultThenComplete(source);
    if (!(source instanceof MessageSource)) {
      // Every Subscription field Herald has returns a MessageSource; anything else is a programming error.
      return sendResultThenComplete({ errors: [new Error('subscription source is not a MessageSource')] as never });
    }
    const leave = groups.join(
      {
        schema: args.schema,
        document,
        query: payload.query,
        operationName: payload.operationName ?? undefined,
        variables: payload.variables ?? undefined,
        contextValue: args.contextValue,
        viewer: source.viewer,
        target: source.target,
      },
      { prefix: Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`), write: (prefix, body) => sendShared(connection, prefix, body) },
    );
    connection.operations.set(id, { stop: leave });
  }

  return {
    get connections() {
      return connections.size;
    },
  };
}

function nextFrame(id: string, result: ExecutionResult, maskError: (error: unknown) => Error): string {
  const payload = result.errors === undefined ? result : { ...result, errors: formatErrors(result.errors, maskError) };
  return stringifyMessage({ id, type: MessageType.Next, payload });
}
