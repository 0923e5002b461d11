import { isRevocation, type Revocation } from '../sessions/revocation.js';

/**
 * Questions one instance asks every instance on the bus (itself included), each answered with a
 * number that the asker sums: subscriber counts, and session control (revoking tokens, cutting a
 * subject's connections, counting them). On Redis they travel as JSON on the control channel.
 */
export type ControlQuestion =
  | { readonly kind: 'subscribers'; readonly audience: string; readonly topic: string | null }
  | { readonly kind: 'revoke'; readonly audience: string; readonly revocation: Revocation }
  | { readonly kind: 'disconnect'; readonly audience: string; readonly subject: string; readonly reason: string }
  | { readonly kind: 'connections'; readonly audience: string; readonly subject: string | null };

/** This instance's answer to a question: a count of what it holds, or of what it ended. */
export type ControlAnswer = (question: ControlQuestion) => number;

/** Whether a value received on the control channel is a question this version understands. */
export function isControlQuestion(value: unknown): value is ControlQuestion {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || typeof v.audience !== 'string') return false;
  switch (v.kind) {
    case 'subscribers':
      return typeof v.topic === 'string' || v.topic === null;
    case 'revoke':
      return isRevocation(v.revocation) && v.revocation.audience === v.audience;
    case 'disconnect':
      return typeof v.subject === 'string' && typeof v.reason === 'string';
    case 'connections':
      return typeof v.subject === 'string' || v.subject === null;
    default:
      return false;
  }
}
