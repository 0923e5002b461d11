import { HeraldError } from '../errors.js';

/** Why a credential was refused: compat surfaces answer 401 for `missing`, 403 for the rest. */
export type AuthFailure = 'missing' | 'invalid' | 'expired' | 'revoked';

export class AuthError extends HeraldError {
  constructor(
    readonly failure: AuthFailure,
    message: string,
  ) {
    // A revoked token says so in extensions.reason, so a client tells "log in again" from "refresh".
    super('UNAUTHENTICATED', message, failure === 'revoked' ? { reason: 'revoked' } : undefined);
  }
}
