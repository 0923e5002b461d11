import { requireScope } from '../auth/access.js';
import type { Viewer } from '../auth/viewer.js';
import type { Bus } from '../bus/bus.js';
import type { ControlQuestion } from '../bus/control.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { Revocation } from './revocation.js';
import type { Sessions } from './sessions.js';

/** revokeTokens' arguments: one token by `jti`, or a subject's tokens issued before a time (default now). */
export interface RevokeRequest {
  readonly subject?: string | null;
  readonly jti?: string | null;
  readonly issuedBefore?: Date | null;
  readonly reason?: string | null;
}

export interface RevocationOutcome {
  readonly revocation: Revocation;
  /** Connections the revocation closed, on every instance that answered. */
  readonly connectionsClosed: number;
}

/** Longest reason kept: it travels in WebSocket close frames, which hold 123 bytes. */
export const MAX_REASON_LENGTH = 100;
const DEFAULT_REVOKE_REASON = 'revoked';
const DEFAULT_DISCONNECT_REASON = 'disconnected';

/**
 * What a MANAGE token may do to the sessions of its own audience, on every instance: revoke tokens
 * (stored first, so an instance that starts or reconnects later learns it), disconnect a subject,
 * count connections. Each goes to every instance as a control question (bus/control.ts) and each
 * instance answers through `answer`, from its Sessions.
 */
export interface SessionControl {
  revoke(viewer: Viewer, request: RevokeRequest): Promise<RevocationOutcome>;
  /** Closes every connection of `subject` in the viewer's audience, without revoking; returns how many. */
  disconnect(viewer: Viewer, subject: string, reason?: string | null): Promise<number>;
  /** Open connections in the viewer's audience (of `subject`, or all), across instances. */
  connections(viewer: Viewer, subject?: string | null): Promise<number>;
  /** This instance's answer to a session question; undefined for questions that are not about sessions. */
  answer(question: ControlQuestion): number | undefined;
  /** Loads the revocations in force, now and whenever the bus comes back after a drop. */
  start(): Promise<void>;
  stop(): void;
}

export function createSessionControl(options: {
  readonly store: Store;
  readonly bus: Pick<Bus, 'ask' | 'onReconnect'>;
  readonly sessions: Sessions;
  readonly revocationTtlMs: number;
  readonly logger: Logger;
}): SessionControl {
  const { store, bus, sessions, revocationTtlMs, logger } = options;
  let stopReconnect = (): void => {};

  const load = async (): Promise<void> => sessions.load(await store.listRevocations(Date.now()));

  return {
    async revoke(viewer, request) {
      requireScope(viewer, 'MANAGE');
      const revocation = revocationOf(viewer.audience, request, revocationTtlMs);
      // Stored before it is announced: an instance that misses the announcement reads it at start or reconnect.
      await store.addRevocation(revocation);
      const connectionsClosed = await askOrApplyHere(bus, sessions, { kind: 'revoke', audience: viewer.audience, revocation }, logger);
      return { revocation, connectionsClosed };
    },
    async disconnect(viewer, subject, reason) {
      requireScope(viewer, 'MANAGE');
      const question: ControlQuestion = { kind: 'disconnect', audience: viewer.audience, subject, reason: reasonOf(reason, DEFAULT_DISCONNECT_REASON) };
      return bus.ask(question);
    },
    async connections(viewer, subject) {
      requireScope(viewer, 'MANAGE');
      return bus.ask({ kind: 'connections', audience: viewer.audience, subject: subject ?? null });
    },
    answer(question) {
      switch (question.kind) {
        case 'revoke':
          return sessions.revoke(question.revocation);
        case 'disconnect':
          return sessions.disconnect(question.audience, question.subject, question.reason);
        case 'connections':
          return sessions.count(question.audience, question.subject);
        default:
          return undefined;
      }
    },
    async start() {
      await load();
      stopReconnect = bus.onReconnect(() => {
        load().catch((error: unknown) => logger.warn({ err: error }, 'could not reload revocations after the bus reconnected; retrying at the next reconnect'));
      });
    },
    stop() {
      stopReconnect();
    },
  };
}

/**
 * Announces a stored revocation to every instance. If the bus cannot take it, the revocation still
 * holds: it is stored, this instance applies it now, and the others read it when their bus comes back.
 */
async function askOrApplyHere(bus: Pick<Bus, 'ask'>, sessions: Sessions, question: ControlQuestion & { kind: 'revoke' }, logger: Logger): Promise<number> {
  try {
    return await bus.ask(question);
  } catch (error) {
    logger.warn({ err: error }, 'a revocation was stored but not every instance confirmed it; they apply it when their bus reconnects');
    return sessions.revoke(question.revocation);
  }
}

function revocationOf(audience: string, request: RevokeRequest, ttlMs: number): Revocation {
  const { subject, jti, issuedBefore } = request;
  const now = Date.now();
  const reason = reasonOf(request.reason, DEFAULT_REVOKE_REASON);
  const expiresAt = now + ttlMs;
  if ((jti == null) === (subject == null))
    throw new HeraldError('BAD_USER_INPUT', 'name either jti (one token) or subject (its tokens issued before issuedBefore)');
  if (jti != null) {
    if (jti === '') throw new HeraldError('BAD_USER_INPUT', 'jti must not be empty');
    if (issuedBefore != null) throw new HeraldError('BAD_USER_INPUT', 'issuedBefore goes with subject, not jti');
    return { audience, tokenId: jti, reason, revokedAt: now, expiresAt };
  }
  if (subject === '') throw new HeraldError('BAD_USER_INPUT', 'subject must not be empty');
  const before = issuedBefore?.getTime() ?? now;
  if (before > now) throw new HeraldError('BAD_USER_INPUT', 'issuedBefore must not be in the future');
  return { audience, subject: subject!, issuedBefore: before, reason, revokedAt: now, expiresAt };
}

function reasonOf(reason: string | null | undefined, fallback: string): string {
  if (reason == null || reason === '') return fallback;
  if (reason.length > MAX_REASON_LENGTH) throw new HeraldError('BAD_USER_INPUT', `reason must be at most ${MAX_REASON_LENGTH} characters`);
  return reason;
}
