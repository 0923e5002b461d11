import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { viewerFromClaims } from '../src/auth/viewer.js';
import { createFanout } from '../src/bus/fanout.js';
import { createMemoryBus } from '../src/bus/memory-bus.js';
import { schema } from '../src/schema/index.js';
import type { Store } from '../src/store/store.js';
import { createSubscribeService } from '../src/subscribe/subscribe-service.js';
import { createSubscriptionGroups } from '../src/transport/subscription-groups.js';

/**
 * Fan-out isolation holds per subscription, not per registry entry: a shared group is one entry in
 * the fan-out registry standing for many graphql-ws subscriptions, so one member whose write throws
 * must not keep the message from the members after it. The error still reaches the registry's
 * onSubscriberError, once.
 */
describe('a shared group whose member throws while taking a message', () => {
  it('still writes to every other member and reports the error once', async () => {
    const bus = createMemoryBus();
    const reported: unknown[] = [];
    const fanout = createFanout(bus, (error) => reported.push(error));
    const subscriptions = createSubscribeService({
      fanout,
      store: {} as Store, // never asked: REQUIRE_DECLARED_TOPICS is off
      requireDeclaredTopics: false,
      maxSubscriptionsPerConnection: 10,
      maxBufferedBytes: 1 << 20,
    });
    const groups = createSubscriptionGroups({ subscriptions, fanout, maskError: (error) => error as Error });
    const query = 'subscription { topic(name: "news") { id } }';
    const document = parse(query);
    const viewer = viewerFromClaims({ sub: 'x', aud: 'iso', scope: 'subscribe' }, { defaultAudience: 'iso', defaultScopes: ['SUBSCRIBE'] }, false);
    const written: string[] = [];
    for (const name of ['first', 'broken', 'last']) {
      groups.join(
        { schema, document, query, operationName: undefined, variables: undefined, contextValue: { viewer }, viewer, target: { kind: 'topic', name: 'news' } },
        {
          prefix: Buffer.from(name),
          write: (prefix) => {
            if (prefix.toString() === 'broken') throw new Error('this socket broke');
            written.push(prefix.toString());
          },
        },
      );
    }
    expect(groups.size).toBe(1);
    await bus.publish({ id: '1', audience: 'iso', topic: 'news', payload: 1, publishedAt: new Date(0).toISOString(), publisher: null });
    expect(written).toEqual(['first', 'last']);
    expect(reported).toEqual([new Error('this socket broke')]);
  });
});
