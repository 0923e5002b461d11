import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET } from './herald.js';

/** The real entry point a user runs (`npm start` runs this). */
export const HERALD_BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));

/** Variables a developer's shell might carry that would change what a test process does. */
const INHERITED_SETTINGS = [
  'NODE_ENV',
  'JWT_SECRET',
  'JWT_PUBLIC_KEY',
  'JWT_PUBLIC_KEY_B64',
  'JWKS_URL',
  'SIGNING_SECRET',
  'HOST',
  'PORT',
  'PUBLIC_URL',
  'DATABASE_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_PREFIX',
  'CONSOLE',
];

export interface HeraldProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:<port>, read from the banner. */
  readonly baseUrl: string;
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** Everything the process wrote to stdout so far (the banner). */
  stdout(): string;
  /** Everything the process wrote to stderr so far (its logs). */
  stderr(): string;
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then wait for the exit (SIGKILL if it has not gone after 10 s). */
  stop(): Promise<void>;
}

/**
 * `herald serve` as a separate process, on a port the OS picks, trusting TEST_SECRET. Resolves once
 * the banner says it listens; rejects with its stderr if it exits first.
 */
export async function startHeraldProcess(env: Record<string, string>, cwd?: string): Promise<HeraldProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_SETTINGS) delete childEnv[name];
  Object.assign(childEnv, { PORT: '0', JWT_SECRET: TEST_SECRET, DATABASE_URL: ':memory:', LOG_LEVEL: 'warn', ...env });
  const child = spawn(process.execPath, [HERALD_BIN, 'serve'], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /Herald is listening on (http:\/\/\S+?)\/graphql/.exec(stdout);
      if (match !== null) resolve(match[1]!);
    };
    child.stdout.on('data', check);
    void exited.then(({ code }) => reject(new Error(`herald exited ${code} before listening:\n${stderr}`)));
  });
  return {
    child,
    baseUrl,
    httpUrl: `${baseUrl}/graphql`,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
