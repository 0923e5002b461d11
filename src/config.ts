import { parseScopes, type Scope } from './auth/scopes.js';
import { parseRedisClusterNodes, type RedisClusterNodes } from './bus/redis-cluster-nodes.js';
import { DEFAULT_HISTORY } from './history/history.js';
import { DEFAULT_DATABASE_URL, parseDatabaseUrl } from './store/database-url.js';

/**
 * Everything Herald reads from its environment, read once at start, validated and frozen.
 * Nothing below `main.ts` touches `process.env`; it receives this object instead.
 */
export interface Config {
  /** `NODE_ENV === 'production'`: no development keys, no printed tokens, no generated secrets. */
  readonly production: boolean;
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host: string;
  /** TCP port; 0 picks a free one (tests). Default `4000`. */
  readonly port: number;
  /** Base URL clients reach this gateway at; signed subscription URLs are built from it. Default `http://HOST:PORT`. */
  readonly publicUrl: string | undefined;
  /**
   * A `postgres://` (`postgresql://`) URL, which several instances can share; or `sqlite:<path>`,
   * a file path with a `/` in it, or `:memory:`. An unknown scheme, a bare word or a SQLite file
   * whose folder does not exist is refused (see DATABASE_URL_FORMS). Default `sqlite:./data/herald.db`,
   * whose folder is made on first start.
   */
  readonly databaseUrl: string;
  /** Set (REDIS_URL or REDIS_CLUSTER_NODES): the bus is Redis and instances act as one. Unset: the in-process bus. */
  readonly redis: RedisConfig | undefined;
  readonly auth: AuthConfig;
  readonly limits: Limits;
  /** Serve GraphiQL at GET /graphql (Accept: text/html). Default on in development, off in production. */
  readonly graphiql: boolean;
  /** Serve the operator's console at GET /console (CONSOLE). Default on in development, off in production. */
  readonly console: boolean;
  /** Where GET /metrics (Prometheus) is served; undefined: nowhere (production without METRICS_TOKEN or METRICS_PORT). */
  readonly metrics: MetricsConfig | undefined;
  /** Refuse publish/subscribe on topics nobody declared with createTopic. Default `false`. */
  readonly requireDeclaredTopics: boolean;
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default `info`. */
  readonly logLevel: LogLevel;
  /** HISTORY_SIZE and HISTORY_TTL: what is kept per topic for resuming with `after` and the history query. */
  readonly history: HistoryConfig;
  /** FAST_LANE: the compiled HTTP publish path and grouped-event execution (src/fast-lane/); off: Yoga and graphql-js only. Default on. */
  readonly fastLane: boolean;
  /**
   * REVOCATION_TTL (seconds, here in ms): how long a revocation is kept. It must be at least the
   * longest lifetime (exp − iat) of the tokens you issue: once it is dropped, a revoked token that
   * has not expired would be accepted again. Default 604 800 (7 days).
   */
  readonly revocationTtlMs: number;
}

/** One Redis server (REDIS_URL, classic pub/sub) or a Redis Cluster (REDIS_CLUSTER_NODES, sharded pub/sub). */
export type RedisConfig = (
  | {
      /** redis:// or rediss:// URL (REDIS_URL). */
      readonly url: string;
    }
  | {
      /** REDIS_CLUSTER_NODES: the seeds, and the password and TLS every node asks for. */
      readonly cluster: RedisClusterNodes;
    }
) & {
  /** Start of every Redis channel and key Herald uses; deployments sharing a Redis need different ones. Default `herald`. */
  readonly prefix: string;
};

/**
 * METRICS_TOKEN: /metrics asks for `Authorization: Bearer <token>`. METRICS_PORT: /metrics is served on
 * its own listener (METRICS_HOST, default 127.0.0.1) instead of the main port, for a scraper on a
 * private network. Development with neither: open on the main port (which listens on 127.0.0.1 by default).
 */
export interface MetricsConfig {
  readonly token: string | undefined;
  readonly port: number | undefined;
  readonly host: string;
}

export interface HistoryConfig {
  /** HISTORY_SIZE: messages kept per topic (and per audience's broadcasts); 0 turns history off. Default 1 000. */
  readonly size: number;
  /** HISTORY_TTL (seconds, here in ms): a topic's history is dropped this long after its last publish. Default 300 (5 minutes). */
  readonly ttlMs: number;
}

export interface AuthConfig {
  /** HS256 secret, the UTF-8 bytes of JWT_SECRET as given (≥ 32 bytes). */
  readonly jwtSecret: string | undefined;
  /** PEM public key text (from JWT_PUBLIC_KEY, or JWT_PUBLIC_KEY_B64 decoded). */
  readonly jwtPublicKeyPem: string | undefined;
  readonly jwksUrl: URL | undefined;
  /** When set, tokens must carry exactly this `iss`. */
  readonly issuer: string | undefined;
  /**
   * Refuse tokens without `exp` (JWT_REQUIRE_EXP). Default true. Off only for legacy issuers that
   * never set it (some courier deployments): such tokens then never expire, so sockets they open stay open.
   */
  readonly requireExp: boolean;
  /** Seconds of clock skew accepted on exp/nbf. Default 30. */
  readonly clockToleranceSeconds: number;
  /** Audience of tokens that carry no `aud`. Default `default`. */
  readonly defaultAudience: string;
  /** Scopes of tokens that carry no `scope`. Default `subscribe` (least privilege). */
  readonly defaultScopes: readonly Scope[];
  /** HS256 secret for signSubscription tokens; undefined in development means "generate one per process". */
  readonly signingSecret: string | undefined;
}

export interface Limits {
  /** Largest publish payload, measured as its JSON text in bytes. Default 65 536 (64 KiB). */
  readonly maxPayloadBytes: number;
  /** Largest HTTP request body in bytes. Default 1 048 576 (1 MiB). */
  readonly maxBodyBytes: number;
  /** Concurrent WebSocket connections per instance. Default 10 000. */
  readonly maxConnections: number;
  /**
   * Bytes a WebSocket may have queued for sending before it is closed with 4008 (a client that stopped reading), and payload
   * bytes an SSE stream may hold for a reader that stopped reading before it ends with SLOW_CONSUMER. Default 1 048 576 (1 MiB).
   */
  readonly maxBufferedBytes: number;
  /** Concurrent subscriptions on one WebSocket connection. Default 100. */
  readonly maxSubscriptionsPerConnection: number;
  /** Deepest selection set a document may have. Default 10. */
  readonly maxQueryDepth: number;
  /** graphql-armor cost ceiling of one document. Default 5 000. */
  readonly maxQueryComplexity: number;
  /** Most aliases in one document. Default 15. */
  readonly maxAliases: number;
  /** Most tokens in one document (parser work bound). Default 2 000. */
  readonly maxTokens: number;
  /** Milliseconds a graceful shutdown waits for in-flight requests before cutting them. Default 10 000. */
  readonly shutdownTimeoutMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Thrown by loadConfig with every problem found, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const MIN_SECRET_BYTES = 32;

/** Reads and validates the environment. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  };
  const secret = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (Buffer.byteLength(value, 'utf8') < MIN_SECRET_BYTES) {
      problems.push(`${name} must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    return value;
  };

  const production = env.NODE_ENV === 'production';
  const host = read('HOST') ?? '127.0.0.1';
  const port = int('PORT', 4000, 0, 65535);

  const publicUrl = read('PUBLIC_URL');
  if (publicUrl !== undefined && !isHttpUrl(publicUrl)) {
    problems.push(`PUBLIC_URL must be an http:// or https:// URL, got "${publicUrl}"`);
  }

  const jwtSecret = secret('JWT_SECRET');
  const signingSecret = secret('SIGNING_SECRET');
  if (jwtSecret !== undefined && jwtSecret === signingSecret) {
    // A shared secret would let any JWT_SECRET token pass as a (subscribe-only) signed one and vice versa.
    problems.push('SIGNING_SECRET must differ from JWT_SECRET');
  }

  let jwtPublicKeyPem = read('JWT_PUBLIC_KEY');
  const publicKeyB64 = read('JWT_PUBLIC_KEY_B64');
  if (jwtPublicKeyPem !== undefined && publicKeyB64 !== undefined) {
    problems.push('set JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_B64, not both');
  } else if (publicKeyB64 !== undefined) {
    jwtPublicKeyPem = Buffer.from(publicKeyB64, 'base64').toString('utf8');
  }
  if (jwtPublicKeyPem !== undefined) {
    // Environment files often carry PEMs on one line with literal "\n".
    jwtPublicKeyPem = jwtPublicKeyPem.replace(/\\n/g, '\n');
    if (!jwtPublicKeyPem.includes('-----BEGIN PUBLIC KEY-----')) {
      problems.push(`${publicKeyB64 ? 'JWT_PUBLIC_KEY_B64 must be the base64 of' : 'JWT_PUBLIC_KEY must be'} a PEM "BEGIN PUBLIC KEY" block`);
    }
  }

  const jwksRaw = read('JWKS_URL');
  let jwksUrl: URL | undefined;
  if (jwksRaw !== undefined) {
    if (isHttpUrl(jwksRaw)) jwksUrl = new URL(jwksRaw);
    else problems.push(`JWKS_URL must be an http:// or https:// URL, got "${jwksRaw}"`);
  }

  if (production && jwtSecret === undefined && jwtPublicKeyPem === undefined && jwksRaw === undefined) {
    problems.push('NODE_ENV=production needs a token key: set JWT_SECRET, JWT_PUBLIC_KEY, JWT_PUBLIC_KEY_B64 or JWKS_URL');
  }
  const redisUrl = read('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^/]/i.test(redisUrl)) {
    problems.push(`REDIS_URL must be a redis:// or rediss:// URL, got "${redisUrl}"`);
  }
  const clusterNodesRaw = read('REDIS_CLUSTER_NODES');
  const clusterNodes = clusterNodesRaw === undefined ? undefined : parseRedisClusterNodes(clusterNodesRaw);
  if (clusterNodes !== undefined && 'problem' in clusterNodes) problems.push(clusterNodes.problem);
  if (redisUrl !== undefined && clusterNodesRaw !== undefined) {
    problems.push(
      'REDIS_URL and REDIS_CLUSTER_NODES are both set: keep REDIS_CLUSTER_NODES for a Redis Cluster (sharded pub/sub, one shard per topic), or REDIS_URL for one Redis server, and unset the other',
    );
  }
  const redisPrefix = read('REDIS_PREFIX') ?? 'herald';
  if (!/^[\w.:-]{1,64}$/.test(redisPrefix)) {
    problems.push(`REDIS_PREFIX must be 1 to 64 letters, digits, or . _ : -, got "${redisPrefix}"`);
  }
  if (production && (redisUrl !== undefined || clusterNodesRaw !== undefined) && signingSecret === undefined) {
    problems.push(
      `${redisUrl !== undefined ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES'} is set (several instances), so SIGNING_SECRET must be set to one value shared by every instance: a per-process secret would make signed URLs from one instance fail on the others`,
    );
  } else if (production && signingSecret === undefined) {
    problems.push(`NODE_ENV=production needs SIGNING_SECRET (≥ ${MIN_SECRET_BYTES} bytes, shared by every instance) for signSubscription tokens`);
  }

  const defaultScopesRaw = read('DEFAULT_SCOPES') ?? 'subscribe';
  const parsedScopes = parseScopes(defaultScopesRaw.split(/[\s,]+/));
  const defaultScopes = 'scopes' in parsedScopes ? parsedScopes.scopes : undefined;
  if ('problem' in parsedScopes) {
    problems.push(`DEFAULT_SCOPES: ${parsedScopes.problem}`);
  }

  const databaseUrl = read('DATABASE_URL') ?? DEFAULT_DATABASE_URL;
  const database = parseDatabaseUrl(databaseUrl);
  if ('problem' in database) problems.push(database.problem);

  const logLevel = (read('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const metricsToken = secret('METRICS_TOKEN');
  const metricsPort = read('METRICS_PORT') === undefined ? undefined : int('METRICS_PORT', 0, 0, 65535);
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    problems.push('METRICS_PORT must differ from PORT (unset it to serve /metrics on the main port, behind METRICS_TOKEN)');
  }
  const metricsServed = !production || metricsToken !== undefined || metricsPort !== undefined;

  const config: Config = {
    production,
    host,
    port,
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    databaseUrl,
    redis:
      redisUrl !== undefined
        ? { url: redisUrl, prefix: redisPrefix }
        : clusterNodes !== undefined && 'cluster' in clusterNodes
          ? { cluster: clusterNodes.cluster, prefix: redisPrefix }
          : undefined,
    auth: {
      jwtSecret,
      jwtPublicKeyPem,
      jwksUrl,
      issuer: read('JWT_ISSUER'),
      clockToleranceSeconds: int('JWT_CLOCK_TOLERANCE', 30, 0, 3600),
      requireExp: bool('JWT_REQUIRE_EXP', true),
      defaultAudience: read('DEFAULT_AUDIENCE') ?? 'default',
      defaultScopes: defaultScopes ?? ['SUBSCRIBE'],
      signingSecret,
    },
    limits: {
      maxPayloadBytes: int('MAX_PAYLOAD_BYTES', 64 * 1024, 1),
      maxBodyBytes: int('MAX_BODY_BYTES', 1024 * 1024, 1024),
      maxConnections: int('MAX_CONNECTIONS', 10_000, 1),
      maxSubscriptionsPerConnection: int('MAX_SUBSCRIPTIONS_PER_CONNECTION', 100, 1),
      maxBufferedBytes: int('MAX_BUFFERED_BYTES', 1024 * 1024, 1024),
      maxQueryDepth: int('MAX_QUERY_DEPTH', 10, 1),
      maxQueryComplexity: int('MAX_QUERY_COMPLEXITY', 5_000, 1),
      maxAliases: int('MAX_ALIASES', 15, 0),
      maxTokens: int('MAX_TOKENS', 2_000, 1),
      shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 0),
    },
    graphiql: bool('GRAPHIQL', !production),
    console: bool('CONSOLE', !production),
    metrics: metricsServed ? { token: metricsToken, port: metricsPort, host: read('METRICS_HOST') ?? '127.0.0.1' } : undefined,
    requireDeclaredTopics: bool('REQUIRE_DECLARED_TOPICS', false),
    logLevel: logLevel as LogLevel,
    history: {
      size: int('HISTORY_SIZE', DEFAULT_HISTORY.size, 0, 1_000_000),
      ttlMs: int('HISTORY_TTL', DEFAULT_HISTORY.ttlMs / 1000, 1, 30 * 24 * 3600) * 1000,
    },
    fastLane: bool('FAST_LANE', true),
    revocationTtlMs: int('REVOCATION_TTL', 7 * 24 * 3600, 1, 10 * 365 * 24 * 3600) * 1000,
  };
  if (config.limits.maxPayloadBytes > config.limits.maxBodyBytes) {
    problems.push('MAX_PAYLOAD_BYTES must not exceed MAX_BODY_BYTES (a payload travels inside a request body)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** The URL clients use to reach this instance: PUBLIC_URL, or derived from where it listens. */
export function publicBaseUrl(config: Config, listeningPort: number): string {
  if (config.publicUrl !== undefined) return config.publicUrl;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listeningPort}`;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object' && !(child instanceof URL)) deepFreeze(child as object);
  }
  return Object.freeze(value);
}
