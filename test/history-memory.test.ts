import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type MemoryBus } from '../src/bus/memory-bus.js';
import { HeraldError } from '../src/errors.js';
import { cursorOf } from '../src/history/cursor.js';
import type { MessageDraft } from '../src/history/history.js';

/**
 * The in-process bus's history stays bounded however many topics are published to (issue 17,
 * Retention): each stream keeps at most HISTORY_SIZE messages, and a stream idle past HISTORY_TTL
 * is dropped. Counted on the bus's own stats with a fake clock, so nothing here depends on timing.
 */
const draft = (audience: string, topic: string | null, payload: unknown = null): MessageDraft => ({
  audience,
  topic,
  payload,
  publishedAt: new Date(0).toISOString(),
  publisher: null,
});

function fakeClock(start = 1_700_000_000_000) {
  let at = start;
  return {
    now: () => at,
    advance(ms: number) {
      at += ms;
    },
  };
}

async function failureOf(promise: Promise<unknown>): Promise<HeraldError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HeraldError);
    return error as HeraldError;
  }
  throw new Error('expected the read to fail');
}

describe('in-process history memory', () => {
  let bus: MemoryBus | undefined;
  afterEach(async () => {
    await bus?.close();
    bus = undefined;
  });

  it('holds no more streams than HISTORY_TTL allows while many distinct topics are each published once, and none once all are idle', async () => {
    const ttlMs = 60_000;
    const step = 10;
    const topics = 20_000;
    const sweepEvery = 500;
    const clock = fakeClock();
    bus = createMemoryBus({ size: 100, ttlMs, now: clock.now });
    // A stream lives while now - lastPublish <= ttl: at most this many of the latest ones are live at a sweep.
    const liveAtMost = Math.floor(ttlMs / step) + 1;
    let peakStreams = 0;
    for (let n = 0; n < topics; n++) {
      await bus.publish(draft('many', `t/${n}`, n));
      clock.advance(step);
      if ((n + 1) % sweepEvery === 0) {
        bus.kept.sweep();
        const { streams, messages } = bus.kept.stats();
        expect(streams).toBeLessThanOrEqual(liveAtMost);
        // Each topic was published once: one kept message each.
        expect(messages).toBe(streams);
        peakStreams = Math.max(peakStreams, streams);
      }
    }
    // It did reach the bound the TTL sets (the test can fail): each sweep comes one step after the last publish.
    expect(peakStreams).toBe(ttlMs / step);
    expect(topics).toBeGreaterThan(liveAtMost * 3);
    // The newest stream idle for exactly the TTL is still kept; one moment later, nothing is.
    clock.advance(ttlMs - step);
    bus.kept.sweep();
    expect(bus.kept.stats()).toEqual({ streams: 1, messages: 1 });
    clock.advance(1);
    bus.kept.sweep();
    expect(bus.kept.stats()).toEqual({ streams: 0, messages: 0 });
  });

  it('hands a kept message back with the payload that was published, also once spread or serialised', async () => {
    bus = createMemoryBus({ size: 10, ttlMs: 60_000 });
    const payload = { order: 7, lines: [{ sku: 'a', qty: 2 }], note: null };
    const published = await bus.publish({ ...draft('acme', 'orders', payload), payloadJson: JSON.stringify(payload) });
    const [kept] = await bus.history({ audience: 'acme', topic: 'orders' }, undefined, 10);
    expect(kept?.id).toBe(published.id);
    expect(kept?.payload).toEqual(payload);
    expect(kept?.payload).toBe(kept?.payload); // parsed once
    expect({ ...kept }.payload).toEqual(payload);
    expect(JSON.parse(JSON.stringify(kept))).toMatchObject({ id: published.id, topic: 'orders', payload });
  });

  it('never keeps more than HISTORY_SIZE messages per stream, topics and broadcasts alike', async () => {
    const size = 7;
    const clock = fakeClock();
    bus = createMemoryBus({ size, ttlMs: 60_000, now: clock.now });
    const ids: string[] = [];
    for (let n = 1; n <= 100; n++) {
      ids.push((await bus.publish(draft('sized', 'one', n))).id);
      await bus.publish(draft('sized', null, n));
      const { streams, messages } = bus.kept.stats();
      expect(streams).toBe(2);
      expect(messages).toBe(2 * Math.min(n, size));
    }
    const kept = await bus.history({ audience: 'sized', topic: 'one' }, undefined, 1000);
    expect(kept.map((m) => m.payload)).toEqual([94, 95, 96, 97, 98, 99, 100]);
    expect(kept.map((m) => m.id)).toEqual(ids.slice(-size));
    const broadcasts = await bus.history(
      { audience: 'sized', topic: null },
      cursorOf((await bus.history({ audience: 'sized', topic: null }, undefined, 1))[0]!.id),
      1000,
    );
    expect(broadcasts).toEqual([]);
    // The oldest covered cursor still reads; one older has lost a message.
    expect((await bus.history({ audience: 'sized', topic: 'one' }, cursorOf(ids[92]!), 1000)).map((m) => m.payload)).toEqual([94, 95, 96, 97, 98, 99, 100]);
    expect((await failureOf(bus.history({ audience: 'sized', topic: 'one' }, cursorOf(ids[91]!), 1000))).code).toBe('CURSOR_EXPIRED');
  });

  it('keeps nothing with HISTORY_SIZE=0, yet stamps ids that sort', async () => {
    const clock = fakeClock();
    bus = createMemoryBus({ size: 0, ttlMs: 60_000, now: clock.now });
    const ids: string[] = [];
    for (let n = 0; n < 50; n++) ids.push((await bus.publish(draft('off', 'x', n))).id);
    expect([...ids].sort()).toEqual(ids);
    expect(bus.kept.stats().messages).toBe(0);
    expect((await failureOf(bus.history({ audience: 'off', topic: 'x' }, cursorOf(ids[10]!), 10))).code).toBe('CURSOR_EXPIRED');
  });

  it("starts a new epoch when an expired stream is published to again; the old epoch's cursor is CURSOR_EXPIRED", async () => {
    const ttlMs = 5_000;
    const clock = fakeClock();
    bus = createMemoryBus({ size: 100, ttlMs, now: clock.now });
    const stream = { audience: 'epochs', topic: 'x' };
    const old = [];
    for (let n = 1; n <= 3; n++) old.push((await bus.publish(draft('epochs', 'x', n))).id);
    // Exactly at the TTL it is still kept (a stream expires only once idle for longer).
    clock.advance(ttlMs);
    expect((await bus.history(stream, cursorOf(old[0]!), 10)).map((m) => m.payload)).toEqual([2, 3]);
    clock.advance(1);
    // Expired but not yet swept: the read already treats it as gone.
    expect((await failureOf(bus.history(stream, cursorOf(old[0]!), 10))).code).toBe('CURSOR_EXPIRED');
    expect(await bus.history(stream, undefined, 10)).toEqual([]);

    const fresh = [];
    for (let n = 1; n <= 5; n++) fresh.push((await bus.publish(draft('epochs', 'x', 10 + n))).id);
    expect(fresh[0]!.slice(0, 18)).not.toBe(old[0]!.slice(0, 18));
    expect(fresh[0]!.endsWith('-000000000001')).toBe(true);
    // The old cursor's offset (1) is below the new stream's newest (5): the epoch, not the offset, must decide.
    const refused = await failureOf(bus.history(stream, cursorOf(old[0]!), 10));
    expect(refused.code).toBe('CURSOR_EXPIRED');
    expect(refused.message).toMatch(/subscribe without after/);
    expect(refused.message).not.toContain(fresh[0]!.slice(0, 18));
    // The new epoch's ids sort after the old one's, so a client comparing ids as strings never goes backwards.
    expect([...old, ...fresh].sort()).toEqual([...old, ...fresh]);
    expect(bus.kept.stats()).toEqual({ streams: 1, messages: 5 });
  });

  it('bounds audiences as it bounds topics: an audience whose streams all expired holds nothing', async () => {
    const ttlMs = 1_000;
    const clock = fakeClock();
    bus = createMemoryBus({ size: 10, ttlMs, now: clock.now });
    for (let n = 0; n < 2_000; n++) {
      await bus.publish(draft(`aud-${n}`, n % 2 === 0 ? 'x' : null, n));
      clock.advance(5);
      if (n % 100 === 99) {
        bus.kept.sweep();
        expect(bus.kept.stats().streams).toBeLessThanOrEqual(ttlMs / 5 + 1);
      }
    }
    clock.advance(ttlMs + 1);
    bus.kept.sweep();
    expect(bus.kept.stats()).toEqual({ streams: 0, messages: 0 });
  });
});
