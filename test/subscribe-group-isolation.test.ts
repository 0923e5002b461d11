import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { GraphQLObjectType, GraphQLString } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';
import { createGroupHarness, viewerOf } from './helpers/group-harness.js';

/**
 * Fan-out isolation holds per subscription, not per registry entry: a shared group is one entry in
 * the fan-out registry standing for many graphql-ws subscriptions, so one member whose write throws
 * must not keep the message from the members after it. The error still reaches the registry's
 * onSubscriberError, once.
 */
describe('a shared group whose member throws while taking a message', () => {
  it('still writes to every other member and reports the error once', async () => {
    const reported: unknown[] = [];
    const harness = createGroupHarness({
      onSubscriberError: (error) => reported.push(error),
      onDeliveryError: () => {
        throw new Error('a synchronous delivery is reported by the fan-out');
      },
    });
    const written: string[] = [];
    for (const name of ['first', 'broken', 'last']) {
      harness.join(schema, 'subscription { topic(name: "news") { id } }', viewerOf('x'), {
        prefix: Buffer.from(name),
        write: (prefix) => {
          if (prefix.toString() === 'broken') throw new Error('this socket broke');
          written.push(prefix.toString());
        },
      });
    }
    expect(harness.groups.size).toBe(1);
    await harness.publish();
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
    const reported: unknown[] = [];
    const harness = createGroupHarness({
      onSubscriberError: () => {
        throw new Error('an asynchronous delivery is reported by the groups');
      },
      onDeliveryError: (error) => reported.push(error),
    });
    const written: string[] = [];
    let lastGotTwo = (): void => {};
    const done = new Promise<void>((resolve) => (lastGotTwo = resolve));
    for (const name of ['first', 'broken', 'last']) {
      harness.join(asyncSchema, 'subscription { topic(name: "news") { id later } }', viewerOf('x'), {
        prefix: Buffer.from(name),
        write: (prefix, body) => {
          // The topic's nth message (its offset), whatever epoch the bus stamped.
          const id = String(Number((JSON.parse(body.toString().slice(0, -1)) as { data: { topic: { id: string } } }).data.topic.id.split('-')[1]));
          if (prefix.toString() === 'broken' && id === '1') throw new Error('this socket broke');
          written.push(`${prefix.toString()}:${id}`);
          if (prefix.toString() === 'last' && id === '2') lastGotTwo();
        },
      });
    }
    for (let i = 0; i < 2; i++) await harness.publish();
    await done;
    expect(written).toEqual(['first:1', 'last:1', 'first:2', 'broken:2', 'last:2']);
    expect(reported).toEqual([new Error('this socket broke')]);
  });
});
