import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id topic audience payload publishedAt publisher } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id topic publishedAt } }';

describe('graphql-ws subscriptions', () => {
  let herald: TestHerald;
  let publisher: string;
  let subscriber: string;

  beforeAll(async () => {
    herald = await startHerald();
    publisher = await token({ audience: 'acme', subject: 'backend', scopes: ['publish', 'manage'] });
    subscriber = await token({ audience: 'acme', subject: 'browser', scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  const publish = async (topic: string, payload: unknown) => {
    const response = await gql(herald.httpUrl, publisher, PUBLISH, { topic, payload });
    expect(response.errors).toBeUndefined();
    return response.data!.publish as { id: string; topic: string; publishedAt: string };
  };

  it('delivers a message published over HTTP to a topic subscriber', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${subscriber}` } });
    const sub = subscribe(client, ON_TOPIC, { name: 'orders/1' });
    await waitForSubscribers(herald.app, 'acme', 'orders/1');
    const sent = await publish('orders/1', { status: 'shipped', items: [1, 2] });
    const { data } = await sub.next();
    expect(data!.topic).toEqual({
      id: sent.id,
      topic: 'orders/1',
      audience: 'acme',
      payload: { status: 'shipped', items: [1, 2] },
      publishedAt: sent.publishedAt,
      publisher: 'backend',
    });
    expect(sent.publishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    sub.dispose();
    await client.dispose();
  });

  it('matches patterns: * within one segment, ** across segments', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const oneSegment = subscribe(client, ON_TOPIC, { name: 'system/*' });
    const anyDepth = subscribe(client, ON_TOPIC, { name: 'system/**' });
    const prefix = subscribe(client, ON_TOPIC, { name: 'campaign:*' });
    await waitForSubscribers(herald.app, 'acme', 'system/x', 2);
    await waitForSubscribers(herald.app, 'acme', 'campaign:1', 1);

    await publish('system/a/b', 1);
    await publish('campaign:42', 2);
    await publish('system/events', 3);

    expect((await anyDepth.next()).data!.topic.payload).toBe(1);
    expect((await prefix.next()).data!.topic).toMatchObject({ topic: 'campaign:42', payload: 2 });
    expect((await oneSegment.next()).data!.topic).toMatchObject({ topic: 'system/events', payload: 3 });
    expect((await anyDepth.next()).data!.topic.payload).toBe(3);
    // system/* saw only system/events, never system/a/b; campaign:* only campaign:42.
    expect(oneSegment.received).toHaveLength(1);
    expect(prefix.received).toHaveLength(1);
    await client.dispose();
  });

  it('delivers each message once to a connection with several subscriptions, in publish order', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const exact = subscribe(client, ON_TOPIC, { name: 'feed/main' });
    const pattern = subscribe(client, ON_TOPIC, { name: 'feed/*' });
    await waitForSubscribers(herald.app, 'acme', 'feed/main', 2);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await publish('feed/main', { i })).id);
    for (const sub of [exact, pattern]) {
      const got: string[] = [];
      for (let i = 0; i < 20; i++) got.push((await sub.next()).data!.topic.id);
      expect(got).toEqual(ids);
    }
    // ids sort in publish order
    expect([...ids].sort()).toEqual(ids);
    await client.dispose();
  });

  it('stops delivering after the client completes the subscription', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const stopped = subscribe(client, ON_TOPIC, { name: 'news' });
    const kept = subscribe(client, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, 'acme', 'news', 2);
    stopped.dispose();
    await waitForSubscribers(herald.app, 'acme', 'news', 1);
    await publish('news', 'after');
    expect((await kept.next()).data!.topic.payload).toBe('after');
    expect(stopped.received).toHaveLength(0);
    await client.dispose();
  });

  it('delivers broadcasts to broadcasts subscribers only', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const broadcasts = subscribe(client, 'subscription { broadcasts { id topic payload audience } }');
    const everything = subscribe(client, ON_TOPIC, { name: '**' });
    await waitForSubscribers(herald.app, 'acme', null, 1);
    await waitForSubscribers(herald.app, 'acme', 'after/broadcast', 1);
    const response = await gql(herald.httpUrl, publisher, 'mutation { broadcast(payload: {maintenance: true}) { id topic } }');
    expect(response.data!.broadcast.topic).toBeNull();
    expect((await broadcasts.next()).data!.broadcasts).toMatchObject({ topic: null, audience: 'acme', payload: { maintenance: true } });
    await publish('after/broadcast', 'x');
    // The ** subscription sees the topic message but never the broadcast.
    expect((await everything.next()).data!.topic.payload).toBe('x');
    await client.dispose();
  });

  it('runs queries and mutations over the same WebSocket', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: publisher } });
    const created = subscribe(client, 'mutation { createTopic(name: "over/ws") { name audience { name } } }');
    expect((await created.next()).data).toEqual({ createTopic: { name: 'over/ws', audience: { name: 'acme' } } });
    expect(await created.ended).toEqual({});
    const viewer = subscribe(client, '{ viewer { subject audience scopes topics } topic(name: "over/ws") { name } }');
    expect((await viewer.next()).data).toEqual({
      viewer: { subject: 'backend', audience: 'acme', scopes: ['PUBLISH', 'MANAGE'], topics: null },
      topic: { name: 'over/ws' },
    });
    await client.dispose();
  });

  it('sends errors with the same extensions as HTTP (a code, no transport hints)', async () => {
    const client = wsClient(herald.wsUrl, { connectionParams: { token: subscriber } });
    const refused = subscribe(client, PUBLISH, { topic: 'x', payload: 1 });
    const result = await refused.next();
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN' });
    const overHttp = await gql(herald.httpUrl, subscriber, PUBLISH, { topic: 'x', payload: 1 });
    expect(overHttp.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN' });
    await client.dispose();
  });
});
