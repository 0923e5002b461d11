import { describe, expect, it } from 'vitest';
import { isoTimestamp } from '../src/publish/iso-timestamp.js';

describe('isoTimestamp', () => {
  it('gives what Date#toISOString gives, across milliseconds, second and year boundaries', () => {
    const starts = [Date.UTC(2026, 11, 3, 8, 59, 59, 990), Date.UTC(1999, 11, 31, 23, 59, 59, 0), 0, -1_500, 8.64e15 - 2_100, Date.UTC(10_000, 0, 1)];
    for (const start of starts) {
      for (let ms = start; ms < start + 2_100; ms += 7) expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
    }
    // Fractions are cut as Date cuts them; going back in time re-makes the cached second.
    for (const ms of [1_764_752_399_123.9, -0.5, 1_764_752_399_123, 5]) expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws for an invalid time, as Date does', () => {
    for (const ms of [Number.NaN, 8.64e15 + 1, -8.64e15 - 1, Infinity]) expect(() => isoTimestamp(ms)).toThrow(RangeError);
    expect(isoTimestamp(8.64e15)).toBe(new Date(8.64e15).toISOString());
  });
});
