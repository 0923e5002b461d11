import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyPairPem {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export const PRIVATE_KEY_FILE = 'es256_private.pem';
export const PUBLIC_KEY_FILE = 'es256_public.pem';

/** A fresh ES256 (P-256) key pair, in the PEM forms openssl writes and notiflux reads. */
export function generateEs256KeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Writes a key pair into `dir` (private key readable by the owner only). */
export function writeKeyPair(dir: string, pair: KeyPairPem): { privateKeyPath: string; publicKeyPath: string } {
  mkdirSync(dir, { recursive: true });
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  writeFileSync(privateKeyPath, pair.privateKeyPem, { mode: 0o600 });
  writeFileSync(publicKeyPath, pair.publicKeyPem);
  return { privateKeyPath, publicKeyPath };
}

/**
 * The development key pair under `dir`, made on first use and reused afterwards, so tokens minted
 * yesterday still verify today. Only used when no key is configured outside production.
 */
export function loadOrCreateDevKeyPair(dir: string): KeyPairPem & { created: boolean } {
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  if (existsSync(privateKeyPath) && existsSync(publicKeyPath)) {
    return { privateKeyPem: readFileSync(privateKeyPath, 'utf8'), publicKeyPem: readFileSync(publicKeyPath, 'utf8'), created: false };
  }
  const pair = generateEs256KeyPair();
  writeKeyPair(dir, pair);
  writeFileSync(join(dir, '.gitignore'), '*\n');
  return { ...pair, created: true };
}
