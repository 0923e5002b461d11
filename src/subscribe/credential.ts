import type { Viewer } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';

/**
 * The rules of a credential's life that need nothing but the tokens: expiry and renewal. Revocation
 * needs what was revoked, so sessions/sessions.ts, which every surface asks through the subscribe
 * service, combines the two.
 */

/**
 * Whether the viewer's credential holds now. The verifier accepts a token up to JWT_CLOCK_TOLERANCE
 * past its exp, which is right for one request; a subscription opened with it would end at once, so
 * it is refused instead.
 */
export function credentialHolds(viewer: Viewer, now = Date.now()): boolean {
  return viewer.expiresAt === undefined || viewer.expiresAt.getTime() > now;
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
