import { describe, expect, it } from 'vitest';
import { HeraldError } from '../src/errors.js';
import { cursorOf, isAfter, isMessageId, messageId, newEpoch, parseCursor } from '../src/history/cursor.js';

describe('message ids as cursors', () => {
  it('sort as strings in offset order within an epoch, and newer epochs after older ones', () => {
    const epoch = newEpoch(1_000);
    const ids = [1, 2, 9, 10, 99, 100, 123_456_789].map((offset) => messageId(epoch, offset));
    expect([...ids].sort()).toEqual(ids);
    const later = messageId(newEpoch(1_001), 1);
    expect([ids.at(-1)!, later].sort()).toEqual([ids.at(-1)!, later]);
    for (const id of [...ids, later]) expect(isMessageId(id)).toBe(true);
  });

  it('are unique across streams started in the same millisecond', () => {
    const epochs = new Set(Array.from({ length: 10_000 }, () => newEpoch(5)));
    expect(epochs.size).toBe(10_000);
  });

  it('read back as the epoch and offset they were made from', () => {
    const id = messageId(newEpoch(), 42);
    const cursor = parseCursor(id);
    expect(cursor).toEqual({ epoch: id.slice(0, 18), offset: 42, id });
    expect(cursorOf(id)).toEqual(cursor);
    expect(isAfter(messageId(cursor.epoch, 43), cursor)).toBe(true);
    expect(isAfter(messageId(cursor.epoch, 42), cursor)).toBe(false);
    expect(isAfter(messageId(cursor.epoch, 7), cursor)).toBe(false);
    // Another epoch is another history: never taken for an older message of this one.
    expect(isAfter(messageId(newEpoch(), 1), cursor)).toBe(true);
  });

  it('refuse anything else as BAD_USER_INPUT, naming the argument', () => {
    const good = messageId(newEpoch(), 1);
    for (const bad of ['', 'abc', '42', `${good}0`, good.toLowerCase(), good.replace('-', '_'), `${good.slice(0, -1)}x`, '01JF3IIIIIIIIIIIII-000000000001']) {
      const error = (() => {
        try {
          parseCursor(bad, 'after');
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, bad).toBeInstanceOf(HeraldError);
      expect((error as HeraldError).code).toBe('BAD_USER_INPUT');
      expect((error as HeraldError).message).toMatch(/^after must be a Message\.id/);
    }
  });
});
