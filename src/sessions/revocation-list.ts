import type { Viewer } from '../auth/viewer.js';
import { covers, type Revocation } from './revocation.js';

/**
 * The revocations in force, in memory, indexed so the check on every verified token is two map
 * lookups: by audience and `jti`, and by audience and subject (the latest `issuedBefore` wins, as it
 * covers every earlier one). Filled from the store at start and after a bus reconnect, and by the
 * control channel as revocations are made.
 */
export interface RevocationList {
  /** The revocation covering the viewer's token, if one does. */
  find(viewer: Viewer): Revocation | undefined;
  /** Adds a revocation; false when one already in force covered as much (a reload from the store, a second announcement). */
  add(revocation: Revocation): boolean;
  /** Drops the revocations whose tokens have all expired. */
  prune(now?: number): void;
  readonly size: number;
}

export function createRevocationList(): RevocationList {
  const byToken = new Map<string, Revocation>();
  const bySubject = new Map<string, Revocation>();
  const key = (audience: string, name: string): string => `${audience}\u0000${name}`;
  const live = (revocation: Revocation | undefined, now: number): Revocation | undefined =>
    revocation !== undefined && revocation.expiresAt > now ? revocation : undefined;

  return {
    find(viewer) {
      if (byToken.size === 0 && bySubject.size === 0) return undefined;
      const now = Date.now();
      if (viewer.tokenId !== undefined) {
        const byId = live(byToken.get(key(viewer.audience, viewer.tokenId)), now);
        if (byId !== undefined) return byId;
      }
      if (viewer.subject === undefined) return undefined;
      const bySub = live(bySubject.get(key(viewer.audience, viewer.subject)), now);
      return bySub !== undefined && covers(bySub, viewer) ? bySub : undefined;
    },
    add(revocation) {
      if (revocation.tokenId !== undefined) {
        const name = key(revocation.audience, revocation.tokenId);
        const current = byToken.get(name);
        if (current !== undefined && current.expiresAt >= revocation.expiresAt) return false;
        byToken.set(name, revocation);
        return current === undefined;
      }
      if (revocation.subject === undefined) return false;
      const name = key(revocation.audience, revocation.subject);
      const current = bySubject.get(name);
      const before = (r: Revocation): number => r.issuedBefore ?? Infinity;
      if (current === undefined) {
        bySubject.set(name, revocation);
        return true;
      }
      // The later issuedBefore covers more; keep the later expiry too, so neither is forgotten early.
      const expiresAt = Math.max(current.expiresAt, revocation.expiresAt);
      const widens = before(revocation) > before(current);
      bySubject.set(name, { ...(widens ? revocation : current), expiresAt });
      return widens;
    },
    prune(now = Date.now()) {
      for (const map of [byToken, bySubject]) for (const [name, revocation] of map) if (revocation.expiresAt <= now) map.delete(name);
    },
    get size() {
      return byToken.size + bySubject.size;
    },
  };
}
