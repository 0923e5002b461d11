import { createPrivateKey } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { algorithmForKey } from './key-algorithm.js';

/** What signs a token: an HS256 secret, or an asymmetric private key in PEM (alg by key type). */
export type SigningKey = { readonly secret: string } | { readonly privateKeyPem: string };

export interface TokenClaims {
  readonly subject?: string | undefined;
  /** The jti claim: what revokeTokens(jti:) names. */
  readonly tokenId?: string | undefined;
  readonly audience?: string | undefined;
  /** Claim words: subscribe, publish, broadcast, manage. Omitted: the gateway's DEFAULT_SCOPES apply. */
  readonly scopes?: readonly string[] | undefined;
  readonly topics?: readonly string[] | undefined;
  readonly issuer?: string | undefined;
  readonly ttlSeconds: number;
}

export interface MintedToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/** Signs a token. Used by the CLI, the development banner, signSubscription and the tests. */
export async function mintToken(key: SigningKey, claims: TokenClaims): Promise<MintedToken> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + claims.ttlSeconds;
  const payload: Record<string, unknown> = {};
  if (claims.scopes !== undefined) payload.scope = claims.scopes.join(' ');
  if (claims.topics !== undefined) payload.topics = [...claims.topics];
  let algorithm: string;
  let signingKey: Uint8Array | CryptoKey;
  if ('secret' in key) {
    algorithm = 'HS256';
    signingKey = new TextEncoder().encode(key.secret);
  } else {
    algorithm = algorithmForKey(createPrivateKey(key.privateKeyPem));
    signingKey = await importPKCS8(key.privateKeyPem, algorithm);
  }
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: algorithm, typ: 'JWT' }).setIssuedAt(now).setExpirationTime(exp);
  if (claims.subject !== undefined) jwt.setSubject(claims.subject);
  if (claims.tokenId !== undefined) jwt.setJti(claims.tokenId);
  if (claims.audience !== undefined) jwt.setAudience(claims.audience);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  return { token: await jwt.sign(signingKey), expiresAt: new Date(exp * 1000) };
}
