import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config.js';
import { AuthError } from './auth-error.js';
import { algorithmForPublicKey } from './key-algorithm.js';
import { viewerFromClaims, type Viewer } from './viewer.js';

/** The issuer of signSubscription tokens; they verify only under SIGNING_SECRET. */
export const SIGNED_SUBSCRIPTION_ISSUER = 'herald:signed-subscription';

/** Turns a bearer token into a Viewer, or throws AuthError. The one place tokens are checked. */
export type VerifyToken = (token: string | undefined) => Promise<Viewer>;

/** Key material after startup resolution (configured keys, or the development key pair). */
export interface VerificationKeys {
  readonly jwtSecret?: string | undefined;
  readonly publicKeyPem?: string | undefined;
  readonly jwksUrl?: URL | undefined;
  /** Always present: configured SIGNING_SECRET, or one generated for this process in development. */
  readonly signingSecret: string;
}

// JWKS may hold any asymmetric key; HMAC algorithms are never accepted from it (HS/RS confusion).
const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

interface Candidate {
  readonly key: Uint8Array | CryptoKey | JWTVerifyGetKey;
  readonly algorithms: string[];
  readonly issuer: string | undefined;
  readonly signed: boolean;
}

/**
 * Builds the verifier once at startup. A token is accepted when it verifies under one of the
 * configured keys with that key's pinned algorithm; bad key configuration throws TypeError here.
 */
export async function createTokenVerifier(
  keys: VerificationKeys,
  config: AuthConfig,
  /** Refuses a token that verified (sessions: a revoked one), asked on every call, cached or not. */
  refuse: (viewer: Viewer) => AuthError | undefined = () => undefined,
): Promise<VerifyToken> {
  // A token claiming the signed-subscription issuer is checked against SIGNING_SECRET alone (and is
  // subscribe-only); every other token against the configured keys alone. Routing on the unverified
  // claim is safe: each route still demands a valid signature under its own keys.
  const signedCandidate: Candidate = {
    key: new TextEncoder().encode(keys.signingSecret),
    algorithms: ['HS256'],
    issuer: SIGNED_SUBSCRIPTION_ISSUER,
    signed: true,
  };
  const candidates: Candidate[] = [];
  if (keys.jwtSecret !== undefined) {
    candidates.push({ key: new TextEncoder().encode(keys.jwtSecret), algorithms: ['HS256'], issuer: config.issuer, signed: false });
  }
  if (keys.publicKeyPem !== undefined) {
    const algorithm = algorithmForPublicKey(keys.publicKeyPem);
    candidates.push({ key: await importSPKI(keys.publicKeyPem, algorithm), algorithms: [algorithm], issuer: config.issuer, signed: false });
  }
  if (keys.jwksUrl !== undefined) {
    // jose caches the set and refetches it when a token names a kid it has not seen.
    candidates.push({ key: createRemoteJWKSet(keys.jwksUrl), algorithms: ASYMMETRIC_ALGORITHMS, issuer: config.issuer, signed: false });
  }

  const cache = createVerifiedTokenCache(config.clockToleranceSeconds);
  const checked = (viewer: Viewer): Viewer => {
    const refusal = refuse(viewer);
    if (refusal !== undefined) throw refusal;
    return viewer;
  };

  return async (token) => {
    if (token === undefined || token === '') throw new AuthError('missing', 'a bearer token is required');
    const cached = cache.get(token);
    // The cache holds verified signatures, not standing: a token revoked after it was cached is refused here.
    if (cached !== undefined) return checked(cached);
    let algorithm: unknown;
    let claimedIssuer: unknown;
    try {
      algorithm = decodeProtectedHeader(token).alg;
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      throw new AuthError('invalid', 'token is not a JWT');
    }
    const route = claimedIssuer === SIGNED_SUBSCRIPTION_ISSUER ? [signedCandidate] : candidates;
    const matching = route.filter((candidate) => candidate.algorithms.includes(String(algorithm)));
    if (matching.length === 0) throw new AuthError('invalid', `token algorithm ${String(algorithm)} is not accepted`);
    let failure: AuthError | undefined;
    for (const candidate of matching) {
      let claims: JWTPayload;
      try {
        const options = {
          algorithms: candidate.algorithms,
          requiredClaims: config.requireExp ? ['exp'] : [],
          clockTolerance: config.clockToleranceSeconds,
          ...(candidate.issuer !== undefined && { issuer: candidate.issuer }),
        };
        // Two calls only because jwtVerify's overloads take a key or a key getter, not their union.
        claims =
          typeof candidate.key === 'function'
            ? (await jwtVerify(token, candidate.key, options)).payload
            : (await jwtVerify(token, candidate.key, options)).payload;
      } catch (error) {
        const refusal = describeRefusal(error);
        if (refusal.keyMismatch) {
          failure ??= refusal.error;
          continue;
        }
        throw refusal.error;
      }
      return checked(cache.set(token, viewerFromClaims(claims, config, candidate.signed)));
    }
    throw failure ?? new AuthError('invalid', 'token signature is invalid');
  };
}

/**
 * jose's error → AuthError, by its stable code. `keyMismatch` marks failures that only say "not this
 * key" (so the next candidate key is tried) as opposed to a verified token with a bad claim.
 */
function describeRefusal(error: unknown): { keyMismatch: boolean; error: AuthError } {
  switch ((error as { code?: string } | null)?.code) {
    case joseErrors.JWTExpired.code:
      return { keyMismatch: false, error: new AuthError('expired', 'token expired') };
    case joseErrors.JWTClaimValidationFailed.code: {
      const claim = (error as InstanceType<typeof joseErrors.JWTClaimValidationFailed>).claim;
      return { keyMismatch: false, error: new AuthError('invalid', `token ${claim} claim check failed`) };
    }
    case joseErrors.JWSSignatureVerificationFailed.code:
    case joseErrors.JWKSNoMatchingKey.code:
      return { keyMismatch: true, error: new AuthError('invalid', 'token signature is invalid') };
    default:
      return { keyMismatch: true, error: new AuthError('invalid', 'token could not be verified') };
  }
}

/** Verified tokens are remembered this long at most, so a key removed from a JWKS stops working soon. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX_ENTRIES = 10_000;

/**
 * Verification is deterministic for a given token and key set, so a token verified once need not
 * be verified again until it expires: publishers send the same token on every request, and the
 * HMAC or signature check would otherwise dominate the publish path. Bounded in size and age;
 * refusals are never cached.
 */
function createVerifiedTokenCache(clockToleranceSeconds: number) {
  const entries = new Map<string, { viewer: Viewer; until: number }>();
  return {
    get(token: string): Viewer | undefined {
      const entry = entries.get(token);
      if (entry === undefined) return undefined;
      if (Date.now() < entry.until) return entry.viewer;
      entries.delete(token);
      return undefined;
    },
    set(token: string, viewer: Viewer): Viewer {
      const expiry = viewer.expiresAt === undefined ? Infinity : viewer.expiresAt.getTime() + clockToleranceSeconds * 1000;
      if (entries.size >= CACHE_MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
      entries.set(token, { viewer, until: Math.min(expiry, Date.now() + CACHE_TTL_MS) });
      return viewer;
    },
  };
}
