import type { Viewer } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';

/**
 * The one place that decides whether a subscriber's credential still holds. Every surface asks here
 * before it opens a subscription and arms `watchCredential` while one is open, so renewal and
 * revocation change this file, not four surfaces.
 */

/** Why a credential stopped holding (revocation will add its own). */
export type CredentialEnd = 'expired';

// setTimeout's ceiling; a later expiry re-arms when this one fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Whether the viewer's credential holds now. The verifier accepts a token up to JWT_CLOCK_TOLERANCE
 * past its exp, which is right for one request; a subscription opened with it would end at once, so
 * it is refused instead.
 */
export function credentialHolds(viewer: Viewer, now = Date.now()): boolean {
  return viewer.expiresAt === undefined || viewer.expiresAt.getTime() > now;
}

/** Calls `onEnded` once when the viewer's credential stops holding (at once if it already has). Returns the cancel function. */
export function watchCredential(viewer: Viewer, onEnded: (reason: CredentialEnd) => void): () => void {
  if (viewer.expiresAt === undefined) return () => {};
  const expiresAt = viewer.expiresAt.getTime();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) onEnded('expired');
    else timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
  };
  arm();
  return () => clearTimeout(timer);
}

/**
 * Whether a connection authenticated as `current` may go on as `next` (renewConnection): `next` still
 * holds, names the same audience (a connection never moves between tenants) and the same subject
 * (revoking or disconnecting a subject reaches every connection it opened, whatever it renewed
 * into), and a signSubscription credential renews only into another one (a subscribe-only URL never
 * becomes a full token's connection). Throws the HeraldError a client sees; the caller keeps `current`.
 */
export function assertRenewal(current: Viewer, next: Viewer, now = Date.now()): void {
  if (!credentialHolds(next, now)) throw new HeraldError('UNAUTHENTICATED', 'the new token has expired');
  if (next.audience !== current.audience) throw new HeraldError('FORBIDDEN', 'the new token must name the same audience as the connection');
  if (next.subject !== current.subject) throw new HeraldError('FORBIDDEN', 'the new token must name the same subject (sub) as the connection');
  if (current.signed && !next.signed) throw new HeraldError('FORBIDDEN', 'a connection opened with a signSubscription token renews only with another one');
}
