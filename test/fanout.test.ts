import { describe, expect, it } from 'vitest';
import { createFanout } from '../src/bus/fanout.js';
import type { Message } from '../src/publish/message.js';

const message = (audience: string, topic: string | null, payload: unknown = null): Message => ({
  id: `${Math.random()}`,
  audience,
  topic,
  payload,
  publishedAt: new Date().toISOString(),
  publisher: null,
});

describe('fan-out registry', () => {
  it('reaches exact, pattern and broadcast subscribers of the message audience only', () => {
    const fanout = createFanout();
    const got: Record<string, unknown[]> = { exact: [], star: [], globstar: [], other: [], broadcasts: [], otherAudience: [] };
    const record = (key: string) => ({ deliver: (m: Message) => void got[key]!.push(m.payload) });
    fanout.add('a', { kind: 'topic', name: 'x/y' }, record('exact'));
    fanout.add('a', { kind: 'topic', name: 'x/*' }, record('star'));
    fanout.add('a', { kind: 'topic', name: '**' }, record('globstar'));
    fanout.add('a', { kind: 'topic', name: 'z/*' }, record('other'));
    fanout.add('a', { kind: 'broadcasts' }, record('broadcasts'));
    fanout.add('b', { kind: 'topic', name: 'x/y' }, record('otherAudience'));

    fanout.dispatch(message('a', 'x/y', 1));
    fanout.dispatch(message('a', null, 2));
    fanout.dispatch(message('a', 'x/y/z', 3));

    expect(got).toEqual({ exact: [1], star: [1], globstar: [1, 3], other: [], broadcasts: [2], otherAudience: [] });
    expect(fanout.subscriberCount('a', 'x/y')).toBe(3);
    expect(fanout.subscriberCount('a', null)).toBe(1);
    expect(fanout.subscriberCount('b', 'x/y')).toBe(1);
  });

  it('applies a subscriber filter and forgets removed subscribers', () => {
    const fanout = createFanout();
    const got: unknown[] = [];
    const remove = fanout.add('a', { kind: 'topic', name: '**' }, { deliver: (m) => void got.push(m.topic), accepts: (t) => t.startsWith('ok/') });
    fanout.dispatch(message('a', 'no/1'));
    fanout.dispatch(message('a', 'ok/1'));
    remove();
    remove(); // idempotent
    fanout.dispatch(message('a', 'ok/2'));
    expect(got).toEqual(['ok/1']);
    expect(fanout.size).toBe(0);
  });

  it('closes every subscriber on closeAll', () => {
    const fanout = createFanout();
    let closed = 0;
    for (const name of ['a', 'a/*', '**']) fanout.add('x', { kind: 'topic', name }, { deliver: () => {}, close: () => void closed++ });
    fanout.add('y', { kind: 'broadcasts' }, { deliver: () => {}, close: () => void closed++ });
    fanout.closeAll();
    expect(closed).toBe(4);
  });
});
