import type { Viewer } from '../auth/viewer.js';

/**
 * A revocation, as stored and as sent between instances (plain JSON: times are epoch milliseconds).
 * It names one token by its `jti`, or every token of a subject issued before a time.
 */
export interface Revocation {
  readonly audience: string;
  /** With `issuedBefore`: every token of this `sub` whose `iat` is earlier. */
  readonly subject?: string;
  readonly issuedBefore?: number;
  /** One token, by its `jti`. */
  readonly tokenId?: string;
  readonly reason: string;
  readonly revokedAt: number;
  /** When the record is dropped: every token it covers has expired by then (REVOCATION_TTL). */
  readonly expiresAt: number;
}

/**
 * Whether the revocation covers the viewer's token. `iat` has second precision, so a token issued in
 * the second of `issuedBefore` counts as before it; a token without `iat` is covered by every
 * revocation of its subject (nothing says it is newer).
 */
export function covers(revocation: Revocation, viewer: Viewer): boolean {
  if (revocation.audience !== viewer.audience) return false;
  if (revocation.tokenId !== undefined) return viewer.tokenId === revocation.tokenId;
  if (revocation.subject === undefined || viewer.subject !== revocation.subject) return false;
  return viewer.issuedAt === undefined || revocation.issuedBefore === undefined || viewer.issuedAt.getTime() < revocation.issuedBefore;
}

/** Whether a value received from another instance is a Revocation (the control channel is JSON). */
export function isRevocation(value: unknown): value is Revocation {
  const v = value as Partial<Revocation> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.audience === 'string' &&
    typeof v.reason === 'string' &&
    typeof v.revokedAt === 'number' &&
    typeof v.expiresAt === 'number' &&
    (typeof v.tokenId === 'string' || (typeof v.subject === 'string' && (v.issuedBefore === undefined || typeof v.issuedBefore === 'number')))
  );
}
