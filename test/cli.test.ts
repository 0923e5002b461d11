import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeraldProcess } from './helpers/herald-process.js';
import { gql, startHerald, TEST_SECRET, token, type TestHerald } from './helpers/herald.js';
import { createTestDatabase, postgresSkipReason } from './helpers/postgres.js';
import { until } from './helpers/until.js';

const postgresSkip = await postgresSkipReason();

const HERALD_BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

/** Variables the CLI reads; the child never inherits them from the test runner. */
const HERALD_VARIABLES = [
  'NODE_ENV',
  'JWT_SECRET',
  'JWT_PUBLIC_KEY',
  'JWT_PUBLIC_KEY_B64',
  'JWKS_URL',
  'SIGNING_SECRET',
  'DATABASE_URL',
  'PORT',
  'HOST',
  'PUBLIC_URL',
  'LOG_LEVEL',
];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/herald.js ...args` in `cwd` (a scratch folder, so nothing lands in the repository). */
function herald(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of HERALD_VARIABLES) delete env[name];
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [HERALD_BIN, ...args], { cwd: options.cwd, env, timeout: 15_000 }, (error, stdout, stderr) => {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an ExecFileException, which is an Error
      if (error !== null && typeof error.code !== 'number') return reject(error);
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

const VIEWER = '{ viewer { audience scopes topics subject expiresAt } }';

describe('herald CLI', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  describe('keys, then token --key, accepted by a gateway given JWT_PUBLIC_KEY_B64', () => {
    let keysDir: string;
    let keysRun: Run;
    beforeAll(async () => {
      keysDir = join(scratch, 'keys');
      keysRun = await herald(['keys', '--out', keysDir], { cwd: scratch });
    });

    it('writes the pair and prints the public key as JWT_PUBLIC_KEY_B64', () => {
      expect(keysRun.stderr).toBe('');
      expect(keysRun.code).toBe(0);
      const privatePem = readFileSync(join(keysDir, 'es256_private.pem'), 'utf8');
      const publicPem = readFileSync(join(keysDir, 'es256_public.pem'), 'utf8');
      expect(privatePem).toContain('-----BEGIN PRIVATE KEY-----');
      expect(publicPem).toContain('-----BEGIN PUBLIC KEY-----');
      if (process.platform !== 'win32') expect(statSync(join(keysDir, 'es256_private.pem')).mode & 0o077).toBe(0);
      expect(Buffer.from(publicKeyB64(keysRun.stdout), 'base64').toString('utf8')).toBe(publicPem);
    });

    it('mints a token the gateway accepts with the claims asked for', async () => {
      const minted = await herald(
        ['token', '--key', join(keysDir, 'es256_private.pem'), '--aud', 'x', '--scope', 'publish', '--topics', 'a,b', '--ttl', '60', '--sub', 'me'],
        { cwd: scratch },
      );
      expect(minted.stderr).toBe('');
      expect(minted.code).toBe(0);
      const jwt = minted.stdout.trim();
      expect(jwt).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256' });

      // Only the public key from the keys output: no JWT_SECRET.
      const gateway = await startHerald({ JWT_SECRET: '', JWT_PUBLIC_KEY_B64: publicKeyB64(keysRun.stdout) });
      try {
        const before = Date.now();
        const response = await gql(gateway.httpUrl, jwt, VIEWER);
        expect(response.errors).toBeUndefined();
        const viewer = response.data!.viewer;
        expect(viewer).toMatchObject({ audience: 'x', scopes: ['PUBLISH'], topics: ['a', 'b'], subject: 'me' });
        const lifetime = Date.parse(viewer.expiresAt) - before;
        expect(lifetime).toBeGreaterThan(55_000);
        expect(lifetime).toBeLessThanOrEqual(60_000);

        // The same gateway refuses an HS256 token: only the configured key verifies.
        expect((await gql(gateway.httpUrl, await token({ audience: 'x' }), VIEWER)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      } finally {
        await gateway.stop();
      }
    });

    it('refuses to overwrite keys without --force, and replaces them with it', async () => {
      const before = readFileSync(join(keysDir, 'es256_private.pem'), 'utf8');
      const refused = await herald(['keys', '--out', keysDir], { cwd: scratch });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/es256_private\.pem exists; pass --force/);
      expect(readFileSync(join(keysDir, 'es256_private.pem'), 'utf8')).toBe(before);

      const forced = await herald(['keys', '--out', keysDir, '--force'], { cwd: scratch });
      expect(forced.code).toBe(0);
      expect(readFileSync(join(keysDir, 'es256_private.pem'), 'utf8')).not.toBe(before);
    });
  });

  it('token --key takes a key made by openssl ecparam (SEC1, as notiflux users have them) and omits aud unless asked', async () => {
    const dir = join(scratch, 'openssl');
    mkdirSync(dir);
    execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', 'es256_private.pem'], { cwd: dir, stdio: 'ignore' });
    execFileSync('openssl', ['ec', '-in', 'es256_private.pem', '-pubout', '-out', 'es256_public.pem'], { cwd: dir, stdio: 'ignore' });
    expect(readFileSync(join(dir, 'es256_private.pem'), 'utf8')).toContain('-----BEGIN EC PRIVATE KEY-----');
    const minted = await herald(
      ['token', '--key', join(dir, 'es256_private.pem'), '--scope', 'broadcast', '--topics', 'campaign:1', '--sub', 'notiflux', '--jti', 'key-7'],
      {
        cwd: scratch,
      },
    );
    expect(minted.stderr).toBe('');
    expect(minted.code).toBe(0);
    const jwt = minted.stdout.trim();
    expect(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256' });
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ scope: 'broadcast', topics: ['campaign:1'], sub: 'notiflux', jti: 'key-7' });
    expect(claims).not.toHaveProperty('aud');

    const gateway = await startHerald({ JWT_SECRET: '', JWT_PUBLIC_KEY_B64: readFileSync(join(dir, 'es256_public.pem')).toString('base64') });
    try {
      const response = await gql(gateway.httpUrl, jwt, VIEWER);
      expect(response.errors).toBeUndefined();
      expect(response.data!.viewer).toMatchObject({ audience: 'default', scopes: ['PUBLISH'], topics: ['campaign:1'], subject: 'notiflux' });
    } finally {
      await gateway.stop();
    }
  });

  it('token --key refuses a file that is not a private key', async () => {
    const refused = await herald(['token', '--key', HERALD_BIN], { cwd: scratch });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is not a PEM private key/);
    expect(refused.stdout).toBe('');
  });

  describe('token with JWT_SECRET', () => {
    let gateway: TestHerald;
    beforeAll(async () => {
      gateway = await startHerald();
    });
    afterAll(() => gateway.stop());

    it('signs HS256 with JWT_SECRET from the environment', async () => {
      const minted = await herald(['token', '--aud', 'cli-secret', '--scope', 'subscribe,manage', '--sub', 'ops', '--ttl', '2m'], {
        cwd: scratch,
        env: { JWT_SECRET: TEST_SECRET },
      });
      expect(minted.stderr).toBe('');
      expect(minted.code).toBe(0);
      const jwt = minted.stdout.trim();
      expect(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'HS256' });
      const response = await gql(gateway.httpUrl, jwt, VIEWER);
      expect(response.errors).toBeUndefined();
      expect(response.data!.viewer).toMatchObject({ audience: 'cli-secret', scopes: ['SUBSCRIBE', 'MANAGE'], topics: null, subject: 'ops' });
    });

    it('prints {token, expiresAt} with --json', async () => {
      const minted = await herald(['token', '--aud', 'cli-json', '--ttl', '90', '--json'], { cwd: scratch, env: { JWT_SECRET: TEST_SECRET } });
      expect(minted.code).toBe(0);
      const printed = JSON.parse(minted.stdout) as { token: string; expiresAt: string };
      const response = await gql(gateway.httpUrl, printed.token, VIEWER);
      expect(response.data!.viewer).toMatchObject({ audience: 'cli-json', expiresAt: printed.expiresAt });
    });

    it("refuses the claims the gateway would refuse, with the gateway's own words, and prints no token", async () => {
      const cases = [
        { args: ['--scope', 'publsh'], claims: { scopes: ['publsh'] }, problem: 'scope "publsh" is not one of subscribe, publish, broadcast, manage' },
        {
          args: ['--scope', 'subscribe,Manage admin'],
          claims: { scopes: ['subscribe', 'Manage', 'admin'] },
          problem: 'scope "admin" is not one of subscribe, publish, broadcast, manage',
        },
        { args: ['--topics', 'a b'], claims: { topics: ['a b'] }, problem: '"a b" must be printable characters without whitespace' },
        {
          args: ['--topics', 'ok, orders/***'],
          claims: { topics: ['ok', 'orders/***'] },
          problem: `"orders/***" wildcards are '*' (one segment) and '**' (any segments)`,
        },
        { args: ['--topics', 'x'.repeat(257)], claims: { topics: ['x'.repeat(257)] }, problem: `"${'x'.repeat(61)}..." must be 1 to 256 characters` },
      ];
      for (const { args, claims, problem } of cases) {
        const refused = await herald(['token', '--aud', 'cli-claims', ...args], { cwd: scratch, env: { JWT_SECRET: TEST_SECRET } });
        expect(refused.code, args.join(' ')).not.toBe(0);
        expect(refused.stderr).toBe(`herald: ${args[0]}: ${problem}\n`);
        expect(refused.stdout).toBe('');

        // Minted anyway, the gateway refuses it for the same reason.
        const response = await gql(gateway.httpUrl, await token({ audience: 'cli-claims', ...claims }), VIEWER);
        expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        expect(response.errors?.[0]?.message).toMatch(new RegExp(`^token (topics\\[\\d+\\] )?${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      }
    }, 60_000);

    it('refuses an empty --scope, --topics or --aud, which would mint a token good for nothing', async () => {
      for (const [args, message] of [
        [['--scope', ' , '], '--scope needs at least one of subscribe, publish, broadcast, manage'],
        [['--topics', ','], '--topics needs at least one topic name or pattern'],
        [['--aud', ' '], "--aud needs an audience name (omit it for the gateway's DEFAULT_AUDIENCE)"],
      ] as const) {
        const refused = await herald(['token', ...args], { cwd: scratch, env: { JWT_SECRET: TEST_SECRET } });
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toBe(`herald: ${message}\n`);
        expect(refused.stdout).toBe('');
      }
    });

    it('refuses a JWT_SECRET under 32 bytes', async () => {
      const refused = await herald(['token', '--aud', 'x'], { cwd: scratch, env: { JWT_SECRET: 'short' } });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/JWT_SECRET must be at least 32 bytes/);
      expect(refused.stdout).toBe('');
    });
  });

  it('exits non-zero with a message for --ttl bogus', async () => {
    const refused = await herald(['token', '--aud', 'x', '--ttl', 'bogus'], { cwd: scratch, env: { JWT_SECRET: TEST_SECRET } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--ttl must be seconds or a number with s, m, h or d; got "bogus"/);
    expect(refused.stdout).toBe('');
  });

  it('exits non-zero when there is no key at all', async () => {
    const refused = await herald(['token', '--aud', 'x'], { cwd: scratch });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/no signing key/);
  });

  it('serve with a malformed DATABASE_URL exits 1, names it, and creates nothing', async () => {
    for (const url of ['postgress://user:s3cret@db/herald', 'mysql://db/herald', 'foo', './missing/h.db']) {
      const cwd = mkdtempSync(join(scratch, 'database-url-'));
      const refused = await herald(['serve'], { cwd, env: { DATABASE_URL: url, PORT: '0' } });
      expect(refused.code, url).toBe(1);
      expect(refused.stderr, url).toMatch(
        /^herald: invalid configuration:\n {2}- DATABASE_URL: .*; accepted forms: postgres:\/\/.*, sqlite:<path>, .*:memory:\n$/,
      );
      expect(refused.stderr).not.toContain('s3cret');
      expect(refused.stdout).toBe('');
      // No postgress:/ tree, no SQLite file, not even the development keys.
      expect(readdirSync(cwd), url).toEqual([]);
    }
  }, 60_000);

  it.skipIf(postgresSkip !== undefined)('serve on a PostgreSQL database that does not exist exits 1 with one line naming it', async () => {
    const database = await createTestDatabase();
    try {
      const missing = new URL(database.url);
      missing.pathname = `/${database.name}_missing`;
      missing.password = 's3cret';
      const refused = await herald(['serve'], { cwd: scratch, env: { DATABASE_URL: missing.toString(), PORT: '0', JWT_SECRET: TEST_SECRET } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `^herald: cannot open the store \\(DATABASE_URL\\): PostgreSQL postgres://[^ ]*:\\*\\*\\*@[^ ]*/${database.name}_missing does not exist .*\n$`,
        ),
      );
      expect(refused.stdout).toBe('');
    } finally {
      await database.drop();
    }
  });

  it('npm start hands a SIGTERM to the gateway, which stops gracefully and leaves no process behind', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of HERALD_VARIABLES) delete env[name];
    Object.assign(env, { PORT: '0', DATABASE_URL: ':memory:', JWT_SECRET: TEST_SECRET });
    // As a supervisor (systemd, docker stop, Kubernetes) does: the signal goes to the pid it started, npm's.
    const npm = spawn('npm', ['start'], { cwd: fileURLToPath(new URL('..', import.meta.url)), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    // The banner is on stdout, the logs on stderr.
    npm.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    npm.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    const banner = /Herald is listening on (http:\/\/\S+?)\/graphql/;
    await until(() => banner.test(output), 'the banner', 30_000);
    const base = banner.exec(output)![1]!;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    npm.kill('SIGTERM');
    await exited;
    await until(() => output.includes('"msg":"stopped"'), 'the gateway to log that it stopped');
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });

  it("serve's development banner links the console with a manage token in the fragment, and CONSOLE=off drops the link", async () => {
    const [gateway, off] = await Promise.all([startHeraldProcess({}), startHeraldProcess({ CONSOLE: 'off' })]);
    try {
      const link = /^ {2}(http:\/\/\S+)#token=(\S+)$/m;
      await until(() => link.test(gateway.stdout()), 'the console link in the banner');
      const [, page, operator] = link.exec(gateway.stdout())!;
      expect(page).toBe(`${gateway.baseUrl}/console`);
      expect((await fetch(page!)).status).toBe(200);
      const viewer = await gql(gateway.httpUrl, operator, VIEWER);
      expect(viewer.data?.viewer).toMatchObject({ audience: 'demo', scopes: expect.arrayContaining(['MANAGE']) });

      // The banner is one write, which ends with a blank line.
      await until(() => off.stdout().includes('publish(topic:') && off.stdout().endsWith('\n\n'), 'the whole banner');
      expect(off.stdout()).not.toContain('/console');
      expect((await fetch(`${off.baseUrl}/console`)).status).toBe(404);
    } finally {
      await Promise.all([gateway.stop(), off.stop()]);
    }
  });

  it('serve in production without keys exits 1 and names JWT_SECRET', async () => {
    const refused = await herald(['serve'], { cwd: scratch, env: { NODE_ENV: 'production' } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('JWT_SECRET');
    expect(refused.stderr).toContain('SIGNING_SECRET');
    expect(refused.stdout).toBe('');
  });
});

function publicKeyB64(keysOutput: string): string {
  const line = /^\s*JWT_PUBLIC_KEY_B64=(\S+)\s*$/m.exec(keysOutput);
  if (line === null) throw new Error(`no JWT_PUBLIC_KEY_B64= line in:\n${keysOutput}`);
  return line[1]!;
}
