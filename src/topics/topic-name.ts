import { HeraldError } from '../errors.js';

export const MAX_TOPIC_LENGTH = 256;

// Printable, no whitespace: letters, digits, punctuation and symbols of any script. `*` is the wildcard.
const NAME_CHARS = /^[\p{L}\p{N}\p{P}\p{S}\p{M}]+$/u;

/** Why `value` is not a valid topic name (or pattern, when `allowWildcards`), or undefined when it is. */
export function topicNameProblem(value: string, allowWildcards: boolean): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-misused-spread -- the limit counts code points, not UTF-16 units
  const length = [...value].length;
  if (length < 1 || length > MAX_TOPIC_LENGTH) return `must be 1 to ${MAX_TOPIC_LENGTH} characters`;
  if (!NAME_CHARS.test(value)) return 'must be printable characters without whitespace';
  if (!allowWildcards && value.includes('*')) return "must not contain '*' (wildcards are for subscriptions)";
  if (allowWildcards && /\*{3,}/.test(value)) return "wildcards are '*' (one segment) and '**' (any segments)";
  return undefined;
}

/** Throws BAD_USER_INPUT unless `name` is a valid topic name. */
export function assertTopicName(name: string, argument = 'topic'): void {
  const problem = topicNameProblem(name, false);
  if (problem !== undefined) throw new HeraldError('BAD_USER_INPUT', `${argument} "${truncate(name)}" ${problem}`);
}

/** Throws BAD_USER_INPUT unless `pattern` is a valid topic name or pattern. */
export function assertTopicPattern(pattern: string, argument = 'name'): void {
  const problem = topicNameProblem(pattern, true);
  if (problem !== undefined) throw new HeraldError('BAD_USER_INPUT', `${argument} "${truncate(pattern)}" ${problem}`);
}

export const isPattern = (value: string): boolean => value.includes('*');

const truncate = (value: string): string => (value.length > 64 ? `${value.slice(0, 61)}...` : value);
