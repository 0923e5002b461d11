import {
  createSourceEventStream,
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols, MessageType, parseMessage, stringifyMessage, type SubscribePayload } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { tokenFromConnectionParams, tokenFromUrl } from '../auth/bearer.js';
import { mayAuthenticateFromUrl } from '../auth/url-token.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { Viewer } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';
import { closeCodeLabel, errorCodeOf } from '../metrics/labels.js';
import type { Metrics } from '../metrics/metrics.js';
import { isPattern } from '../topics/topic-name.js';
import type { Logger } from '../log.js';
import type { ConnectionSubscriptions } from '../subscribe/connection-subscriptions.js';
import { closeOf, TOKEN_EXPIRED_CLOSE_CODE } from '../sessions/sessions.js';
import { assertRenewal } from '../subscribe/credential.js';
import { MessageSource } from '../subscribe/message-source.js';
import type { ResumeFrom } from '../subscribe/resume.js';
import { resumeStart } from './resume-extension.js';
import type { SubscribeService } from '../subscribe/subscribe-service.js';
import { closeReason } from './close-reason.js';
import { formatErrors } from './format-errors.js';
import { startKeepAlive } from './keep-alive.js';
import type { SendBufferLimit } from './send-buffer-limit.js';
import type { GroupMember, GroupSpec, SubscriptionGroups } from './subscription-groups.js';
import type { ConnectionControl } from '../schema/context.js';
import { writeTextFrame } from './text-frame.js';

/**
 * graphql-transport-ws, served by Herald itself so that delivery can be grouped (see
 * subscription-groups.ts). From the graphql-ws package it keeps what that package does well: the
 * protocol name and negotiation, message types, close codes, message parsing and validation, and
 * the client (every test speaks to this server through it, Apollo and urql). It replaces only the
 * per-subscriber execute/async-iterator/awaited-write chain of graphql-ws's own server.
 */

/** A missing, invalid or expired credential (at connection_init, or when the connection's token expires): graphql-ws's Unauthorized, which its client does not retry. */
export { TOKEN_EXPIRED_CLOSE_CODE };

export interface GraphqlWsServerOptions {
  readonly yoga: YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;
  readonly groups: SubscriptionGroups;
  readonly verifyToken: VerifyToken;
  readonly maskError: (error: unknown) => Error;
  readonly logger: Logger;
  /** The one subscribe path: each connection's operations (the MAX_SUBSCRIPTIONS_PER_CONNECTION cap) and their release. */
  readonly subscriptions: SubscribeService;
  /** MAX_BUFFERED_BYTES, shared with the other WebSocket surfaces. */
  readonly sendBufferLimit: SendBufferLimit;
  /** Closes by code and refusals by error code. */
  readonly metrics: Pick<Metrics, 'closed' | 'refused'>;
  /** How long a socket may stay open without connection_init. Default 3 000 ms (as graphql-ws). */
  readonly connectionInitWaitMs?: number;
  /** Server-side ping interval; a socket that has not answered the previous ping is terminated. Default 12 000 ms. */
  readonly keepAliveMs?: number;
}

export interface GraphqlWsServer {
  /** Connections open now. */
  readonly connections: number;
  /** Subscriptions open now, all connections (counted when asked: metrics scrapes). */
  readonly subscriptions: number;
}

interface Connection {
  readonly socket: WebSocket;
  /** The upgrade request's URL (a signed URL carries ?token=); the request itself is not kept. */
  readonly url: string | undefined;
  /** Open operations by id (subscriptions and in-flight queries); an id is held from its subscribe message on. */
  readonly operations: ConnectionSubscriptions<string>;
  initReceived: boolean;
  /** Closes the socket if connection_init has not come within connectionInitWaitMs; cleared when it comes. */
  initTimer: NodeJS.Timeout | undefined;
  viewer: Viewer | undefined;
  closed: boolean;
  stopWatchingSession?: () => void;
  /** Its open subscriptions by operation id: what a renewal checks again under the new credential. */
  readonly live: Map<string, LiveSubscription>;
  /** What its operations' resolvers may do to it (renewConnection). */
  readonly control: ConnectionControl;
}

/** One open subscription of a connection, as renewal needs it. */
interface LiveSubscription {
  spec: GroupSpec;
  readonly member: GroupMember;
  /** Leaves its group; replaced when a renewal moves it to another group. */
  leave: () => void;
}

export function attachGraphqlWsServer(server: WebSocketServer, options: GraphqlWsServerOptions): GraphqlWsServer {
  const { yoga, groups, verifyToken, maskError, logger, subscriptions, sendBufferLimit, metrics } = options;
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
      operations: subscriptions.connection(),
      initReceived: false,
      initTimer: undefined,
      viewer: undefined,
      closed: false,
      live: new Map(),
      control: { renew: (token) => renew(connection, token) },
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
      // The server has closed it (a client that does not answer the close frame keeps sending until ws's close timeout).
      if (connection.closed) return;
      if (isBinary) return closeConnection(connection, CloseCode.BadRequest, 'Invalid message received');
      // A Buffer: binaryType is ws's default, nodebuffer.
      handleMessage(connection, (data as Buffer).toString()).catch((error: unknown) => {
        logger.error({ err: error }, 'graphql-ws message handling failed');
        closeConnection(connection, CloseCode.InternalServerError, 'Internal server error');
      });
    });
    socket.on('error', (error) => logger.debug({ err: error }, 'graphql-ws socket error'));
    socket.once('close', (code: number) => {
      metrics.closed('graphql-ws', closeCodeLabel(code));
      connection.closed = true;
      clearTimeout(connection.initTimer);
      connections.delete(connection);
      connection.stopWatchingSession?.();
      connection.operations.endAll();
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
    connection.operations.endAll();
  }

  /**
   * The server closes the connection: its operations end and nothing it sends from now on runs. The
   * socket stays until the client answers the close frame (or ws's close timeout), and a client that
   * does not answer must not go on using, say, the credential that just expired.
   */
  function closeConnection(connection: Connection, code: number, reason: string): void {
    stopConnection(connection);
    connection.socket.close(code, reason);
  }

  /** Closes the connection when its session ends: its token expires or is revoked, or an operator disconnects it. */
  function watchSession(connection: Connection, viewer: Viewer): void {
    connection.stopWatchingSession?.();
    connection.stopWatchingSession = subscriptions.watch(viewer, (ended) => {
      const { code, reason } = closeOf(ended);
      closeConnection(connection, code, reason);
    });
  }

  /**
   * renewConnection: the new credential replaces the connection's (assertRenewal decides whether it
   * may) for its expiry and every later operation, and each open subscription is checked again under it.
   */
  async function renew(connection: Connection, token: string): Promise<Viewer> {
    const next = await verifyToken(token);
    const current = connection.viewer;
    if (current === undefined || connection.closed) throw new HeraldError('BAD_REQUEST', 'the connection has closed');
    assertRenewal(current, next);
    connection.viewer = next;
    watchSession(connection, next);
    for (const [id, live] of [...connection.live]) recheck(connection, id, live, next);
    return next;
  }

  /**
   * One open subscription under a renewed viewer: it ends with the error (FORBIDDEN) when the viewer no
   * longer allows it, and otherwise goes on without a gap. A pattern's group filters by the topics
   * limit it was opened with, so when the limit changed the subscription moves to the group of the new
   * one: joined before the old is left, both in this synchronous step between two deliveries, so no
   * message is missed or sent twice. (A pattern still anchoring at that moment skips what the old
   * registration held back; an exact topic or broadcasts needs no move: the limit allows all or none of it.)
   */
  function recheck(connection: Connection, id: string, live: LiveSubscription, viewer: Viewer): void {
    const { target } = live.spec;
    try {
      subscriptions.reauthorize(viewer, target);
    } catch (error) {
      connection.operations.end(id);
      return send(connection, errorFrame(id, [error]));
    }
    if (target.kind !== 'topic' || !isPattern(target.name) || sameTopics(live.spec.viewer.topics, viewer.topics)) return;
    const spec = { ...live.spec, viewer };
    const leaveNew = groups.join(spec, live.member);
    live.leave();
    live.spec = spec;
    live.leave = leaveNew;
  }

  /** Errors as the client receives them, each counted by its code. */
  const formatted = (errors: readonly unknown[]): GraphQLFormattedError[] => {
    const list = formatErrors(errors, maskError);
    for (const error of list) metrics.refused('graphql-ws', errorCodeOf(error));
    return list;
  };
  const errorFrame = (id: string, errors: readonly unknown[]): string => stringifyMessage({ id, type: MessageType.Error, payload: formatted(errors) });

  async function handleMessage(connection: Connection, data: string): Promise<void> {
    let message;
    try {
      message = parseMessage(data);
    } catch {
      return closeConnection(connection, CloseCode.BadRequest, 'Invalid message received');
    }
    switch (message.type) {
      case MessageType.ConnectionInit: {
        if (connection.initReceived) return closeConnection(connection, CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
        connection.initReceived = true;
        // Released now rather than when it fires: at 10k connections, 10k timers held for nothing.
        clearTimeout(connection.initTimer);
        connection.initTimer = undefined;
        const params = message.payload ?? undefined;
        try {
          const fromParams = tokenFromConnectionParams(params);
          const viewer = await verifyToken(fromParams ?? tokenFromUrl(connection.url));
          if (fromParams === undefined && !mayAuthenticateFromUrl(viewer)) {
            throw new HeraldError('FORBIDDEN', '?token= takes only signSubscription tokens; send this token in connectionParams');
          }
          connection.viewer = viewer;
        } catch (error) {
          if (!(error instanceof HeraldError)) throw error;
          // A client mistake, not an operator's concern: info, with the reason and never the token.
          logger.info({ reason: error.message }, 'graphql-ws connection refused');
          metrics.refused('graphql-ws', error.code);
          const code = error.code === 'UNAUTHENTICATED' ? CloseCode.Unauthorized : CloseCode.Forbidden;
          return closeConnection(connection, code, closeReason(error.message));
        }
        if (connection.closed) return;
        watchSession(connection, connection.viewer);
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
        if (connection.viewer === undefined) return closeConnection(connection, CloseCode.Unauthorized, 'Unauthorized');
        if (connection.operations.has(message.id)) {
          return closeConnection(connection, CloseCode.SubscriberAlreadyExists, closeReason(`Subscriber for ${message.id} already exists`));
        }
        return subscribe(connection, connection.viewer, message.id, message.payload);
      }
      case MessageType.Complete:
        connection.operations.end(message.id);
        return;
      default:
        return closeConnection(connection, CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  /** Runs one subscribe message: a grouped subscription, or a query/mutation executed once. */
  async function subscribe(connection: Connection, viewer: Viewer, id: string, payload: SubscribePayload): Promise<void> {
    // This subscribe's own hold on `id`: a `complete` ends it, and a later subscribe reusing the id
    // (after that complete) holds the id anew without reviving this one.
    let ended = false;
    const isOpen = (): boolean => !connection.closed && !ended;
    const sendError = (errors: readonly unknown[]): void => {
      if (!isOpen()) return;
      connection.operations.forget(id);
      connection.live.delete(id);
      send(connection, errorFrame(id, errors));
    };
    const sendResultThenComplete = (result: ExecutionResult): void => {
      if (!isOpen()) return;
      connection.operations.forget(id);
      send(connection, nextFrame(id, result, formatted));
      send(connection, stringifyMessage({ id, type: MessageType.Complete }));
    };

    try {
      connection.operations.assertRoom(id);
    } catch (error) {
      return send(connection, errorFrame(id, [error]));
    }
    // Held from here on, so a `complete` for it, or the connection closing, ends it wherever it is.
    connection.operations.set(id, () => void (ended = true));

    // The server context carries the connection's verified viewer; the context factory uses it as is.
    const enveloped = yoga.getEnveloped({ params: payload, viewer, connection: connection.control });
    let document: DocumentNode;
    try {
      document = enveloped.parse(payload.query) as DocumentNode;
    } catch (error) {
      return sendError([error instanceof GraphQLError ? error : new GraphQLError('could not parse the document')]);
    }
    let validationErrors: readonly GraphQLError[];
    try {
      validationErrors = enveloped.validate(enveloped.schema, document) as readonly GraphQLError[];
    } catch (error) {
      // graphql-armor's limits (aliases, depth, tokens) throw their GraphQLError instead of returning it.
      return sendError([error]);
    }
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
    let from: ResumeFrom | undefined;
    try {
      from = resumeStart(payload.extensions, document, operation, source);
    } catch (error) {
      return sendError([error]);
    }
    const spec: GroupSpec = {
      schema: args.schema,
      document,
      query: payload.query,
      operationName: payload.operationName ?? undefined,
      variables: payload.variables ?? undefined,
      contextValue: args.contextValue,
      viewer: source.viewer,
      target: source.target,
    };
    const member: GroupMember = {
      prefix: Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`),
      write: (prefix, body) => sendShared(connection, prefix, body),
      fail: (error) => sendError([error]),
    };
    const live: LiveSubscription = { spec, member, leave: groups.join(spec, member, from) };
    connection.live.set(id, live);
    connection.operations.set(id, () => {
      connection.live.delete(id);
      live.leave();
    });
    // Renewed while this subscription was being authorised: it answers to the new credential too.
    if (connection.viewer !== viewer && connection.viewer !== undefined && connection.live.has(id)) recheck(connection, id, live, connection.viewer);
  }

  return {
    get connections() {
      return connections.size;
    },
    get subscriptions() {
      let open = 0;
      for (const connection of connections) open += connection.live.size;
      return open;
    },
  };
}

/** Whether two topics limits are the same list (undefined: no limit). */
function sameTopics(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((topic, index) => topic === b[index]);
}

function nextFrame(id: string, result: ExecutionResult, formatted: (errors: readonly unknown[]) => GraphQLFormattedError[]): string {
  const payload = result.errors === undefined ? result : { ...result, errors: formatted(result.errors) };
  return stringifyMessage({ id, type: MessageType.Next, payload });
}
