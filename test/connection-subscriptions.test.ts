import { describe, expect, it } from 'vitest';
import { createConnectionSubscriptions } from '../src/subscribe/connection-subscriptions.js';
import { HeraldError } from '../src/errors.js';

describe("a connection's subscriptions (cap and release, every WebSocket surface)", () => {
  it('refuses one past MAX_SUBSCRIPTIONS_PER_CONNECTION with RATE_LIMITED, and never refuses a key it holds', () => {
    const open = createConnectionSubscriptions<string>(2);
    open.set('a', () => {});
    open.set('b', () => {});
    expect(() => open.assertRoom('a')).not.toThrow();
    const refusal = (() => {
      try {
        open.assertRoom('c');
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(HeraldError);
    expect(refusal).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('MAX_SUBSCRIPTIONS_PER_CONNECTION') });
    open.end('a');
    expect(() => open.assertRoom('c')).not.toThrow();
  });

  it('ends each subscription once: by key, all at once, and one that finished authorising after its connection went', () => {
    const ended: string[] = [];
    const open = createConnectionSubscriptions<string>(10);
    open.set('a', () => ended.push('a'));
    open.set('b', () => ended.push('b'));
    expect(open.end('a')).toBe(true);
    expect(open.end('a')).toBe(false);
    open.forget('b');
    open.set('c', () => ended.push('c'));
    open.endAll();
    open.endAll();
    expect(open.closed).toBe(true);
    // A subscribe whose checks were still running when the client left: released at once, not kept.
    open.set('late', () => ended.push('late'));
    expect(open.size).toBe(0);
    expect(ended).toEqual(['a', 'c', 'late']);
  });
});
