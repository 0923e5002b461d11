import { HeraldError } from '../errors.js';

/** Why a credential was refused: compat surfaces answer 401 for `missing`, 403 for the rest. */
export type AuthFailure = 'missing' | 'invalid' | 'expired';

export class AuthError extends HeraldError {
  constructor(
    readonly failure: AuthFailure,
    message: string,
  ) {
    super('UNAUTHENTICATED', message);
  }
}
