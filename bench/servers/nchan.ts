/**
 * The second baseline: nginx + nchan (Debian's nginx 1.22 and libnginx-mod-nchan 1.3.6, found or
 * fetched by bench/nchan-install.ts), a real pub/sub server in C. This Node process only wraps it:
 * it writes a configuration, runs nginx in the foreground with one worker, reports the worker's pid
 * (the harness reads CPU time and RSS from it; the master only supervises) and stops nginx on exit.
 *
 * Subscribe: a WebSocket on /sub/<channel>. Publish: POST /pub/<channel>, the body is the message.
 * Messages live in nchan's in-memory store (shared memory, no Redis), each channel keeping a short
 * buffer (MESSAGE_BUFFER) as Herald keeps its history: both pay to store every message, neither
 * replays it here (subscribers ask for the newest only, and all subscribe before the first publish).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveBenchControl } from './control.js';

/** Messages each channel keeps, and how long: small, so memory stays flat at 10k channels. */
const MESSAGE_BUFFER = 10;
const MESSAGE_TIMEOUT = '30s';
/** nginx cannot listen on port 0 and report the port, so the wrapper probes for a free one, and retries if it was taken meanwhile. */
const START_ATTEMPTS = 5;

const nginx = required('BENCH_NGINX');
const nchanModule = required('BENCH_NCHAN_MODULE');
const connections = Number(process.env.BENCH_CONNECTIONS ?? '0');

const prefix = mkdtempSync(join(tmpdir(), 'herald-bench-nchan-'));
// As root, nginx's worker runs as `nobody`, and mkdtemp's 0700 would keep it out of its own prefix.
chmodSync(prefix, 0o755);

const { master, port } = await start();
const worker = await workerOf(master.pid!);
serveBenchControl(port, {
  pid: worker,
  stop: async () => {
    if (master.exitCode === null && master.signalCode === null) {
      const exited = new Promise((resolve) => master.once('exit', resolve));
      // Fast shutdown: a graceful one (SIGQUIT) would wait for every open WebSocket to close.
      master.kill('SIGTERM');
      await exited;
    }
    rmSync(prefix, { recursive: true, force: true });
  },
});

async function start(): Promise<{ master: ReturnType<typeof spawn>; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, config(port));
    const master = spawn(nginx, ['-p', prefix, '-c', conf, '-e', 'stderr'], { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    master.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      process.stderr.write(`nginx: ${chunk.toString()}`);
    });
    const exited = new Promise<'exited'>((resolve) => master.once('exit', () => resolve('exited')));
    if ((await Promise.race([listening(port), exited])) === 'listening') return { master, port };
    if (attempt === START_ATTEMPTS || !stderr.includes('Address already in use')) {
      throw new Error(`bench: nginx did not start (exit ${master.exitCode}): ${stderr.trim()}`);
    }
  }
}

function config(port: number): string {
  return `
daemon off;
master_process on;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log stderr warn;
load_module ${nchanModule};

events {
  # Slots, not descriptors (the harness checked ulimit -n for those): nchan also takes slots without a
  # descriptor while subscribers are being set up, and 10 500 slots were not enough for 10 000
  # WebSockets connecting 250 at a time ("worker_connections are not enough", then resets); 12 000 were.
  worker_connections ${Math.ceil(1.5 * connections) + 1024};
}

http {
  access_log off;
  # Debian compiles in /var/lib/nginx/*: an extracted copy (or a non-root run) cannot use those.
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  # The publisher keeps its 16 connections for the whole run, as with the other servers
  # (nginx 1.22 closes one after 1 000 requests by default).
  keepalive_requests 100000000;
  keepalive_timeout 65s;

  server {
    listen 127.0.0.1:${port};

    location ~ ^/sub/([\\w.-]+)$ {
      nchan_subscriber websocket;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }

    location ~ ^/pub/([\\w.-]+)$ {
      nchan_publisher http;
      nchan_channel_id $1;
      nchan_message_buffer_length ${MESSAGE_BUFFER};
      nchan_message_timeout ${MESSAGE_TIMEOUT};
    }
  }
}
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves 'listening' once 127.0.0.1:`port` accepts a connection (tries every 20 ms, for 10 s). */
async function listening(port: number): Promise<'listening'> {
  for (let tries = 0; tries < 500; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return 'listening';
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`bench: nginx did not listen on ${port} within 10 s`);
}

/** The worker: the master's only child (no cache manager without proxy_cache). */
async function workerOf(masterPid: number): Promise<number> {
  for (let tries = 0; tries < 250; tries++) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The parent pid is the second field after the parenthesised command name.
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === masterPid) return Number(entry);
      } catch {
        // The process ended while the directory was read.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`bench: found no worker of nginx ${masterPid}`);
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`bench: ${name} is not set (servers/nchan.ts is started by bench/run.ts)`);
  return value;
}
