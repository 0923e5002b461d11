import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOW_CONSUMER_CLOSE_CODE } from '../src/transport/send-buffer-limit.js';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { topic payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

describe('grouped delivery', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald({ MAX_BUFFERED_BYTES: '65536', MAX_PAYLOAD_BYTES: '65536' });
  });
  afterAll(() => herald.stop());

  const publisherOf = (audience: string) => token({ audience, scopes: ['publish'] });
  const publish = async (bearer: string, topic: string, payload: unknown) => {
    const response = await gql(herald.httpUrl, bearer, PUBLISH, { topic, payload });
    expect(response.errors).toBeUndefined();
  };

  it('executes identical subscriptions once and delivers to every member, in publish order', async () => {
    const audience = 'groups-shared';
    const bearer = await token({ audience, scopes: ['subscribe'] });
    const clients = [0, 1, 2].map(() => wsClient(herald.wsUrl, { connectionParams: { token: bearer } }));
    const groupsBefore = herald.app.groups.size;
    const subs = clients.map((client) => subscribe(client, ON_TOPIC, { name: 'shared' }));
    await waitForSubscribers(herald.app, audience, 'shared', 3);
    expect(herald.app.groups.size).toBe(groupsBefore + 1);

    const publisher = await publisherOf(audience);
    for (let i = 0; i < 30; i++) await publish(publisher, 'shared', i);
    for (const sub of subs) {
      const got: unknown[] = [];
      for (let i = 0; i < 30; i++) got.push((await sub.next()).data!.topic.payload);
      expect(got).toEqual([...Array(30).keys()]);
    }
    // eslint-disable-next-line @typescript-eslint/await-thenable -- graphql-ws's dispose returns a promise at run time
    await Promise.all(clients.map((client) => client.dispose()));
  });

  it('never mixes results across variables, selections, topics limits or audiences', async () => {
    const publisherA = await publisherOf('groups-a');
    const publisherB = await publisherOf('groups-b');
    const a = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience: 'groups-a', scopes: ['subscribe'] }) } });
    const limited = wsClient(herald.wsUrl, {
      connectionParams: { token: await token({ audience: 'groups-a', scopes: ['subscribe'], topics: ['feed/public'] }) },
    });
    const b = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience: 'groups-b', scopes: ['subscribe'] }) } });

    const everything = subscribe(a, ON_TOPIC, { name: 'feed/*' });
    const privateOnly = subscribe(a, ON_TOPIC, { name: 'feed/private' });
    const idsOnly = subscribe(a, 'subscription ($name: String!) { topic(name: $name) { id } }', { name: 'feed/*' });
    const limitedEverything = subscribe(limited, ON_TOPIC, { name: 'feed/*' });
    const otherAudience = subscribe(b, ON_TOPIC, { name: 'feed/*' });
    await waitForSubscribers(herald.app, 'groups-a', 'feed/private', 3);
    await waitForSubscribers(herald.app, 'groups-a', 'feed/public', 3);
    await waitForSubscribers(herald.app, 'groups-b', 'feed/public', 1);

    await publish(publisherA, 'feed/private', 'a-private');
    await publish(publisherB, 'feed/public', 'b-public');
    await publish(publisherA, 'feed/public', 'a-public');

    expect((await everything.next()).data!.topic).toEqual({ topic: 'feed/private', payload: 'a-private' });
    expect((await everything.next()).data!.topic).toEqual({ topic: 'feed/public', payload: 'a-public' });
    expect((await privateOnly.next()).data!.topic).toEqual({ topic: 'feed/private', payload: 'a-private' });
    // A different selection is a different group: only ids, never the payload.
    expect(Object.keys((await idsOnly.next()).data!.topic)).toEqual(['id']);
    // The topics limit filters before the shared execution: the first thing it sees is the public message.
    expect((await limitedEverything.next()).data!.topic).toEqual({ topic: 'feed/public', payload: 'a-public' });
    expect((await otherAudience.next()).data!.topic).toEqual({ topic: 'feed/public', payload: 'b-public' });
    expect(privateOnly.received).toHaveLength(1);
    expect(otherAudience.received).toHaveLength(1);
    // eslint-disable-next-line @typescript-eslint/await-thenable -- graphql-ws's dispose returns a promise at run time
    await Promise.all([a, limited, b].map((client) => client.dispose()));
  });

  it('stops delivering to a member that leaves mid-stream while the group goes on', async () => {
    const audience = 'groups-leave';
    const bearer = await token({ audience, scopes: ['subscribe'] });
    const publisher = await publisherOf(audience);
    const client = wsClient(herald.wsUrl, { connectionParams: { token: bearer } });
    const leaving = subscribe(client, ON_TOPIC, { name: 'live' });
    const staying = subscribe(client, ON_TOPIC, { name: 'live' });
    await waitForSubscribers(herald.app, audience, 'live', 2);
    await publish(publisher, 'live', 1);
    expect((await leaving.next()).data!.topic.payload).toBe(1);
    leaving.dispose();
    await waitForSubscribers(herald.app, audience, 'live', 1);
    await publish(publisher, 'live', 2);
    expect((await staying.next()).data!.topic.payload).toBe(1);
    expect((await staying.next()).data!.topic.payload).toBe(2);
    expect(leaving.received).toHaveLength(1);
    await client.dispose();
  });

  it('closes a client that stops reading with 4008 (retried by stock clients) once its send buffer passes MAX_BUFFERED_BYTES, and keeps serving the others', async () => {
    const audience = 'groups-slow';
    const bearer = await token({ audience, scopes: ['subscribe'] });
    const publisher = await publisherOf(audience);

    // A raw graphql-transport-ws client whose TCP socket stops reading once subscribed.
    const slow = new WebSocket(herald.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => slow.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => slow.on('open', () => resolve()));
    slow.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    await new Promise<void>((resolve) => slow.once('message', () => resolve()));
    slow.send(JSON.stringify({ id: 's', type: 'subscribe', payload: { query: ON_TOPIC, variables: { name: 'firehose' } } }));

    const healthy = wsClient(herald.wsUrl, { connectionParams: { token: bearer } });
    const reader = subscribe(healthy, ON_TOPIC, { name: 'firehose' });
    await waitForSubscribers(herald.app, audience, 'firehose', 2);
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();

    const before = herald.app.sendBufferLimit.closes;
    const big = 'x'.repeat(32 * 1024);
    let sent = 0;
    // Far more than the 64 KiB limit plus what the kernel's socket buffers absorb; stops as soon as the server gives up on it.
    while (herald.app.sendBufferLimit.closes === before && sent < 2000) {
      await publish(publisher, 'firehose', { n: sent++, big });
    }
    expect(herald.app.sendBufferLimit.closes).toBe(before + 1);
    await waitForSubscribers(herald.app, audience, 'firehose', 1);

    for (let i = 0; i < sent; i++) expect((await reader.next()).data!.topic.payload.n).toBe(i);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(SLOW_CONSUMER_CLOSE_CODE);
    await healthy.dispose();
  });
});
