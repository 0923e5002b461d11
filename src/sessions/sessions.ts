import { AuthError } from '../auth/auth-error.js';
import type { Viewer } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';
import { closeReason } from '../transport/close-reason.js';
import { credentialHolds } from '../subscribe/credential.js';
import { createRevocationList } from './revocation-list.js';
import { covers, type Revocation } from './revocation.js';

/** Why a connection's credential stopped holding, or why it was cut. */
export type SessionEnd =
  { readonly kind: 'expired' } | { readonly kind: 'revoked'; readonly reason: string } | { readonly kind: 'disconnected'; readonly reason: string };

/**
 * The one place that decides whether a credential still holds (expiry, revocation) and that knows
 * every open connection of this instance by audience and subject, whatever its surface. Surfaces
 * ask `assertHolds` before they open anything and `watch` while a connection (or an SSE stream) is
 * open; revocation and disconnect reach them through here, so no surface re-implements either.
 */
export interface Sessions {
  /** Throws UNAUTHENTICATED when the viewer's token has expired or is revoked (`extensions.reason: "revoked"`). */
  assertHolds(viewer: Viewer): void;
  /** The revocation covering the viewer's token (the verifier refuses such tokens), if any. */
  revocationOf(viewer: Viewer): Revocation | undefined;
  /**
   * Calls `onEnded` once when the viewer's credential stops holding (at once if it already has), or
   * when its subject is disconnected. Returns the function that stops watching (idempotent).
   */
  watch(viewer: Viewer, onEnded: (end: SessionEnd) => void): () => void;
  /** Adds a revocation and ends this instance's connections it covers; returns how many ended. */
  revoke(revocation: Revocation): number;
  /** Ends this instance's connections of the subject; returns how many. */
  disconnect(audience: string, subject: string, reason: string): number;
  /** This instance's open connections in the audience (of one subject, or all). */
  count(audience: string, subject: string | null): number;
  /** Revocations in force now (loaded from the store at start and after a bus reconnect). */
  load(revocations: readonly Revocation[]): void;
  close(): void;
}

// setTimeout's ceiling; a later expiry re-arms when this one fires.
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How often revocations whose tokens have all expired are dropped from memory. */
const PRUNE_EVERY_MS = 60_000;

interface Watcher {
  readonly viewer: Viewer;
  end(end: SessionEnd): void;
}

export function createSessions(): Sessions {
  const revocations = createRevocationList();
  /** Open connections by audience. */
  const watchers = new Map<string, Set<Watcher>>();
  const pruner = setInterval(() => revocations.prune(), PRUNE_EVERY_MS);
  pruner.unref();

  const endEach = (audience: string, matches: (viewer: Viewer) => boolean, end: SessionEnd): number => {
    const open = watchers.get(audience);
    if (open === undefined) return 0;
    let ended = 0;
    for (const watcher of [...open]) {
      if (!matches(watcher.viewer)) continue;
      ended++;
      watcher.end(end);
    }
    return ended;
  };

  return {
    assertHolds(viewer) {
      if (!credentialHolds(viewer)) throw new AuthError('expired', 'token expired');
      const revoked = revocations.find(viewer);
      if (revoked !== undefined) throw revokedError(revoked);
    },
    revocationOf: (viewer) => revocations.find(viewer),
    watch(viewer, onEnded) {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const watcher: Watcher = {
        viewer,
        end(end) {
          if (done) return;
          stop();
          onEnded(end);
        },
      };
      const stop = (): void => {
        done = true;
        clearTimeout(timer);
        const open = watchers.get(viewer.audience);
        open?.delete(watcher);
        if (open?.size === 0) watchers.delete(viewer.audience);
      };
      const revoked = revocations.find(viewer);
      if (revoked !== undefined) {
        watcher.end({ kind: 'revoked', reason: revoked.reason });
        return stop;
      }
      let open = watchers.get(viewer.audience);
      if (open === undefined) watchers.set(viewer.audience, (open = new Set()));
      open.add(watcher);
      if (viewer.expiresAt !== undefined) {
        const expiresAt = viewer.expiresAt.getTime();
        const arm = (): void => {
          const remaining = expiresAt - Date.now();
          if (remaining <= 0) watcher.end({ kind: 'expired' });
          else timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
        };
        arm();
      }
      return stop;
    },
    revoke(revocation) {
      revocations.add(revocation);
      return endEach(revocation.audience, (viewer) => covers(revocation, viewer), { kind: 'revoked', reason: revocation.reason });
    },
    disconnect: (audience, subject, reason) => endEach(audience, (viewer) => viewer.subject === subject, { kind: 'disconnected', reason }),
    count(audience, subject) {
      const open = watchers.get(audience);
      if (open === undefined) return 0;
      if (subject === null) return open.size;
      let count = 0;
      for (const watcher of open) if (watcher.viewer.subject === subject) count++;
      return count;
    },
    load(loaded) {
      // A revocation made while this instance was not listening may cover connections open here; one it knew has ended them already.
      for (const revocation of loaded) {
        if (revocations.add(revocation)) endEach(revocation.audience, (viewer) => covers(revocation, viewer), { kind: 'revoked', reason: revocation.reason });
      }
    },
    close() {
      clearInterval(pruner);
    },
  };
}

/** The refusal of a revoked token: UNAUTHENTICATED, `extensions.reason: "revoked"`, the revocation's reason in the message. */
export function revokedError(revocation: Pick<Revocation, 'reason'>): AuthError {
  return new AuthError('revoked', `token revoked: ${revocation.reason}`);
}

/** A graphql-ws or courier socket whose token expired: graphql-ws's Unauthorized, which its client does not retry. */
export const TOKEN_EXPIRED_CLOSE_CODE = 4401;
/** A socket whose token was revoked: Forbidden; a stock graphql-ws client retries, and its reconnect with the revoked token is refused with 4401. */
export const TOKEN_REVOKED_CLOSE_CODE = 4403;
/** A socket an operator disconnected (disconnect): the client may reconnect, as a stock graphql-ws client does. */
export const DISCONNECTED_CLOSE_CODE = 4010;

/** How every WebSocket surface closes a socket whose session ended (the reason cut to fit a close frame). */
export function closeOf(end: SessionEnd): { readonly code: number; readonly reason: string } {
  switch (end.kind) {
    case 'expired':
      return { code: TOKEN_EXPIRED_CLOSE_CODE, reason: 'token expired' };
    case 'revoked':
      return { code: TOKEN_REVOKED_CLOSE_CODE, reason: closeReason(`token revoked: ${end.reason}`) };
    case 'disconnected':
      return { code: DISCONNECTED_CLOSE_CODE, reason: closeReason(`disconnected: ${end.reason}`) };
  }
}

/** The same, as the error an SSE stream or a notiflux subscription ends with. */
export function errorOf(end: SessionEnd, then: string): HeraldError {
  switch (end.kind) {
    case 'expired':
      return new HeraldError('UNAUTHENTICATED', `token expired: ${then}`);
    case 'revoked':
      return revokedError({ reason: end.reason });
    case 'disconnected':
      return new HeraldError('UNAVAILABLE', `disconnected by an operator (${end.reason}): ${then}`);
  }
}
