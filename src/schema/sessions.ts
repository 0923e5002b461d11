import type { RevocationOutcome } from '../sessions/session-control.js';
import { builder } from './builder.js';

const RevocationRef = builder.objectRef<RevocationOutcome>('Revocation').implement({
  description: 'A revocation in force: the token (jti) or the tokens of a subject issued before a time that every instance now refuses.',
  fields: (t) => ({
    audience: t.string({ resolve: ({ revocation }) => revocation.audience }),
    subject: t.string({
      nullable: true,
      description: 'Every token of this sub issued before issuedBefore is revoked.',
      resolve: ({ revocation }) => revocation.subject ?? null,
    }),
    issuedBefore: t.field({
      type: 'DateTime',
      nullable: true,
      description: "Tokens whose iat is earlier are revoked (iat has second precision: a token issued in issuedBefore's second counts as before).",
      resolve: ({ revocation }) => (revocation.issuedBefore === undefined ? null : new Date(revocation.issuedBefore)),
    }),
    jti: t.string({ nullable: true, description: 'The one token revoked, by its jti.', resolve: ({ revocation }) => revocation.tokenId ?? null }),
    reason: t.string({
      description: 'Said to the closed connections and to later requests with a revoked token.',
      resolve: ({ revocation }) => revocation.reason,
    }),
    revokedAt: t.field({ type: 'DateTime', resolve: ({ revocation }) => new Date(revocation.revokedAt) }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'When the revocation is forgotten (REVOCATION_TTL after it was made): every token it covers must have expired by then.',
      resolve: ({ revocation }) => new Date(revocation.expiresAt),
    }),
    connectionsClosed: t.int({
      description: 'Connections (graphql-ws, SSE streams, courier and notiflux sockets) it closed, across every instance that answered.',
      resolve: ({ connectionsClosed }) => connectionsClosed,
    }),
  }),
});

builder.mutationFields((t) => ({
  revokeTokens: t.field({
    type: RevocationRef,
    description:
      'Revokes, in your audience, one token (jti) or every token of a subject issued before issuedBefore (default now). Within a second every instance closes the connections they opened and refuses them (UNAUTHENTICATED, extensions.reason "revoked"). Needs MANAGE.',
    args: {
      subject: t.arg.string(),
      jti: t.arg.string(),
      issuedBefore: t.arg({ type: 'DateTime' }),
      reason: t.arg.string({ description: 'At most 100 characters; default "revoked".' }),
    },
    authScopes: { manage: true },
    resolve: (_root, args, { viewer, services }) => services.sessions.revoke(viewer, args),
  }),
  disconnect: t.int({
    description:
      'Closes every open connection of a subject in your audience, on every instance, without revoking its tokens (clients may reconnect); returns how many were closed. Needs MANAGE.',
    args: { subject: t.arg.string({ required: true }), reason: t.arg.string({ description: 'At most 100 characters; default "disconnected".' }) },
    authScopes: { manage: true },
    resolve: (_root, { subject, reason }, { viewer, services }) => services.sessions.disconnect(viewer, subject, reason),
  }),
}));

builder.queryField('connections', (t) =>
  t.int({
    description:
      'Open connections in your audience across every instance (graphql-ws, SSE streams, courier and notiflux sockets), of one subject or all. Needs MANAGE.',
    args: { subject: t.arg.string() },
    authScopes: { manage: true },
    resolve: (_root, { subject }, { viewer, services }) => services.sessions.connections(viewer, subject),
  }),
);
