import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOW_CONSUMER_CLOSE_CODE } from '../src/transport/send-buffer-limit.js';
import { gql, startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';

/**
 * The slow-consumer close must be one that graphql-ws's own client retries: a stock Apollo or urql
 * client (both run on it) that fell behind then reconnects and re-subscribes by itself.
 */
describe('slow consumer over graphql-ws, with the stock client', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald({ MAX_BUFFERED_BYTES: '65536' });
  });
  afterAll(() => herald.stop());

  it(`closes a reader that stopped reading with ${SLOW_CONSUMER_CLOSE_CODE}, and the stock client comes back and re-subscribes`, async () => {
    const audience = 'slow-retry';
    const publisher = await token({ audience, scopes: ['publish'] });
    const sockets: WebSocket[] = [];
    const closes: number[] = [];
    let connections = 0;
    const client = createClient({
      url: herald.wsUrl,
      connectionParams: { token: await token({ audience, scopes: ['subscribe'] }) },
      webSocketImpl: class extends WebSocket {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          sockets.push(this);
        }
      },
      retryAttempts: 3,
      retryWait: async () => {},
      on: {
        connected: () => {
          connections++;
        },
        closed: (event) => void closes.push((event as { code: number }).code),
      },
    });
    const sub = subscribe(client, ON_TOPIC, { name: 'firehose' });
    await waitForSubscribers(herald.app, audience, 'firehose');

    // The client stops reading: the server's send buffer for it grows until it passes the limit.
    sockets[0]!.pause();
    const payload = 'x'.repeat(16_384);
    for (let published = 0; herald.app.fanout.subscriberCount(audience, 'firehose') > 0; published++) {
      if (published === 5_000) throw new Error('the slow reader was never closed');
      expect((await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'firehose', payload })).errors).toBeUndefined();
    }
    sockets[0]!.resume();

    // It reads the close, and the stock retry reconnects and re-subscribes with the same operation
    // (a client that treats the code as fatal ends the subscription with the close instead).
    const gaveUp = sub.ended.then(({ error }) => {
      throw new Error(`the client gave up after close ${(error as { code?: number }).code}`);
    });
    await Promise.race([waitForSubscribers(herald.app, audience, 'firehose'), gaveUp]);
    gaveUp.catch(() => {}); // dispose() below ends the subscription too
    expect(closes).toEqual([SLOW_CONSUMER_CLOSE_CODE]);
    expect(connections).toBe(2);
    await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'firehose', payload: 'after' });
    for (;;) {
      const result = await sub.next();
      if (result.data?.topic.payload === 'after') break;
    }
    await client.dispose();
  });
});
