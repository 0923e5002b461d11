import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import { hasScope } from '../auth/viewer.js';
import { HeraldError } from '../errors.js';
import type { HeraldContext } from './context.js';

/** The Pothos builder. It defines no types: each domain file adds its own. */
export const builder = new SchemaBuilder<{
  Context: HeraldContext;
  AuthScopes: { subscribe: boolean; publish: boolean; manage: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Refuse a subscription when it is opened, not when its first event arrives.
    authorizeOnSubscribe: true,
    authScopes: ({ viewer }) => ({
      subscribe: hasScope(viewer, 'SUBSCRIBE'),
      publish: hasScope(viewer, 'PUBLISH'),
      manage: hasScope(viewer, 'MANAGE'),
    }),
    unauthorizedError: (_parent, _context, _info, result) => new HeraldError('FORBIDDEN', describe(result.failure)),
  },
});

function describe(failure: AuthFailure): string {
  if (failure.kind === AuthScopeFailureType.AuthScope) return `this needs the ${failure.scope} scope`;
  return 'not allowed for this token';
}
