import { describe, expect, it } from 'vitest';
import type { Bus, Channel } from '../src/bus/bus.js';
import { createFanout } from '../src/bus/fanout.js';
import { createMemoryBus } from '../src/bus/memory-bus.js';
import type { Message } from '../src/publish/message.js';

const message = (audience: string, topic: string | null, payload: unknown = null): Message => ({
  id: `${Math.random()}`,
  audience,
  topic,
  payload,
  publishedAt: new Date().toISOString(),
  publisher: null,
});

/** A real memory bus that also records which channels are being listened to. */
function recordingBus(): Bus & { channelsOpen: () => string[]; dispatch: (message: Message) => void } {
  const bus = createMemoryBus();
  const open = new Map<string, number>();
  const name = (channel: Channel) => `${channel.kind}:${channel.audience}${channel.kind === 'topic' ? `:${channel.topic}` : ''}`;
  return {
    ...bus,
    listen(channel, listener) {
      const key = name(channel);
      open.set(key, (open.get(key) ?? 0) + 1);
      const stop = bus.listen(channel, listener);
      let stopped = false;
      return () => {
        if (stopped) return;
        stopped = true;
        open.set(key, open.get(key)! - 1);
        if (open.get(key) === 0) open.delete(key);
        stop();
      };
    },
    channelsOpen: () => [...open.entries()].map(([key, count]) => `${key}×${count}`).sort(),
    dispatch: (message) => void bus.publish(message),
  };
}

const failOnSubscriberError = (error: unknown): never => {
  throw new Error(`a subscriber threw: ${String(error)}`);
};

describe('fan-out registry', () => {
  it('isolates a subscriber that throws: the others still get the message, and the in-process publish still succeeds', async () => {
    const bus = createMemoryBus();
    const reported: unknown[] = [];
    const fanout = createFanout(bus, (error) => reported.push(error));
    const got: string[] = [];
    const failing = {
      deliver: () => {
        throw new Error('subscriber bug');
      },
    };
    fanout.add('a', { kind: 'topic', name: 'x' }, { deliver: () => void got.push('exact before') });
    fanout.add('a', { kind: 'topic', name: 'x' }, failing);
    fanout.add('a', { kind: 'topic', name: 'x' }, { deliver: () => void got.push('exact after') });
    fanout.add('a', { kind: 'topic', name: '*' }, failing);
    fanout.add('a', { kind: 'topic', name: '*' }, { deliver: () => void got.push('pattern') });
    fanout.add(
      'a',
      { kind: 'topic', name: 'x' },
      {
        deliver: () => void got.push('filtered'),
        accepts: () => {
          throw new Error('filter bug');
        },
      },
    );
    fanout.add('a', { kind: 'broadcasts' }, failing);
    fanout.add('a', { kind: 'broadcasts' }, { deliver: () => void got.push('broadcast') });

    await expect(bus.publish(message('a', 'x'))).resolves.toMatchObject({ audience: 'a', topic: 'x' });
    await expect(bus.publish(message('a', null))).resolves.toMatchObject({ audience: 'a', topic: null });

    expect(got.sort()).toEqual(['broadcast', 'exact after', 'exact before', 'pattern']);
    expect(reported.map((error) => (error as Error).message).sort()).toEqual(['filter bug', 'subscriber bug', 'subscriber bug', 'subscriber bug']);
  });

  it('reaches exact, pattern and broadcast subscribers of the message audience only', () => {
    const bus = recordingBus();
    const fanout = createFanout(bus, failOnSubscriberError);
    const got: Record<string, unknown[]> = { exact: [], star: [], globstar: [], other: [], broadcasts: [], otherAudience: [] };
    const record = (key: string) => ({ deliver: (m: Message) => void got[key]!.push(m.payload) });
    fanout.add('a', { kind: 'topic', name: 'x/y' }, record('exact'));
    fanout.add('a', { kind: 'topic', name: 'x/*' }, record('star'));
    fanout.add('a', { kind: 'topic', name: '**' }, record('globstar'));
    fanout.add('a', { kind: 'topic', name: 'z/*' }, record('other'));
    fanout.add('a', { kind: 'broadcasts' }, record('broadcasts'));
    fanout.add('b', { kind: 'topic', name: 'x/y' }, record('otherAudience'));

    bus.dispatch(message('a', 'x/y', 1));
    bus.dispatch(message('a', null, 2));
    bus.dispatch(message('a', 'x/y/z', 3));

    expect(got).toEqual({ exact: [1], star: [1], globstar: [1, 3], other: [], broadcasts: [2], otherAudience: [] });
    expect(fanout.subscriberCount('a', 'x/y')).toBe(3);
    expect(fanout.subscriberCount('a', null)).toBe(1);
    expect(fanout.subscriberCount('b', 'x/y')).toBe(1);
  });

  it('applies a subscriber filter and forgets removed subscribers', () => {
    const bus = recordingBus();
    const fanout = createFanout(bus, failOnSubscriberError);
    const got: unknown[] = [];
    const remove = fanout.add('a', { kind: 'topic', name: '**' }, { deliver: (m) => void got.push(m.topic), accepts: (t) => t.startsWith('ok/') });
    bus.dispatch(message('a', 'no/1'));
    bus.dispatch(message('a', 'ok/1'));
    remove();
    remove(); // idempotent
    bus.dispatch(message('a', 'ok/2'));
    expect(got).toEqual(['ok/1']);
    expect(fanout.size).toBe(0);
  });

  it('closes every subscriber on closeAll', () => {
    const fanout = createFanout(createMemoryBus(), failOnSubscriberError);
    let closed = 0;
    for (const name of ['a', 'a/*', '**'])
      fanout.add(
        'x',
        { kind: 'topic', name },
        {
          deliver: () => {},
          close: () => {
            closed++;
          },
        },
      );
    fanout.add(
      'y',
      { kind: 'broadcasts' },
      {
        deliver: () => {},
        close: () => {
          closed++;
        },
      },
    );
    fanout.closeAll();
    expect(closed).toBe(4);
  });

  it('listens on a bus channel once per topic, pattern audience or broadcast audience, and stops with the last subscriber', () => {
    const bus = recordingBus();
    const fanout = createFanout(bus, failOnSubscriberError);
    const subscriber = () => ({ deliver: () => {} });
    const removals = [
      fanout.add('a', { kind: 'topic', name: 'x' }, subscriber()),
      fanout.add('a', { kind: 'topic', name: 'x' }, subscriber()),
      fanout.add('a', { kind: 'topic', name: 'y/*' }, subscriber()),
      fanout.add('a', { kind: 'topic', name: '**' }, subscriber()),
      fanout.add('a', { kind: 'broadcasts' }, subscriber()),
      fanout.add('b', { kind: 'topic', name: 'x' }, subscriber()),
    ];
    expect(bus.channelsOpen()).toEqual(['broadcasts:a×1', 'patterns:a×1', 'topic:a:x×1', 'topic:b:x×1']);
    removals[0]!();
    removals[2]!();
    expect(bus.channelsOpen()).toEqual(['broadcasts:a×1', 'patterns:a×1', 'topic:a:x×1', 'topic:b:x×1']);
    removals[1]!();
    removals[3]!();
    removals[4]!();
    expect(bus.channelsOpen()).toEqual(['topic:b:x×1']);
    removals[5]!();
    expect(bus.channelsOpen()).toEqual([]);
    // Listening again after everything left works as the first time.
    const got: unknown[] = [];
    fanout.add('a', { kind: 'topic', name: 'x' }, { deliver: (m) => void got.push(m.payload) });
    bus.dispatch(message('a', 'x', 'again'));
    expect(got).toEqual(['again']);
  });
});
