import { HeraldError } from '../errors.js';

/**
 * Deepest nesting of arrays and objects a payload may have (`{"a":[1]}` is 2 levels). Deeper values
 * would hit JSON.stringify's (and every client's JSON.parse's) stack limit; no real event is nested
 * this deep.
 */
export const MAX_PAYLOAD_DEPTH = 64;

/** Refuses a payload nested deeper than MAX_PAYLOAD_DEPTH (BAD_USER_INPUT), walking it without recursion. */
export function assertPayloadDepth(payload: unknown): void {
  if (typeof payload !== 'object' || payload === null) return;
  const values: unknown[] = [payload];
  const depths: number[] = [1];
  while (values.length > 0) {
    const value = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > MAX_PAYLOAD_DEPTH) {
      throw new HeraldError('BAD_USER_INPUT', `payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels of arrays and objects`);
    }
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
}
