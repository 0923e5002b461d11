import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { loadOrCreateDevKeyPair } from './key-pair.js';
import type { SigningKey } from './mint-token.js';
import type { VerificationKeys } from './verify-token.js';

/** Where the development key pair lives; git-ignored. */
export const DEV_KEY_DIR = '.herald';

export interface ResolvedKeys {
  readonly verification: VerificationKeys;
  /** A key this process can mint tokens with (JWT_SECRET, or the development private key), if any. */
  readonly minting: SigningKey | undefined;
  /** The development key pair is in use (no key configured, not production). */
  readonly development: { readonly dir: string; readonly created: boolean } | undefined;
}

/**
 * Decides which keys verify tokens. Configured keys win; with none outside production, a development
 * ES256 pair is made once under DEV_KEY_DIR. (Production without keys never gets here: loadConfig refuses it.)
 */
export function resolveKeys(config: Config, devKeyDir: string = DEV_KEY_DIR): ResolvedKeys {
  const { jwtSecret, jwtPublicKeyPem, jwksUrl } = config.auth;
  // Generated per process in development only; production config requires SIGNING_SECRET.
  const signingSecret = config.auth.signingSecret ?? randomBytes(32).toString('base64url');
  if (jwtSecret !== undefined || jwtPublicKeyPem !== undefined || jwksUrl !== undefined) {
    return {
      verification: { jwtSecret, publicKeyPem: jwtPublicKeyPem, jwksUrl, signingSecret },
      minting: jwtSecret !== undefined ? { secret: jwtSecret } : undefined,
      development: undefined,
    };
  }
  if (config.production) throw new TypeError('no token key configured (loadConfig should have refused this)');
  const pair = loadOrCreateDevKeyPair(devKeyDir);
  return {
    verification: { publicKeyPem: pair.publicKeyPem, signingSecret },
    minting: { privateKeyPem: pair.privateKeyPem },
    development: { dir: devKeyDir, created: pair.created },
  };
}
