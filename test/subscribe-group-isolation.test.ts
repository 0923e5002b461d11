import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { GraphQLObjectType, GraphQLString, parse } from 'graphql';
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
    const groups = createSubscriptionGroups({
      subscriptions,
      fanout,
      maskError: (error) => error as Error,
      onDeliveryError: () => {
        throw new Error('a synchronous delivery is reported by the fan-out');
      },
    });
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

  it('reports a failure on the asynchronous path (a resolver that awaits) and keeps delivering the next events, in order', async () => {
    // The real schema with Message.later, answered asynchronously: the group's execution returns a promise.
    const asyncSchema = mapSchema(schema, {
      [MapperKind.OBJECT_TYPE]: (type) => {
        if (type.name !== 'Message') return type;
        const config = type.toConfig();
        return new GraphQLObjectType({ ...config, fields: { ...config.fields, later: { type: GraphQLString, resolve: async () => 'later' } } });
      },
    });
    const bus = createMemoryBus();
    const reported: unknown[] = [];
    const fanout = createFanout(bus, () => {
      throw new Error('an asynchronous delivery is reported by the groups');
    });
    const subscriptions = createSubscribeService({
      fanout,
      store: {} as Store,
      requireDeclaredTopics: false,
      maxSubscriptionsPerConnection: 10,
      maxBufferedBytes: 1 << 20,
    });
    const groups = createSubscriptionGroups({ subscriptions, fanout, maskError: (error) => error as Error, onDeliveryError: (error) => reported.push(error) });
    const query = 'subscription { topic(name: "news") { id later } }';
    const document = parse(query);
    const viewer = viewerFromClaims({ sub: 'x', aud: 'iso', scope: 'subscribe' }, { defaultAudience: 'iso', defaultScopes: ['SUBSCRIBE'] }, false);
    const written: string[] = [];
    let lastGotTwo = (): void => {};
    const done = new Promise<void>((resolve) => (lastGotTwo = resolve));
    for (const name of ['first', 'broken', 'last']) {
      groups.join(
        {
          schema: asyncSchema,
          document,
          query,
          operationName: undefined,
          variables: undefined,
          contextValue: { viewer },
          viewer,
          target: { kind: 'topic', name: 'news' },
        },
        {
          prefix: Buffer.from(name),
          write: (prefix, body) => {
            const id = (JSON.parse(body.toString().slice(0, -1)) as { data: { topic: { id: string } } }).data.topic.id;
            if (prefix.toString() === 'broken' && id === '1') throw new Error('this socket broke');
            written.push(`${prefix.toString()}:${id}`);
            if (prefix.toString() === 'last' && id === '2') lastGotTwo();
          },
        },
      );
    }
    for (const id of ['1', '2']) await bus.publish({ id, audience: 'iso', topic: 'news', payload: 1, publishedAt: new Date(0).toISOString(), publisher: null });
    await done;
    expect(written).toEqual(['first:1', 'last:1', 'first:2', 'broken:2', 'last:2']);
    expect(reported).toEqual([new Error('this socket broke')]);
  });
});
