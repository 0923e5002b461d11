import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'herald/client';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';
import { until } from './helpers/until.js';

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const TOPIC = 'subscription($name: String!, $after: ID) { topic(name: $name, after: $after) { id payload } }';

describe('resume with after', () => {
  let herald: TestHerald;
  let publisher: string;
  let reader: string;
  beforeAll(async () => {
    herald = await startHerald();
    publisher = await token({ audience: 'resume', scopes: ['publish', 'subscribe'] });
    reader = await token({ audience: 'resume', scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  const publish = async (topic: string, payload: unknown): Promise<string> => {
    const response = await gql<{ publish: { id: string } }>(herald.httpUrl, publisher, PUBLISH, { t: topic, p: payload });
    return response.data!.publish.id;
  };

  it('replays what was kept after the cursor, then goes live, with no gap and no duplicate', async () => {
    const ids = [];
    for (let n = 1; n <= 5; n++) ids.push(await publish('orders', n));
    const client = wsClient(herald.wsUrl, { connectionParams: { token: reader } });
    const sub = subscribe<{ topic: { id: string; payload: number } }>(client, TOPIC, { name: 'orders', after: ids[1] });
    await until(() => sub.received.length === 3, 'the replay');
    await waitForSubscribers(herald.app, 'resume', 'orders');
    await publish('orders', 6);
    await until(() => sub.received.length === 4, 'the live message');
    expect(sub.received.map((r) => r.data!.topic.payload)).toEqual([3, 4, 5, 6]);
    sub.dispose();
    await client.dispose();
  });

  it('members resuming from different cursors share one group once caught up', async () => {
    const ids = [];
    for (let n = 1; n <= 4; n++) ids.push(await publish('shared', n));
    const before = herald.app.groups.size;
    const client = wsClient(herald.wsUrl, { connectionParams: { token: reader } });
    const early = subscribe<{ topic: { id: string; payload: number } }>(client, TOPIC, { name: 'shared', after: ids[0] });
    const late = subscribe<{ topic: { id: string; payload: number } }>(client, TOPIC, { name: 'shared', after: ids[2] });
    await until(() => early.received.length === 3 && late.received.length === 1, 'both replays');
    await waitForSubscribers(herald.app, 'resume', 'shared', 2);
    expect(herald.app.groups.size - before).toBe(1);
    await publish('shared', 5);
    await until(() => early.received.length === 4 && late.received.length === 2, 'the live message, to both');
    expect(early.received.map((r) => r.data!.topic.payload)).toEqual([2, 3, 4, 5]);
    expect(late.received.map((r) => r.data!.topic.payload)).toEqual([4, 5]);
    early.dispose();
    late.dispose();
    await client.dispose();
  });

  it('through herald/client, resumes after the server cut the socket', async () => {
    let socket: WebSocket | undefined;
    class Tracked extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        // eslint-disable-next-line @typescript-eslint/no-this-alias -- the test cuts this very socket
        socket = this;
      }
    }
    const client = createClient({
      url: herald.wsUrl,
      webSocketImpl: Tracked,
      connectionParams: { token: reader },
      retryAttempts: 5,
      retryWait: async () => {},
      shouldRetry: () => true,
    });
    const got: number[] = [];
    const dispose = client.subscribe<{ topic: { id: string; payload: number } }>(
      { query: 'subscription { topic(name: "cuts") { id payload } }' },
      { next: (r) => got.push(r.data!.topic.payload), error: () => got.push(-1), complete: () => {} },
    );
    await waitForSubscribers(herald.app, 'resume', 'cuts');
    await publish('cuts', 1);
    await until(() => got.length === 1, 'first');
    socket!.terminate();
    await publish('cuts', 2);
    await publish('cuts', 3);
    await until(() => got.length === 3, 'replayed after reconnect');
    await publish('cuts', 4);
    await until(() => got.length === 4, 'live again');
    expect(got).toEqual([1, 2, 3, 4]);
    dispose();
    await client.dispose();
  });
});
