import { createSessions } from '../src/sessions/sessions.js';
import { describe, expect, it } from 'vitest';
import { viewerFromClaims } from '../src/auth/viewer.js';
import type { Bus } from '../src/bus/bus.js';
import { createFanout } from '../src/bus/fanout.js';
import { createMemoryBus } from '../src/bus/memory-bus.js';
import type { Store } from '../src/store/store.js';
import { createBatchedReads } from '../src/subscribe/batched-reads.js';
import { createSubscribeService } from '../src/subscribe/subscribe-service.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { StreamCounts } from '../src/metrics/stream-counts.js';
import { until } from './helpers/until.js';

/** A read the test finishes by hand, numbered in the order reads started. */
function manualReads() {
  const started: Array<{ n: number; finish: (value: string) => void; fail: (error: Error) => void }> = [];
  const read = (): Promise<string> => new Promise((resolve, reject) => started.push({ n: started.length + 1, finish: resolve, fail: reject }));
  return { started, read };
}

describe('batched history reads', () => {
  it('never answers a request with a read that started before it; one later read answers everyone who waited', async () => {
    const batched = createBatchedReads<string>();
    const { started, read } = manualReads();
    const first = batched('k', read);
    expect(started).toHaveLength(1);
    // Made while read 1 is in flight: they wait for read 2, which starts when read 1 ends.
    const waiting = Array.from({ length: 50 }, () => batched('k', read));
    expect(started).toHaveLength(1);
    started[0]!.finish('read 1');
    await expect(first).resolves.toBe('read 1');
    expect(started).toHaveLength(2);
    started[1]!.finish('read 2');
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['read 2']));
    // Nothing in flight: the next request reads at once.
    const again = batched('k', read);
    expect(started).toHaveLength(3);
    started[2]!.finish('read 3');
    await expect(again).resolves.toBe('read 3');
  });

  it('keeps keys apart and passes a failure to the batch it belongs to only', async () => {
    const batched = createBatchedReads<string>();
    const { started, read } = manualReads();
    const a = batched('a', read);
    const b = batched('b', read);
    expect(started).toHaveLength(2);
    const aLater = batched('a', read);
    started[0]!.fail(new Error('redis went away'));
    await expect(a).rejects.toThrow('redis went away');
    started[1]!.finish('b');
    await expect(b).resolves.toBe('b');
    started[2]!.finish('a again');
    await expect(aLater).resolves.toBe('a again');
  });
});

describe('head reads of anchored subscriptions', () => {
  it('a burst of 100 fresh subscriptions to one stream costs at most two head reads, and each gets that head then every later message', async () => {
    const memory = createMemoryBus();
    let heads = 0;
    // The real in-process bus, counting its head reads.
    const bus: Bus = { ...memory, head: (stream) => (heads++, memory.head(stream)) };
    const fanout = createFanout(bus, (error) => {
      throw error;
    });
    const metrics = createMetrics();
    const service = createSubscribeService({
      fanout,
      bus,
      store: {} as Store, // never asked: REQUIRE_DECLARED_TOPICS is off
      requireDeclaredTopics: false,
      sessions: createSessions(),
      maxSubscriptionsPerConnection: 10,
      maxBufferedBytes: 1 << 20,
      metrics,
      streams: new StreamCounts(metrics),
    });
    const viewer = viewerFromClaims({ sub: 'a', aud: 'burst', scope: 'subscribe' }, { defaultAudience: 'burst', defaultScopes: ['SUBSCRIBE'] }, false);
    const seen = Array.from({ length: 100 }, () => ({ anchor: '', ids: [] as string[] }));
    const stops = seen.map((own) =>
      service.open(viewer, { kind: 'topic', name: 'news' }, { deliver: (m) => void own.ids.push(m.id), anchored: (id) => (own.anchor = id) }, 'head'),
    );
    await until(() => seen.every((own) => own.anchor !== ''), 'every anchor');
    // The first read, and one for everyone who asked while it was in flight (batched-reads.ts).
    expect(heads).toBeGreaterThan(0);
    expect(heads).toBeLessThanOrEqual(2);
    expect(new Set(seen.map((own) => own.anchor)).size).toBe(1);
    const message = await bus.publish({ audience: 'burst', topic: 'news', payload: 1, publishedAt: new Date(0).toISOString(), publisher: null });
    expect(message.id.slice(0, 18)).toBe(seen[0]!.anchor.slice(0, 18));
    expect(seen.every((own) => own.ids.length === 1 && own.ids[0] === message.id)).toBe(true);
    for (const stop of stops) stop();
    await bus.close();
  });
});
