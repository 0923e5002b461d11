import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, MIN_SECRET_BYTES, type Config } from '../src/config.js';

const SECRET = 'a'.repeat(MIN_SECRET_BYTES);
const OTHER_SECRET = 'b'.repeat(MIN_SECRET_BYTES);

/** The problems loadConfig reports for `env`; fails the test when it does not throw a ConfigError. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const publicKeyPem = (): string => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('loadConfig', () => {
  it('has documented defaults for an empty environment (development)', () => {
    const config: Config = loadConfig({});
    expect(config).toEqual({
      production: false,
      host: '127.0.0.1',
      port: 4000,
      publicUrl: undefined,
      databaseUrl: 'sqlite:./data/herald.db',
      redis: undefined,
      auth: {
        jwtSecret: undefined,
        jwtPublicKeyPem: undefined,
        jwksUrl: undefined,
        issuer: undefined,
        clockToleranceSeconds: 30,
        requireExp: true,
        defaultAudience: 'default',
        defaultScopes: ['SUBSCRIBE'],
        signingSecret: undefined,
      },
      limits: {
        maxPayloadBytes: 65_536,
        maxBodyBytes: 1_048_576,
        maxConnections: 10_000,
        maxSubscriptionsPerConnection: 100,
        maxBufferedBytes: 1048576,
        maxQueryDepth: 10,
        maxQueryComplexity: 5_000,
        maxAliases: 15,
        maxTokens: 2_000,
        shutdownTimeoutMs: 10_000,
      },
      graphiql: true,
      console: true,
      metrics: { token: undefined, port: undefined, host: '127.0.0.1' },
      requireDeclaredTopics: false,
      logLevel: 'info',
      history: { size: 1000, ttlMs: 300_000 },
      fastLane: true,
      revocationTtlMs: 604_800_000,
    });
  });

  it('returns a frozen config, nested objects included', () => {
    const config = loadConfig({ JWT_SECRET: SECRET });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.auth)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  it('reads the variables it documents', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '0',
      PUBLIC_URL: 'https://herald.example.com/',
      DATABASE_URL: ':memory:',
      JWT_SECRET: SECRET,
      SIGNING_SECRET: OTHER_SECRET,
      JWT_ISSUER: 'https://issuer.example.com',
      JWT_CLOCK_TOLERANCE: '5',
      DEFAULT_AUDIENCE: 'acme',
      DEFAULT_SCOPES: 'subscribe, publish',
      MAX_PAYLOAD_BYTES: '100',
      MAX_BODY_BYTES: '2048',
      MAX_CONNECTIONS: '3',
      MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      MAX_BUFFERED_BYTES: '65536',
      MAX_QUERY_DEPTH: '4',
      MAX_QUERY_COMPLEXITY: '50',
      MAX_ALIASES: '0',
      MAX_TOKENS: '10',
      SHUTDOWN_TIMEOUT_MS: '0',
      REQUIRE_DECLARED_TOPICS: 'yes',
      LOG_LEVEL: 'SILENT',
    });
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(0);
    // Trailing slashes are trimmed so URLs can be built by appending paths.
    expect(config.publicUrl).toBe('https://herald.example.com');
    expect(config.databaseUrl).toBe(':memory:');
    expect(config.auth).toMatchObject({
      jwtSecret: SECRET,
      signingSecret: OTHER_SECRET,
      issuer: 'https://issuer.example.com',
      clockToleranceSeconds: 5,
      defaultAudience: 'acme',
    });
    expect([...config.auth.defaultScopes].sort()).toEqual(['PUBLISH', 'SUBSCRIBE']);
    expect(config.limits).toEqual({
      maxPayloadBytes: 100,
      maxBodyBytes: 2048,
      maxConnections: 3,
      maxSubscriptionsPerConnection: 2,
      maxBufferedBytes: 65536,
      maxQueryDepth: 4,
      maxQueryComplexity: 50,
      maxAliases: 0,
      maxTokens: 10,
      shutdownTimeoutMs: 0,
    });
    expect(config.requireDeclaredTopics).toBe(true);
    expect(config.logLevel).toBe('silent');
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({
      PORT: '99999',
      MAX_PAYLOAD_BYTES: 'lots',
      MAX_CONNECTIONS: '0',
      REQUIRE_DECLARED_TOPICS: 'maybe',
      LOG_LEVEL: 'loud',
      DEFAULT_SCOPES: 'subscribe, admin',
      JWKS_URL: 'ftp://keys.example.com',
      JWT_SECRET: 'short',
    });
    const expected = [
      /^PORT\b.*"99999"/,
      /^MAX_PAYLOAD_BYTES\b.*"lots"/,
      /^MAX_CONNECTIONS\b.*"0"/,
      /^REQUIRE_DECLARED_TOPICS\b.*"maybe"/,
      /^LOG_LEVEL\b.*"loud"/,
      /^DEFAULT_SCOPES: scope "admin" is not one of subscribe, publish, broadcast, manage$/,
      /^JWKS_URL\b/,
      /^JWT_SECRET\b/,
    ];
    for (const pattern of expected)
      expect(
        problems.some((problem) => pattern.test(problem)),
        String(pattern),
      ).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('puts every problem in the error message, one per line', () => {
    try {
      loadConfig({ PORT: 'x', MAX_QUERY_DEPTH: '0' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/PORT/);
      expect((error as Error).message).toMatch(/MAX_QUERY_DEPTH/);
    }
  });

  it(`refuses a JWT_SECRET under ${MIN_SECRET_BYTES} bytes, counting UTF-8 bytes`, () => {
    expect(problemsOf({ JWT_SECRET: 'a'.repeat(MIN_SECRET_BYTES - 1) })).toEqual([
      expect.stringMatching(new RegExp(`JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`)),
    ]);
    expect(loadConfig({ JWT_SECRET: 'a'.repeat(MIN_SECRET_BYTES) }).auth.jwtSecret).toHaveLength(MIN_SECRET_BYTES);
    // 16 two-byte characters are 32 bytes: the length is in bytes, not characters.
    expect(loadConfig({ JWT_SECRET: 'é'.repeat(MIN_SECRET_BYTES / 2) }).auth.jwtSecret).toBe('é'.repeat(MIN_SECRET_BYTES / 2));
  });

  it('takes JWT_SECRET as given (no trimming, no base64 decoding)', () => {
    const secret = ` ${'c'.repeat(MIN_SECRET_BYTES)}= `;
    expect(loadConfig({ JWT_SECRET: secret }).auth.jwtSecret).toBe(secret);
  });

  it('refuses a short SIGNING_SECRET and one equal to JWT_SECRET', () => {
    expect(problemsOf({ JWT_SECRET: SECRET, SIGNING_SECRET: 'short' })).toEqual([expect.stringMatching(/^SIGNING_SECRET must be at least/)]);
    expect(problemsOf({ JWT_SECRET: SECRET, SIGNING_SECRET: SECRET })).toEqual([expect.stringMatching(/SIGNING_SECRET must differ/)]);
  });

  it('refuses production without a token key, naming the variables to set', () => {
    const problems = problemsOf({ NODE_ENV: 'production', SIGNING_SECRET: OTHER_SECRET });
    expect(problems).toHaveLength(1);
    for (const name of ['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_B64', 'JWKS_URL']) expect(problems[0]).toContain(name);
  });

  it('refuses production without SIGNING_SECRET', () => {
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: SECRET });
    expect(problems).toEqual([expect.stringContaining('SIGNING_SECRET')]);
  });

  it('reads REDIS_URL and REDIS_PREFIX (default "herald"), and refuses malformed ones', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'herald' });
    expect(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380/2', REDIS_PREFIX: 'herald-eu.1' }).redis).toEqual({
      url: 'rediss://cache.internal:6380/2',
      prefix: 'herald-eu.1',
    });
    expect(problemsOf({ REDIS_URL: 'localhost:6379' })).toEqual([expect.stringMatching(/^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/)]);
    expect(problemsOf({ REDIS_URL: 'redis://h', REDIS_PREFIX: 'has space' })).toEqual([expect.stringMatching(/^REDIS_PREFIX must be/)]);
  });

  it('reads REDIS_CLUSTER_NODES: host:port seeds, or URLs stating the password and TLS once for every node', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002' }).redis).toEqual({
      cluster: {
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
          { host: '::1', port: 7002 },
        ],
        username: undefined,
        password: undefined,
        tls: false,
      },
      prefix: 'herald',
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://herald:p%40ss@cache-1:6380,cache-2:6380', REDIS_PREFIX: 'eu' }).redis).toEqual({
      cluster: {
        nodes: [
          { host: 'cache-1', port: 6380 },
          { host: 'cache-2', port: 6380 },
        ],
        username: 'herald',
        password: 'p@ss',
        tls: true,
      },
      prefix: 'eu',
    });
  });

  it('refuses a malformed REDIS_CLUSTER_NODES without echoing it, and REDIS_URL beside it, saying which to keep', () => {
    for (const bad of ['cache-1', 'http://cache-1:7000', 'cache-1:7000/2', ',', 'redis://:a@h1:1,redis://:b@h2:2', 'redis://h1:1,rediss://h2:2']) {
      const problems = problemsOf({ REDIS_CLUSTER_NODES: bad });
      expect(problems, bad).toEqual([expect.stringMatching(/^REDIS_CLUSTER_NODES: .*; accepted forms: /)]);
      expect(problems[0]).not.toContain(':a@');
    }
    expect(problemsOf({ REDIS_URL: 'redis://h:6379', REDIS_CLUSTER_NODES: 'h:7000' })).toEqual([
      expect.stringMatching(
        /REDIS_URL and REDIS_CLUSTER_NODES are both set: keep REDIS_CLUSTER_NODES for a Redis Cluster .* or REDIS_URL for one Redis server/,
      ),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: 'h:7000' })).toEqual([
      expect.stringMatching(/REDIS_CLUSTER_NODES is set .*SIGNING_SECRET/),
    ]);
  });

  it('refuses production with REDIS_URL but no SIGNING_SECRET, saying why instances need one', () => {
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: SECRET, REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(problems).toEqual([expect.stringMatching(/REDIS_URL is set .*SIGNING_SECRET.*shared by every instance/)]);
  });

  it('accepts production with each kind of token key and a SIGNING_SECRET', () => {
    const pem = publicKeyPem();
    for (const key of [
      { JWT_SECRET: SECRET },
      { JWT_PUBLIC_KEY: pem },
      { JWT_PUBLIC_KEY_B64: Buffer.from(pem).toString('base64') },
      { JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json' },
    ]) {
      const config = loadConfig({ NODE_ENV: 'production', SIGNING_SECRET: OTHER_SECRET, ...key });
      expect(config.production).toBe(true);
    }
  });

  it('decodes JWT_PUBLIC_KEY_B64 to the PEM', () => {
    const pem = publicKeyPem();
    expect(loadConfig({ JWT_PUBLIC_KEY_B64: Buffer.from(pem).toString('base64') }).auth.jwtPublicKeyPem).toBe(pem);
  });

  it('turns literal \\n in a one-line JWT_PUBLIC_KEY into newlines', () => {
    const pem = publicKeyPem();
    const oneLine = pem.trim().replace(/\n/g, '\\n');
    expect(loadConfig({ JWT_PUBLIC_KEY: oneLine }).auth.jwtPublicKeyPem).toBe(pem.trim());
  });

  it('refuses a JWT_PUBLIC_KEY_B64 that is not a base64 PEM public key', () => {
    expect(problemsOf({ JWT_PUBLIC_KEY_B64: Buffer.from('not a key').toString('base64') })).toEqual([
      expect.stringMatching(/^JWT_PUBLIC_KEY_B64 must be the base64 of a PEM/),
    ]);
    // The PEM itself where its base64 is expected.
    expect(problemsOf({ JWT_PUBLIC_KEY_B64: publicKeyPem() })).toEqual([expect.stringMatching(/^JWT_PUBLIC_KEY_B64/)]);
  });

  it('refuses JWT_PUBLIC_KEY and JWT_PUBLIC_KEY_B64 together', () => {
    const pem = publicKeyPem();
    expect(problemsOf({ JWT_PUBLIC_KEY: pem, JWT_PUBLIC_KEY_B64: Buffer.from(pem).toString('base64') })).toEqual([
      expect.stringMatching(/JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_B64, not both/),
    ]);
  });

  it('validates PUBLIC_URL', () => {
    for (const bad of ['herald.example.com', 'ws://herald.example.com', 'not a url']) {
      expect(problemsOf({ PUBLIC_URL: bad })).toEqual([expect.stringMatching(/^PUBLIC_URL must be an http:\/\/ or https:\/\/ URL/)]);
    }
    expect(loadConfig({ PUBLIC_URL: 'http://localhost:8080' }).publicUrl).toBe('http://localhost:8080');
    expect(loadConfig({ PUBLIC_URL: 'https://gw.example.com/herald//' }).publicUrl).toBe('https://gw.example.com/herald');
  });

  it('accepts PostgreSQL URLs and refuses malformed ones without echoing them', () => {
    for (const url of [
      'postgres://user:pw@localhost/herald',
      'postgresql://localhost:5433/herald?sslmode=require',
      'POSTGRES://localhost/herald',
      'postgres:///herald?host=/var/run/postgresql',
    ]) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
    for (const url of ['postgres://user:s3cret@db:port/herald', 'postgres://user:s3cret@db:99999/herald', 'postgres:user:s3cret@db/herald']) {
      const problems = problemsOf({ DATABASE_URL: url });
      expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL: not a valid PostgreSQL URL/)]);
      expect(problems.join('\n')).not.toContain('s3cret');
    }
    expect(loadConfig({ DATABASE_URL: 'sqlite:/tmp/h.db' }).databaseUrl).toBe('sqlite:/tmp/h.db');
  });

  describe('DATABASE_URL', () => {
    let scratch: string;
    beforeAll(() => {
      scratch = mkdtempSync(join(tmpdir(), 'herald-config-'));
    });
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    const FORMS =
      'accepted forms: postgres://user:password@host:5432/database (or postgresql://), sqlite:<path>, a file path with a / in it (./herald.db), or :memory:';

    it('accepts sqlite:<path>, sqlite://<path>, a path with a /, :memory:, and the default whose folder may not exist yet', () => {
      for (const url of [
        `sqlite:${join(scratch, 'h.db')}`,
        `sqlite://${join(scratch, 'h.db')}`,
        join(scratch, 'h.db'),
        './h.db',
        'sqlite:h.db',
        ':memory:',
        'sqlite::memory:',
        'sqlite:./data/herald.db',
      ]) {
        expect(loadConfig({ DATABASE_URL: url }).databaseUrl, url).toBe(url);
      }
      expect(loadConfig({}).databaseUrl).toBe('sqlite:./data/herald.db');
    });

    it('refuses an unknown scheme, naming the scheme and the accepted forms but never the rest of the value', () => {
      for (const [url, scheme] of [
        ['postgress://user:s3cret@db/herald', 'postgress:'],
        ['mysql://user:s3cret@db/herald', 'mysql:'],
        ['file:./s3cret.db', 'file:'],
        ['Redis://s3cret@localhost', 'redis:'],
      ] as const) {
        const problems = problemsOf({ DATABASE_URL: url });
        expect(problems).toEqual([`DATABASE_URL: unknown scheme "${scheme}"; ${FORMS}`]);
        expect(problems.join('\n')).not.toContain('s3cret');
      }
    });

    it('refuses a bare word, which is more likely a typo or a host name than a file', () => {
      for (const word of ['foo', 'herald.db', 'localhost']) {
        expect(problemsOf({ DATABASE_URL: word })).toEqual([
          `DATABASE_URL: a bare word is not taken for a file name; write ./<name> for a file in the working directory; ${FORMS}`,
        ]);
      }
    });

    it('refuses a SQLite file whose folder does not exist, or that is a folder, and creates nothing', () => {
      const missing = join(scratch, 'missing', 'deeper');
      for (const url of [join(missing, 'h.db'), `sqlite:${join(missing, 'h.db')}`]) {
        expect(problemsOf({ DATABASE_URL: url })).toEqual([
          `DATABASE_URL: the SQLite file's folder "${missing}" does not exist (Herald creates the file, not its folder); ${FORMS}`,
        ]);
      }
      expect(existsSync(join(scratch, 'missing'))).toBe(false);
      expect(problemsOf({ DATABASE_URL: `sqlite:${scratch}` })).toEqual([`DATABASE_URL: "${scratch}" is a folder, not a SQLite file; ${FORMS}`]);
      expect(problemsOf({ DATABASE_URL: 'sqlite:' })).toEqual([`DATABASE_URL: sqlite: needs a file path after it; ${FORMS}`]);
    });

    it('lists a DATABASE_URL problem with the others', () => {
      expect(problemsOf({ DATABASE_URL: 'mysql://db/herald', PORT: 'x' })).toEqual([
        expect.stringMatching(/^PORT must be/),
        expect.stringMatching(/^DATABASE_URL: unknown scheme "mysql:"/),
      ]);
    });
  });

  it('treats empty and blank variables as unset', () => {
    const config = loadConfig({ PORT: '', HOST: '   ', JWT_SECRET: '', LOG_LEVEL: '' });
    expect(config.port).toBe(4000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.auth.jwtSecret).toBeUndefined();
    expect(config.logLevel).toBe('info');
  });

  it('refuses out-of-range limits', () => {
    expect(problemsOf({ MAX_BODY_BYTES: '1023' })).toEqual([expect.stringMatching(/^MAX_BODY_BYTES must be an integer from 1024/)]);
    expect(problemsOf({ JWT_CLOCK_TOLERANCE: '3601' })).toEqual([expect.stringMatching(/^JWT_CLOCK_TOLERANCE/)]);
    expect(problemsOf({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '1.5' })).toEqual([expect.stringMatching(/^MAX_SUBSCRIPTIONS_PER_CONNECTION/)]);
  });

  it('serves GraphiQL in development only, unless GRAPHIQL says otherwise', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), SIGNING_SECRET: 'y'.repeat(32) };
    expect(loadConfig({}).graphiql).toBe(true);
    expect(loadConfig(production).graphiql).toBe(false);
    expect(loadConfig({ ...production, GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(loadConfig({ GRAPHIQL: 'off' }).graphiql).toBe(false);
  });

  it('serves the console in development only, unless CONSOLE says otherwise', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), SIGNING_SECRET: 'y'.repeat(32) };
    expect(loadConfig({}).console).toBe(true);
    expect(loadConfig(production).console).toBe(false);
    expect(loadConfig({ ...production, CONSOLE: 'on' }).console).toBe(true);
    expect(loadConfig({ CONSOLE: 'false' }).console).toBe(false);
  });

  it('serves /metrics in production only behind METRICS_TOKEN or on METRICS_PORT', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), SIGNING_SECRET: 'y'.repeat(32) };
    const metricsToken = 'm'.repeat(32);
    expect(loadConfig(production).metrics).toBeUndefined();
    expect(loadConfig({ ...production, METRICS_TOKEN: metricsToken }).metrics).toEqual({ token: metricsToken, port: undefined, host: '127.0.0.1' });
    expect(loadConfig({ ...production, METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' }).metrics).toEqual({ token: undefined, port: 9464, host: '10.0.0.5' });
    expect(problemsOf({ METRICS_TOKEN: 'short' })).toEqual([expect.stringMatching(/^METRICS_TOKEN must be at least 32 bytes/)]);
    expect(problemsOf({ PORT: '4000', METRICS_PORT: '4000' })).toEqual([expect.stringMatching(/^METRICS_PORT must differ from PORT/)]);
    expect(problemsOf({ METRICS_PORT: 'x' })).toEqual([expect.stringMatching(/^METRICS_PORT must be an integer/)]);
  });

  it('refuses a payload limit above the body limit', () => {
    expect(() => loadConfig({ MAX_PAYLOAD_BYTES: '2000000' })).toThrow(/MAX_PAYLOAD_BYTES must not exceed MAX_BODY_BYTES/);
  });
});
