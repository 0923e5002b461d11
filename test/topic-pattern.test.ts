import { describe, expect, it } from 'vitest';
import { topicNameProblem } from '../src/topics/topic-name.js';
import { compileTopicList, patternsOverlap, patternWithin, topicMatches } from '../src/topics/topic-pattern.js';

describe('topic names', () => {
  it.each(['a', 'system/events', 'campaign:42', 'ünïcødé/話題', 'x'.repeat(256)])('accepts %s', (name) => {
    expect(topicNameProblem(name, false)).toBeUndefined();
  });
  it.each(['', 'a b', 'tab\there', 'new\nline', 'x'.repeat(257), 'a*', '\u0001'])('refuses %j', (name) => {
    expect(topicNameProblem(name, false)).toBeTypeOf('string');
  });
  it('allows * and ** only in patterns', () => {
    expect(topicNameProblem('a/*/b/**', true)).toBeUndefined();
    expect(topicNameProblem('a/***', true)).toBeTypeOf('string');
  });
});

describe('topic patterns', () => {
  it.each([
    ['campaign:*', 'campaign:42', true],
    ['system/*', 'system/events', true],
    ['system/*', 'system/a/b', false],
    ['system/**', 'system/a/b', true],
    ['**', 'anything/at/all', true],
    ['a/*/c', 'a/b/c', true],
    ['a/*/c', 'a/b/d', false],
    ['orders', 'orders', true],
    ['orders', 'orders2', false],
    ['a.b', 'axb', false], // regex metacharacters are literal
    ['user-events/*', 'user-events/a-1', true], // '-' is not special outside a class (and must not be escaped under /u)
    ['(x)|[y]\\z/*', '(x)|[y]\\z/1', true],
  ])('%s matches %s: %s', (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
    expect(compileTopicList([pattern])(topic)).toBe(expected);
  });

  it.each([
    ['**', '**', true],
    ['campaign:*', 'campaign:42', true],
    ['system/*', 'a/*', false],
    ['a/*/c', 'a/b/*', true],
    ['system/*', 'system/a/b', false],
    ['system/**', 'system/a/b', true],
    ['*', 'a/b', false],
    ['x*y', '*z', false],
  ])('overlap of %s and %s: %s', (a, b, expected) => {
    expect(patternsOverlap(a, b)).toBe(expected);
    expect(patternsOverlap(b, a)).toBe(expected);
  });

  it.each([
    ['a/b', ['a/*'], true],
    ['a/*', ['a/**'], true],
    ['a/**', ['a/*'], false],
    ['**', ['a/*'], false],
    ['x*', ['x', 'xa*'], false], // "xb" escapes both
    ['a/*', ['a/b', 'a/*'], true],
    ['orders/1', ['orders/1'], true],
  ] as const)('%s within %j: %s', (pattern, limits, expected) => {
    expect(patternWithin(pattern, limits)).toBe(expected);
  });
});
