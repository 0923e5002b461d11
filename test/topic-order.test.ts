import { describe, expect, it } from 'vitest';
import { cursorOf, messageId, newEpoch, type Cursor } from '../src/history/cursor.js';
import type { Message } from '../src/publish/message.js';
import { createTopicOrder } from '../src/bus/topic-order.js';
import { until } from './helpers/until.js';

/**
 * A pattern channel's messages back in each topic's order (topic-order.ts): on a Redis Cluster two
 * instances publishing to one topic can land on the audience's pattern channel swapped, and one
 * whose SPUBLISH failed never lands.
 */

const epoch = newEpoch();
const at = (topic: string, offset: number): Message => ({
  id: messageId(epoch, offset),
  audience: 'a',
  topic,
  payload: offset,
  publishedAt: new Date().toISOString(),
  publisher: null,
});

function harness(history: Message[] = [], options: { failHistory?: boolean; maxTopics?: number } = {}) {
  const delivered: string[] = [];
  const reads: Array<{ topic: string; after: Cursor }> = [];
  const unfilled: string[] = [];
  const accept = createTopicOrder({
    deliver: (message) => void delivered.push(`${message.topic}:${cursorOf(message.id).offset}`),
    missing: async (topic, after) => {
      reads.push({ topic, after });
      if (options.failHistory === true) throw new Error('redis is away');
      return history.filter((message) => message.topic === topic && cursorOf(message.id).offset > after.offset);
    },
    unfilled: (topic) => void unfilled.push(topic),
    maxTopics: options.maxTopics,
  });
  return { accept, delivered, reads, unfilled };
}

describe('topic order on a pattern channel', () => {
  it('passes each topic’s next offset straight through, topics independent', () => {
    const { accept, delivered, reads } = harness();
    for (const message of [at('x', 1), at('y', 7), at('x', 2), at('y', 8), at('x', 3)]) accept(message);
    expect(delivered).toEqual(['x:1', 'y:7', 'x:2', 'y:8', 'x:3']);
    expect(reads).toEqual([]);
  });

  it('puts a swap back in order without reading history, and drops a message already passed', () => {
    const { accept, delivered, reads } = harness();
    accept(at('x', 1));
    accept(at('x', 3));
    expect(delivered).toEqual(['x:1']);
    accept(at('x', 2));
    accept(at('x', 2));
    accept(at('x', 1));
    expect(delivered).toEqual(['x:1', 'x:2', 'x:3']);
    expect(reads).toEqual([]);
  });

  it('reads a gap that does not close from history, then delivers what waited behind it, in order', async () => {
    const history = [1, 2, 3, 4, 5].map((offset) => at('x', offset));
    const { accept, delivered, reads } = harness(history);
    accept(at('x', 1));
    accept(at('x', 4));
    accept(at('x', 5));
    await until(() => delivered.length === 5, 'the gap filled');
    expect(delivered).toEqual(['x:1', 'x:2', 'x:3', 'x:4', 'x:5']);
    expect(reads).toEqual([{ topic: 'x', after: cursorOf(messageId(epoch, 1)) }]);
  });

  it('gives a gap up when history cannot give it, says so, and goes on in order', async () => {
    const { accept, delivered, unfilled } = harness([], { failHistory: true });
    accept(at('x', 1));
    accept(at('x', 5));
    accept(at('x', 4));
    await until(() => delivered.length === 3, 'the held ones delivered');
    expect(delivered).toEqual(['x:1', 'x:4', 'x:5']);
    expect(unfilled).toEqual(['x']);
    accept(at('x', 6));
    expect(delivered.at(-1)).toBe('x:6');
  });

  it('delivers late, not never, a message older than the first one seen of its topic', () => {
    const { accept, delivered } = harness();
    accept(at('x', 5));
    accept(at('x', 4));
    accept(at('x', 4));
    accept(at('x', 6));
    expect(delivered).toEqual(['x:5', 'x:4', 'x:6']);
  });

  it('takes a new epoch as it comes (the stream was made anew)', () => {
    const { accept, delivered } = harness();
    accept(at('x', 9));
    const fresh: Message = { ...at('x', 1), id: messageId(newEpoch(Date.now() + 1_000), 1) };
    accept(fresh);
    expect(delivered).toEqual(['x:9', 'x:1']);
  });

  it('remembers a bounded number of topics: a forgotten one starts over', () => {
    const { accept, delivered } = harness([], { maxTopics: 2 });
    accept(at('x', 1));
    accept(at('y', 1));
    accept(at('z', 1));
    // x was forgotten: its offset 3 is taken as a first sight, not as a gap after 1.
    accept(at('x', 3));
    expect(delivered).toEqual(['x:1', 'y:1', 'z:1', 'x:3']);
  });
});
