import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { Message } from '../publish/message.js';
import { processRegistry } from './process-metrics.js';
import { Tally } from './tally.js';

/** Where subscribers are connected. */
export const SURFACES = ['graphql-ws', 'sse', 'courier', 'notiflux'] as const;
export type Surface = (typeof SURFACES)[number];

/** Where a message was published from: GraphQL (HTTP or graphql-ws), or a compat protocol. */
export const ORIGINS = ['graphql', 'courier', 'notiflux'] as const;
export type Origin = (typeof ORIGINS)[number];

export type MessageKind = 'topic' | 'broadcast';

/** What the gauges read when Prometheus scrapes: counts the gateway keeps anyway, so nothing is counted twice. */
export interface GaugeSources {
  readonly connections: (surface: Surface) => number;
  readonly subscriptions: (surface: Surface) => number;
  /** Whether the bus can carry messages now (always true for the in-process bus). */
  readonly busUp: () => boolean;
}

/**
 * Herald's Prometheus series (README, Metrics). Every label has a fixed, small set of values: no
 * topic, audience or subject ever becomes a label. Per-message events call a method; per-delivery
 * counts are plain tallies a surface adds to once per batch, read only at scrape time, so the fan-out
 * loop pays an addition and nothing else.
 */
export interface Metrics {
  /** Messages written to subscribers, by surface (a group event to n members adds n). */
  readonly delivered: Readonly<Record<Surface, Tally>>;
  published(origin: Origin, kind: MessageKind, count: number): void;
  publishFailed(origin: Origin, code: ErrorCode): void;
  /** An operation answered with an error: the code the client saw (`http`: GraphQL over HTTP, not SSE). */
  refused(surface: Surface | 'http', code: ErrorCode): void;
  /** A connection (an SSE stream) ended; `code` is its close code, or for SSE the reason (see closeCodeLabel). */
  closed(surface: Surface, code: string): void;
  /** Seconds the bus took to acknowledge one publish (the Redis round trip, with the history append). */
  readonly busPublishSeconds: (seconds: number) => void;
  /** A message reached this instance's fan-out: observes publish→receive lag from its publishedAt stamp. */
  readonly received: (message: Message) => void;
  /** A resumed subscription replayed `count` kept messages. */
  replayed(count: number): void;
  /** A resume was refused with CURSOR_EXPIRED. */
  cursorExpired(): void;
  /** Called once the app has built what the gauges read. */
  readGaugesFrom(sources: GaugeSources): void;
  /** The Prometheus text exposition of Herald's series and the process's. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

/** Buckets of the round-trip and lag histograms: a local Redis answers in well under a millisecond; a lag past seconds is an incident. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(): Metrics {
  const registry = new Registry();
  let sources: GaugeSources | undefined;

  const delivered = Object.fromEntries(SURFACES.map((surface) => [surface, new Tally()])) as Record<Surface, Tally>;
  const reported = Object.fromEntries(SURFACES.map((surface) => [surface, 0])) as Record<Surface, number>;
  new Counter({
    name: 'herald_deliveries_total',
    help: 'Messages written to subscribers, by surface (one message to n subscribers counts n).',
    labelNames: ['surface'],
    registers: [registry],
    collect() {
      for (const surface of SURFACES) {
        const value = delivered[surface].value;
        this.inc({ surface }, value - reported[surface]);
        reported[surface] = value;
      }
    },
  });
  new Gauge({
    name: 'herald_connections',
    help: 'Open connections by surface: graphql-ws sockets, SSE streams, courier and notiflux sockets.',
    labelNames: ['surface'],
    registers: [registry],
    collect() {
      for (const surface of SURFACES) this.set({ surface }, sources?.connections(surface) ?? 0);
    },
  });
  new Gauge({
    name: 'herald_subscriptions',
    help: 'Open subscriptions by surface.',
    labelNames: ['surface'],
    registers: [registry],
    collect() {
      for (const surface of SURFACES) this.set({ surface }, sources?.subscriptions(surface) ?? 0);
    },
  });
  new Gauge({
    name: 'herald_bus_up',
    help: '1 while the bus (Redis, or the in-process bus) can carry messages, 0 while Redis is unreachable.',
    registers: [registry],
    collect() {
      this.set(sources === undefined || sources.busUp() ? 1 : 0);
    },
  });
  const published = new Counter({
    name: 'herald_messages_published_total',
    help: 'Messages accepted for publishing, by kind (topic or broadcast) and origin (graphql, courier, notiflux).',
    labelNames: ['kind', 'origin'],
    registers: [registry],
  });
  const publishErrors = new Counter({
    name: 'herald_publish_errors_total',
    help: 'Publishes refused or failed, by origin and the error code the publisher saw.',
    labelNames: ['origin', 'code'],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'herald_refused_operations_total',
    help: 'Operations and connections answered with an error, by surface and extensions.code.',
    labelNames: ['surface', 'code'],
    registers: [registry],
  });
  const closed = new Counter({
    name: 'herald_connections_closed_total',
    help: 'Connections ended, by surface and close code (SSE: the error code that ended the stream, or client).',
    labelNames: ['surface', 'code'],
    registers: [registry],
  });
  const busPublish = new Histogram({
    name: 'herald_bus_publish_seconds',
    help: 'Time for the Redis bus to acknowledge a publish (one round trip, history append included).',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'herald_delivery_lag_seconds',
    help: "From a message's publishedAt stamp to its arrival at this instance's fan-out (across instances: includes clock skew).",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const replayed = new Counter({
    name: 'herald_history_replayed_messages_total',
    help: 'Kept messages replayed to resuming subscriptions.',
    registers: [registry],
  });
  const replays = new Counter({
    name: 'herald_history_replays_total',
    help: 'Subscriptions resumed from a cursor (with after, Last-Event-ID or a courier/notiflux resume).',
    registers: [registry],
  });
  const cursorExpired = new Counter({
    name: 'herald_cursor_expired_total',
    help: 'Resumes refused with CURSOR_EXPIRED: the gap could no longer be filled from history.',
    registers: [registry],
  });

  // Bound once: a labelled child's inc is a field update, with no label hashing per message.
  const publishedBy = Object.fromEntries(
    ORIGINS.map((origin) => [origin, { topic: published.labels({ origin, kind: 'topic' }), broadcast: published.labels({ origin, kind: 'broadcast' }) }]),
  ) as Record<Origin, Record<MessageKind, Counter.Internal>>;

  return {
    delivered,
    published(origin, kind, count) {
      publishedBy[origin][kind].inc(count);
    },
    publishFailed: (origin, code) => publishErrors.inc({ origin, code }),
    refused: (surface, code) => refused.inc({ surface, code }),
    closed: (surface, code) => closed.inc({ surface, code }),
    busPublishSeconds: (seconds) => busPublish.observe(seconds),
    received: (message) => {
      const sent = Date.parse(message.publishedAt);
      if (Number.isFinite(sent)) lag.observe(Math.max(0, Date.now() - sent) / 1000);
    },
    replayed(count) {
      replays.inc();
      if (count > 0) replayed.inc(count);
    },
    cursorExpired: () => cursorExpired.inc(),
    readGaugesFrom(given) {
      sources = given;
    },
    async scrape() {
      return (await registry.metrics()) + (await processRegistry().metrics());
    },
    contentType: registry.contentType,
  };
}
