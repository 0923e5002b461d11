/**
 * Finds nginx and its nchan module for the nchan baseline, and gets them when they are missing: the
 * bench must run from a fresh clone, so it fetches Debian's packages itself (`nginx` 1.22 and
 * `libnginx-mod-nchan` 1.3.6 on bookworm) instead of asking whoever runs it to.
 *
 * As root with apt: `apt-get install` (the machine keeps them for the next run). Debian's nginx
 * package would start its own service on port 80 from its postinst; a policy-rc.d answering 101
 * ("action forbidden") stops that, and the bench never uses that service: it runs its own nginx with
 * its own configuration (servers/nchan.ts). Otherwise (no root, or apt refused): `apt-get download`
 * of the two .debs and `dpkg -x` into bench/results/nchan-cache/, no system change at all. The
 * binary's compiled-in paths (/etc/nginx, /var/log/nginx, /var/lib/nginx) are all overridden by the
 * bench's own configuration and command line, so the extracted copy runs from anywhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NchanInstall {
  readonly nginx: string;
  readonly module: string;
  /** How it was found: already installed, installed now with apt, or extracted into the cache. */
  readonly source: 'system' | 'apt-get install' | 'extracted';
}

const SYSTEM: Omit<NchanInstall, 'source'> = { nginx: '/usr/sbin/nginx', module: '/usr/lib/nginx/modules/ngx_nchan_module.so' };
const PACKAGES = ['nginx', 'libnginx-mod-nchan'];
const POLICY_RC = '/usr/sbin/policy-rc.d';

const found = (paths: Omit<NchanInstall, 'source'>): boolean => existsSync(paths.nginx) && existsSync(paths.module);

/** `cacheDir`: where an extracted copy lives (bench/results/nchan-cache), reused by later runs. */
export function ensureNchan(cacheDir: string, log: (line: string) => void): NchanInstall {
  if (found(SYSTEM)) return { ...SYSTEM, source: 'system' };
  const extracted = { nginx: join(cacheDir, 'root', SYSTEM.nginx), module: join(cacheDir, 'root', SYSTEM.module) };
  if (found(extracted)) return { ...extracted, source: 'extracted' };

  if (process.getuid?.() === 0 && hasCommand('apt-get')) {
    log(`bench: nginx + nchan missing, installing ${PACKAGES.join(' ')} with apt-get (its service kept from starting)`);
    try {
      aptInstall();
      if (found(SYSTEM)) return { ...SYSTEM, source: 'apt-get install' };
    } catch (error) {
      log(`bench: apt-get install failed (${firstLine(error)}), extracting the packages instead`);
    }
  }
  if (!hasCommand('apt-get') || !hasCommand('dpkg')) {
    throw new Error('bench: nginx + nchan are missing and there is no apt-get/dpkg to fetch them (install nginx and libnginx-mod-nchan, or pass --no-nchan)');
  }
  log(`bench: extracting ${PACKAGES.join(' ')} into ${cacheDir}`);
  extract(cacheDir);
  if (!found(extracted)) throw new Error(`bench: extracted ${PACKAGES.join(' ')} but found no ${extracted.nginx} and ${extracted.module}`);
  return { ...extracted, source: 'extracted' };
}

function aptInstall(): void {
  // Keep a policy-rc.d that is there (Docker images ship one); add ours only for the install.
  const ownPolicy = !existsSync(POLICY_RC);
  if (ownPolicy) writeFileSync(POLICY_RC, "#!/bin/sh\n# herald bench: keep Debian's nginx service from starting on port 80\nexit 101\n", { mode: 0o755 });
  try {
    const install = (): void => {
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...PACKAGES], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    };
    try {
      install();
    } catch {
      // Stale package lists (a security update replaced the version they name) are the usual cause.
      execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'pipe'] });
      install();
    }
  } finally {
    if (ownPolicy) rmSync(POLICY_RC, { force: true });
  }
}

function extract(cacheDir: string): void {
  const debs = join(cacheDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const download = (): void => {
    execFileSync('apt-get', ['download', ...PACKAGES], { cwd: debs, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  try {
    download();
  } catch (error) {
    if (process.getuid?.() !== 0) throw error;
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'pipe'] });
    download();
  }
  for (const deb of readdirSync(debs).filter((name) => name.endsWith('.deb'))) {
    execFileSync('dpkg', ['-x', join(debs, deb), join(cacheDir, 'root')], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function firstLine(error: unknown): string {
  const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
  return (stderr !== undefined && stderr !== '' ? stderr : (error as Error).message).split('\n')[0]!;
}
