import { describe, expect, it } from 'vitest';
import { createPatternInterest, type PatternInterest } from '../src/bus/pattern-interest.js';
import type { BusQuestion } from '../src/bus/redis-control.js';
import { createLogger } from '../src/log.js';
import { until } from './helpers/until.js';

/**
 * Which pattern channels an instance publishes on a Redis Cluster (pattern-interest.ts), over a
 * control channel made of plain calls: every question reaches every instance, in order, and the
 * asker gets the sum of their answers, as redis-control.ts does over Redis.
 */
function deployment() {
  const members: Array<{ interest: PatternInterest; listens: Set<string> }> = [];
  let reachable = true;
  const ask = async (question: BusQuestion): Promise<number> => {
    // As over Redis, where asking waits for the asker's own control subscription: it is among those asked.
    await Promise.resolve();
    if (!reachable) throw new Error('control channel unreachable');
    let sum = 0;
    for (const member of [...members]) sum += await member.interest.answer(question);
    return sum;
  };
  return {
    start() {
      const listens = new Set<string>();
      // A long TTL: nothing here depends on announcements made again over time.
      const interest = createPatternInterest({ ask, listened: () => listens, logger: createLogger('silent'), ttlMs: 3_600_000 });
      const member = { interest, listens };
      members.push(member);
      return member;
    },
    set reachable(value: boolean) {
      reachable = value;
    },
    stop: () => members.forEach((member) => member.interest.stop()),
  };
}

describe('pattern interest', () => {
  it('publishes every pattern channel until synced, then only those some instance listens to', async () => {
    const cluster = deployment();
    cluster.reachable = false;
    const a = cluster.start();
    // Not synced (the control channel is away): it cannot know who listens, so everything is published.
    expect(a.interest.wanted('x')).toBe(true);
    cluster.reachable = true;
    await until(() => !a.interest.wanted('x'), 'A synced');

    const b = cluster.start();
    b.listens.add('x');
    await b.interest.listening('x', () => true);
    expect(a.interest.wanted('x')).toBe(true);
    expect(a.interest.wanted('y')).toBe(false);
    cluster.stop();
  });

  it('a new instance learns at its sync who listens already', async () => {
    const cluster = deployment();
    const a = cluster.start();
    a.listens.add('x');
    await a.interest.listening('x', () => true);
    const c = cluster.start();
    // Synced as soon as every instance answered, A having announced its listener before answering.
    await until(() => !c.interest.wanted('y'), 'C synced');
    expect(c.interest.wanted('x')).toBe(true);
    cluster.stop();
  });

  it('publishes everything again after its receiving side came back, until synced anew', async () => {
    const cluster = deployment();
    const a = cluster.start();
    await until(() => !a.interest.wanted('y'), 'A synced');
    cluster.reachable = false;
    a.interest.resync();
    expect(a.interest.wanted('y')).toBe(true);
    cluster.reachable = true;
    await until(() => !a.interest.wanted('y'), 'A synced again');
    cluster.stop();
  });
});
