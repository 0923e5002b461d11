import { randomBytes } from 'node:crypto';

// Crockford base32: digits before letters, so ids compare as strings in the order they were made.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 32]! + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/**
 * Message ids: 10 characters of milliseconds, 6 of a per-millisecond sequence, 6 naming this
 * process. Strictly increasing within a process (even when the clock steps back), unique across
 * processes, and in time order between them.
 */
export function createMessageIdGenerator(now: () => number = Date.now): () => string {
  const instance = [...randomBytes(6)].map((byte) => ALPHABET[byte % 32]).join('');
  let lastTime = -1;
  let timePart = '';
  let sequence = 0;
  return () => {
    const time = Math.max(now(), lastTime);
    if (time === lastTime) {
      sequence++;
    } else {
      // Encoded once per millisecond, not once per id.
      sequence = 0;
      lastTime = time;
      timePart = base32(time, 10);
    }
    return `${timePart}${base32(sequence, 6)}${instance}`;
  };
}
