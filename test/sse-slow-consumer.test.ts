import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { openSse } from './helpers/sse.js';

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { id payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const MAX_BUFFERED_BYTES = 65_536;

describe('GraphQL over SSE: a reader that stops reading (MAX_BUFFERED_BYTES)', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald({ MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES) });
  });
  afterAll(() => herald.stop());

  it('ends the stream with a SLOW_CONSUMER error event and releases the subscription; other subscribers keep theirs', async () => {
    const audience = 'sse-slow';
    const publisher = await token({ audience, scopes: ['publish'] });
    const subscriber = await token({ audience, scopes: ['subscribe'] });
    const slow = await openSse(herald.httpUrl, subscriber, ON_TOPIC, { name: 'firehose' });
    const reading = await openSse(herald.httpUrl, subscriber, ON_TOPIC, { name: 'firehose' });
    await waitForSubscribers(herald.app, audience, 'firehose', 2);

    // Nothing reads `slow` while this publishes; socket buffers take some, the gateway's queue the rest.
    const payload = { text: 'x'.repeat(16_384) };
    let published = 0;
    const readByOther: string[] = [];
    while (herald.app.fanout.subscriberCount(audience, 'firehose') === 2) {
      if (published === 5_000) throw new Error('the slow reader was never released');
      const response = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'firehose', payload });
      expect(response.errors).toBeUndefined();
      published++;
      const event = await reading.next();
      readByOther.push((event?.data as { data: { topic: { id: string } } }).data.topic.id);
    }
    expect(readByOther).toHaveLength(published);

    // Reading again: what was queued before the limit, then one error event with a stable code, then the end.
    const events = await slow.rest();
    const last = events.filter((event) => event.event === 'next').at(-1);
    expect(last?.data).toMatchObject({ errors: [{ extensions: { code: 'SLOW_CONSUMER' }, message: expect.stringMatching(/MAX_BUFFERED_BYTES/) }] });
    expect(events.at(-1)?.event).toBe('complete');
    expect(events.length).toBeLessThan(published + 1);

    // The other subscriber still receives.
    const after = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'firehose', payload: 'after' });
    expect(await reading.next()).toMatchObject({
      event: 'next',
      data: { data: { topic: { id: (after.data!.publish as { id: string }).id, payload: 'after' } } },
    });
    reading.abort.abort();
    await waitForSubscribers(herald.app, audience, 'firehose', 0);
  });
});
