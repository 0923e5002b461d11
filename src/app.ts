import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { resolveKeys, type ResolvedKeys } from './auth/resolve-keys.js';
import { createSubscriptionSigner } from './auth/subscription-signer.js';
import { createTokenVerifier, type VerifyToken } from './auth/verify-token.js';
import type { Bus } from './bus/bus.js';
import { createFanout, type Fanout, type SubscriberErrorHandler } from './bus/fanout.js';
import { openBus } from './bus/open-bus.js';
import { createCatalogService } from './catalog/catalog-service.js';
import { createCourierSurface } from './compat/courier/courier-surface.js';
import { createNotifluxSurface } from './compat/notiflux/notiflux-surface.js';
import type { CompatDeps, CompatSurface } from './compat/surface.js';
import { createConsolePages } from './console/console-pages.js';
import { publicBaseUrl, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { countedPublisher } from './metrics/counted-publisher.js';
import { createMetrics, type Origin } from './metrics/metrics.js';
import { createMetricsEndpoint, METRICS_PATH } from './metrics/metrics-endpoint.js';
import { useRefusalCounts } from './metrics/refusal-counts.js';
import { StreamCounts } from './metrics/stream-counts.js';
import { createPublishService } from './publish/publish-service.js';
import { createSubscribeService } from './subscribe/subscribe-service.js';
import { createSessionControl } from './sessions/session-control.js';
import { createSessions, revokedError } from './sessions/sessions.js';
import type { Services } from './schema/context.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { limitRequestBody, reply } from './transport/body-limit.js';
import { createMaskError } from './transport/error-codes.js';
import { attachGraphqlWsServer, type GraphqlWsServer } from './transport/graphql-ws-server.js';
import { SHUTDOWN_CLOSE_CODE } from './transport/shutdown-close-code.js';
import { createSendBufferLimit, type SendBufferLimit } from './transport/send-buffer-limit.js';
import { createHttpFastPath, createPreparedDocuments, httpWithoutFastLane, type HttpFastPath } from './fast-lane/http-fast-path.js';
import { createSubscriptionGroups, type SubscriptionGroups } from './transport/subscription-groups.js';
import { schema } from './schema/index.js';
import { createHeraldYoga, GRAPHQL_PATH } from './transport/yoga.js';

/** The most Linux accepts; it uses min(this, net.core.somaxconn), so somaxconn alone decides (README, Running several instances). */
const LISTEN_BACKLOG = 65_535;

export interface AppOptions {
  /** Defaults to resolveKeys(config): configured keys, or the development pair. */
  readonly keys?: ResolvedKeys;
  readonly logger?: Logger;
  /** GraphiQL's opening query and headers. */
  readonly graphiql?: { readonly defaultQuery?: string; readonly headers?: string };
}

export interface App {
  /** Listens on HOST:PORT; resolves with the base URL (http://host:port). */
  start(): Promise<string>;
  /** Stops accepting, closes sockets with 1001, finishes in-flight requests, closes the store. Idempotent. */
  stop(): Promise<void>;
  readonly services: Services;
  readonly fanout: Fanout;
  /** Shared execution groups of graphql-ws subscriptions. */
  readonly groups: SubscriptionGroups;
  readonly graphqlWs: GraphqlWsServer;
  /** MAX_BUFFERED_BYTES across every WebSocket surface; `closes` counts slow consumers closed. */
  readonly sendBufferLimit: SendBufferLimit;
  readonly httpFastPath: HttpFastPath;
  readonly keys: ResolvedKeys;
  readonly verifyToken: VerifyToken;
  readonly logger: Logger;
  /** Where /metrics is served once started: the main URL's, METRICS_PORT's own, or undefined (not served). */
  metricsUrl(): string | undefined;
}

/** Builds the whole gateway from a validated Config. Used by main.ts and by every test. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const keys = options.keys ?? resolveKeys(config);
  const sessions = createSessions();
  const verifyToken = await createTokenVerifier(keys.verification, config.auth, (viewer) => {
    const revocation = sessions.revocationOf(viewer);
    return revocation === undefined ? undefined : revokedError(revocation);
  });
  const store: Store = await openStore(config.databaseUrl, { logger });
  // Counted whether or not /metrics is served: the counting is the same code path either way.
  const metrics = createMetrics();
  const bus: Bus = openBus(config.redis, config.history, logger, metrics.busPublishSeconds);
  const sessionControl = createSessionControl({ store, bus, sessions, revocationTtlMs: config.revocationTtlMs, logger });
  const reportSubscriberError: SubscriberErrorHandler = (error, message) =>
    logger.error({ err: error, audience: message.audience, topic: message.topic, id: message.id }, 'a subscriber failed to take a message; the others got it');
  const fanout = createFanout(bus, reportSubscriberError, metrics.received);
  bus.answerWith((question) =>
    question.kind === 'subscribers' ? fanout.subscriberCount(question.audience, question.topic) : (sessionControl.answer(question) ?? 0),
  );
  await sessionControl.start();

  const streams = new StreamCounts(metrics);
  let listeningPort = config.port;
  const publisher = createPublishService({
    bus,
    store,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    requireDeclaredTopics: config.requireDeclaredTopics,
  });
  const services: Services = {
    store,
    subscriptions: createSubscribeService({
      fanout,
      bus,
      store,
      requireDeclaredTopics: config.requireDeclaredTopics,
      maxSubscriptionsPerConnection: config.limits.maxSubscriptionsPerConnection,
      maxBufferedBytes: config.limits.maxBufferedBytes,
      sessions,
      metrics,
      streams,
    }),
    countSubscribers: (audience, topic) => bus.ask({ kind: 'subscribers', audience, topic }),
    sessions: sessionControl,
    publisher: countedPublisher(publisher, metrics, 'graphql'),
    catalog: createCatalogService({ store, publisher, logger }),
    signer: createSubscriptionSigner(keys.verification.signingSecret, () => publicBaseUrl(config, listeningPort)),
  };

  const maskError = createMaskError(logger);
  const maskUnexpected = (error: unknown): Error => maskError(error, 'Unexpected error.');
  const prepared = createPreparedDocuments();
  const yoga = createHeraldYoga({
    services,
    verifyToken,
    limits: config.limits,
    logger,
    maskError,
    graphiql: config.graphiql ? (options.graphiql ?? {}) : false,
    plugins: [useRefusalCounts(metrics), ...(config.fastLane ? [prepared.plugin] : [])],
    checkReady: async () => {
      bus.assertAvailable();
      await store.ping();
    },
  });
  // FAST_LANE=off: every request goes to Yoga, every grouped event through graphql-js.
  const httpFastPath = config.fastLane
    ? createHttpFastPath({
        yoga,
        schema,
        prepared,
        verifyToken,
        services,
        maskError: maskUnexpected,
        graphqlPath: GRAPHQL_PATH,
        refused: (code) => metrics.refused('http', code),
      })
    : httpWithoutFastLane(yoga);
  const sendBufferLimit = createSendBufferLimit(config.limits.maxBufferedBytes, logger);
  const compatDeps = (origin: Origin): CompatDeps => ({
    services: { ...services, publisher: countedPublisher(publisher, metrics, origin) },
    verifyToken,
    limits: config.limits,
    logger,
    sendBufferLimit,
    metrics,
    publicBaseUrl: () => publicBaseUrl(config, listeningPort),
  });
  const courier = createCourierSurface(compatDeps('courier'));
  const notiflux = createNotifluxSurface(compatDeps('notiflux'));
  const compat: CompatSurface[] = [courier, notiflux];
  const serveMetrics = config.metrics === undefined ? undefined : createMetricsEndpoint(metrics, config.metrics.token, logger);
  // METRICS_PORT: a listener of its own, so the main port never answers /metrics.
  const metricsOnMainPort = config.metrics?.port === undefined ? serveMetrics : undefined;
  // CONSOLE off: no handler, so /console is an unknown path (404).
  const consolePages = config.console ? createConsolePages() : undefined;
  const handleHttp = limitRequestBody(
    config.limits.maxBodyBytes,
    (request, response) => {
      // The GraphQL path is no compat route; the publish path skips the surfaces' URL parsing.
      if (!isGraphqlPath(request.url)) {
        if (metricsOnMainPort !== undefined && pathOf(request.url) === METRICS_PATH) return metricsOnMainPort(request, response);
        if (consolePages?.handle(request, response) === true) return;
        for (const surface of compat) if (surface.handleRequest(request, response)) return;
      }
      return httpFastPath.handle(request, response);
    },
    // A compat route's refusal keeps its protocol's error shape; everything else answers as GraphQL.
    (request, response, refusal) => {
      for (const surface of compat) if (surface.answerRefusal(request, response, refusal)) return;
      reply(response, refusal.code, refusal.message, refusal.status);
    },
  );
  const server = createServer(handleHttp);
  // Node closes a keep-alive connection after 5 s idle; load balancers in front keep theirs longer
  // (AWS ALB 60 s), so a connection they reuse can be reset under them. The 5 s also fired, under a
  // fan-out burst that kept the loop busy for seconds, on connections whose next request sat unread
  // (the benchmark's publisher saw ECONNRESET). 65 s, with headersTimeout above it as Node requires.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  // Bounds a client's incoming frames like the HTTP body limit bounds requests.
  const graphqlSockets = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxBodyBytes });
  const groups = createSubscriptionGroups({
    subscriptions: services.subscriptions,
    fanout,
    maskError: maskUnexpected,
    onDeliveryError: reportSubscriberError,
    compiled: config.fastLane,
    delivered: metrics.delivered['graphql-ws'],
  });
  const graphqlWs = attachGraphqlWsServer(graphqlSockets, {
    yoga: yoga as never,
    groups,
    verifyToken,
    maskError: maskUnexpected,
    logger,
    subscriptions: services.subscriptions,
    sendBufferLimit,
    metrics,
  });
  metrics.readGaugesFrom({
    connections: (surface) =>
      surface === 'graphql-ws' ? graphqlWs.connections : surface === 'sse' ? streams.open : (surface === 'courier' ? courier : notiflux).connections,
    subscriptions: (surface) =>
      surface === 'graphql-ws' ? graphqlWs.subscriptions : surface === 'sse' ? streams.open : (surface === 'courier' ? courier : notiflux).subscriptions,
    busUp: () => {
      try {
        bus.assertAvailable();
        return true;
      } catch {
        return false;
      }
    },
  });
  const metricsServer =
    config.metrics?.port === undefined || serveMetrics === undefined
      ? undefined
      : createServer((request, response) => {
          if (pathOf(request.url) === METRICS_PATH) return serveMetrics(request, response);
          response.writeHead(404, { 'content-length': 0 });
          response.end();
        });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const surface = url.pathname === GRAPHQL_PATH ? undefined : compat.find((candidate) => candidate.ownsUpgrade(url));
    if (url.pathname !== GRAPHQL_PATH && surface === undefined) return rejectUpgrade(socket, 404, 'Not Found');
    // One limit over every WebSocket surface.
    const open = graphqlSockets.clients.size + compat.reduce((sum, each) => sum + each.connections, 0);
    if (open >= config.limits.maxConnections) {
      logger.warn({ limit: config.limits.maxConnections }, 'WebSocket refused: MAX_CONNECTIONS reached');
      return rejectUpgrade(socket, 503, 'Service Unavailable');
    }
    if (surface !== undefined) return surface.handleUpgrade(request, socket, head);
    graphqlSockets.handleUpgrade(request, socket, head, (ws) => graphqlSockets.emit('connection', ws, request));
  });

  let metricsAt: string | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ws of graphqlSockets.clients) ws.close(SHUTDOWN_CLOSE_CODE, 'server shutting down');
      for (const surface of compat) surface.close();
      // Ends SSE streams, so their responses finish like any other in-flight request.
      fanout.closeAll();
      server.closeIdleConnections();
      const timeout = setTimeout(() => {
        logger.warn('shutdown timeout: cutting remaining connections');
        server.closeAllConnections();
        for (const ws of graphqlSockets.clients) ws.terminate();
      }, config.limits.shutdownTimeoutMs);
      timeout.unref();
      if (server.listening) await closed;
      clearTimeout(timeout);
      graphqlSockets.close();
      if (metricsServer?.listening) await new Promise((resolve) => metricsServer.close(resolve));
      sessionControl.stop();
      sessions.close();
      await bus.close();
      await yoga.dispose();
      await store.close();
      logger.info('stopped');
    })());

  return {
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // Node's default backlog (511) overflows when thousands of clients reconnect at once (a
        // deploy, a network blip): the kernel drops their SYNs and they wait out TCP retransmits.
        // The kernel caps it at net.core.somaxconn, the operator's knob.
        server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      listeningPort = (server.address() as AddressInfo).port;
      const url = httpUrl(config.host, listeningPort);
      logger.info({ url: `${url}${GRAPHQL_PATH}` }, 'listening');
      if (metricsServer !== undefined && config.metrics?.port !== undefined) {
        const { host, port } = config.metrics;
        await new Promise<void>((resolve, reject) => {
          metricsServer.once('error', reject);
          metricsServer.listen({ port, host }, () => {
            metricsServer.off('error', reject);
            resolve();
          });
        });
        metricsAt = `${httpUrl(host, (metricsServer.address() as AddressInfo).port)}${METRICS_PATH}`;
      } else if (serveMetrics !== undefined) metricsAt = `${url}${METRICS_PATH}`;
      if (metricsAt !== undefined) logger.info({ url: metricsAt, token: config.metrics?.token !== undefined }, 'metrics served');
      return url;
    },
    stop,
    services,
    fanout,
    groups,
    graphqlWs,
    sendBufferLimit,
    httpFastPath,
    keys,
    verifyToken,
    logger,
    metricsUrl: () => metricsAt,
  };
}

function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A request target's path, without its query string. */
function pathOf(target: string | undefined): string {
  return (target ?? '/').split('?', 1)[0]!;
}

function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** How long an idle HTTP keep-alive connection stays open (see createApp). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Whether a request target is exactly the GraphQL path, with or without a query string (no URL parsing). */
function isGraphqlPath(target: string | undefined): boolean {
  return target !== undefined && target.startsWith(GRAPHQL_PATH) && (target.length === GRAPHQL_PATH.length || target[GRAPHQL_PATH.length] === '?');
}
