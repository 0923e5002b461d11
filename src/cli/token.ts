import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIN_SECRET_BYTES } from '../config.js';
import { PRIVATE_KEY_FILE } from '../auth/key-pair.js';
import { mintToken, type SigningKey, type TokenClaims } from '../auth/mint-token.js';
import { DEV_KEY_DIR } from '../auth/resolve-keys.js';
import { parseScopes, SCOPE_WORDS } from '../auth/scopes.js';
import { topicsEntryProblem } from '../auth/viewer.js';

export interface TokenOptions {
  readonly aud?: string;
  readonly scope?: string;
  readonly topics?: string;
  readonly ttl: string;
  readonly sub?: string;
  readonly jti?: string;
  readonly iss?: string;
  readonly key?: string;
  readonly json: boolean;
}

/** `herald token`: mints a token with a private key file, JWT_SECRET, or the development key. */
export async function token(options: TokenOptions, env: NodeJS.ProcessEnv): Promise<void> {
  // Claims first: a mistake there is reported before anything about keys.
  const claims = tokenClaims(options);
  const minted = await mintToken(signingKey(options.key, env), claims);
  process.stdout.write(options.json ? `${JSON.stringify({ token: minted.token, expiresAt: minted.expiresAt.toISOString() })}\n` : `${minted.token}\n`);
}

/**
 * The options as claims, checked by the functions the gateway verifies claims with, so that the CLI
 * never mints a token the gateway would refuse. Throws naming the option and the offending word.
 */
export function tokenClaims(options: TokenOptions): TokenClaims {
  let scopes: string[] | undefined;
  if (options.scope !== undefined) {
    scopes = options.scope.split(/[\s,]+/).filter(Boolean);
    const parsed = parseScopes(scopes);
    if ('problem' in parsed) throw new Error(`--scope: ${parsed.problem}`);
    if (scopes.length === 0) throw new Error(`--scope needs at least one of ${SCOPE_WORDS.join(', ')}`);
  }
  let topics: string[] | undefined;
  if (options.topics !== undefined) {
    // Commas separate entries; spaces around them are layout. A space inside an entry is kept, and refused below.
    topics = options.topics
      .split(',')
      .map((topic) => topic.trim())
      .filter(Boolean);
    for (const topic of topics) {
      const problem = topicsEntryProblem(topic);
      if (problem !== undefined) throw new Error(`--topics: ${problem}`);
    }
    // An empty list would be a token that may touch no topic at all: surely not what was meant.
    if (topics.length === 0) throw new Error('--topics needs at least one topic name or pattern');
  }
  if (options.aud !== undefined && options.aud.trim() === '') {
    throw new Error("--aud needs an audience name (omit it for the gateway's DEFAULT_AUDIENCE)");
  }
  if (options.jti !== undefined && options.jti.trim() === '') throw new Error('--jti needs an id');
  return { audience: options.aud, scopes, topics, subject: options.sub, tokenId: options.jti, issuer: options.iss, ttlSeconds: parseDuration(options.ttl) };
}

function signingKey(keyPath: string | undefined, env: NodeJS.ProcessEnv): SigningKey {
  if (keyPath !== undefined) return { privateKeyPem: asPkcs8(readFileSync(keyPath, 'utf8'), keyPath) };
  const secret = env.JWT_SECRET;
  if (secret !== undefined && secret !== '') {
    if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) throw new Error(`JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
    return { secret };
  }
  const devKey = join(DEV_KEY_DIR, PRIVATE_KEY_FILE);
  if (existsSync(devKey)) return { privateKeyPem: readFileSync(devKey, 'utf8') };
  throw new Error(`no signing key: pass --key <private.pem>, set JWT_SECRET, or run "npm start" once to make ${devKey}`);
}

/**
 * Any private key PEM as PKCS#8. `openssl ecparam -genkey` (how notiflux's users made their keys)
 * writes SEC1 ("BEGIN EC PRIVATE KEY", after an "EC PARAMETERS" block), and `openssl genrsa` PKCS#1 on
 * older versions; the signer takes PKCS#8 only.
 */
function asPkcs8(pem: string, keyPath: string): string {
  try {
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    throw new Error(`${keyPath} is not a PEM private key`);
  }
}

/** Seconds, or a number with s, m, h or d. */
export function parseDuration(value: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (match === null) throw new Error(`--ttl must be seconds or a number with s, m, h or d; got "${value}"`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds < 1) throw new Error('--ttl must be at least 1 second');
  return seconds;
}
