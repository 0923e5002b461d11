import { MAX_SIGNED_TOPICS, type SignedSubscription } from '../auth/subscription-signer.js';
import { builder } from './builder.js';

const SignedSubscriptionRef = builder.objectRef<SignedSubscription>('SignedSubscription').implement({
  description: 'A short-lived URL and token that lets a browser subscribe without holding the long-lived credential.',
  fields: (t) => ({
    token: t.exposeString('token'),
    url: t.exposeString('url', { description: 'A ws:// or wss:// URL for graphql-ws clients, carrying the token.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

builder.mutationField('signSubscription', (t) =>
  t.field({
    type: SignedSubscriptionRef,
    description:
      "Mints a subscribe-only token and URL limited to the given topics (default: the caller's own limit). Needs MANAGE. " +
      `At most ${MAX_SIGNED_TOPICS} topics (names or patterns), so that the URL fits what proxies accept; BAD_USER_INPUT past it.`,
    args: {
      topics: t.arg.stringList({ required: false }),
      ttlSeconds: t.arg.int({ required: false, defaultValue: 60 }),
    },
    authScopes: { manage: true },
    resolve: (_root, { topics, ttlSeconds }, { viewer, services }) => services.signer.sign(viewer, topics ?? undefined, ttlSeconds ?? 60),
  }),
);
