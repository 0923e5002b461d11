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

/** "this needs the publish scope", from Pothos's failure tree (a field's scopes arrive wrapped in $any). */
function describe(failure: AuthFailure): string {
  const scopes: string[] = [];
  const collect = (node: AuthFailure): void => {
    if (node.kind === AuthScopeFailureType.AuthScope) scopes.push(node.scope);
    else if (node.kind === AuthScopeFailureType.AnyAuthScopes || node.kind === AuthScopeFailureType.AllAuthScopes) {
      node.failures.forEach(collect);
    }
  };
  collect(failure);
  return scopes.length > 0 ? `this needs the ${scopes.join(' or ')} scope` : 'not allowed for this token';
}
