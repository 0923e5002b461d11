/**
 * Topic patterns: `*` matches any run of characters within one `/`-separated segment,
 * `**` matches any run across segments. The same matcher decides subscriptions and the
 * token's `topics` claim.
 *
 * Matching a concrete topic uses a compiled RegExp (the hot path). Comparing two patterns
 * (does a subscription overlap a token's limit? does a requested limit lie within the caller's?)
 * runs the patterns as automata over a small symbolic alphabet, so the answer is exact rather
 * than a string heuristic.
 */

type Token = { kind: 'char'; char: string } | { kind: 'star' } | { kind: 'globstar' };

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  // eslint-disable-next-line @typescript-eslint/no-misused-spread -- automata over code points, as topic-name counts them
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char !== '*') tokens.push({ kind: 'char', char });
    else if (chars[i + 1] === '*') {
      tokens.push({ kind: 'globstar' });
      while (chars[i + 1] === '*') i++;
    } else tokens.push({ kind: 'star' });
  }
  return tokens;
}

// Outside a character class only these are special; escaping anything else (like '-') is a SyntaxError under the u flag.
const escapeRegExp = (value: string): string => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A RegExp that accepts exactly the topic names `pattern` matches. */
export function compilePattern(pattern: string): RegExp {
  const body = tokenize(pattern)
    .map((token) => (token.kind === 'char' ? escapeRegExp(token.char) : token.kind === 'star' ? '[^/]*' : '.*'))
    .join('');
  return new RegExp(`^${body}$`, 'su');
}

/** Does the concrete topic `topic` match `pattern` (which may be a plain name)? */
export function topicMatches(pattern: string, topic: string): boolean {
  return pattern.includes('*') ? compilePattern(pattern).test(topic) : pattern === topic;
}

/** A predicate over topic names for a list of names/patterns (a token's `topics` claim). */
export function compileTopicList(entries: readonly string[]): (topic: string) => boolean {
  const exact = new Set(entries.filter((entry) => !entry.includes('*')));
  const patterns = entries.filter((entry) => entry.includes('*')).map(compilePattern);
  return (topic) => exact.has(topic) || patterns.some((pattern) => pattern.test(topic));
}

/** Is there at least one topic name that `a` and `b` both match? */
export function patternsOverlap(a: string, b: string): boolean {
  // Past the exploration bound, "maybe" is the safe answer: delivery still filters every message.
  return explore([a], [b], (inA, inB) => inA && inB) ?? true;
}

/** Does every topic that `pattern` matches also match one of `limits`? */
export function patternWithin(pattern: string, limits: readonly string[]): boolean {
  const escapes = explore([pattern], limits, (inPattern, inLimits) => inPattern && !inLimits);
  // Past the exploration bound, refuse: widening a credential must be proven, not assumed.
  return escapes === undefined ? false : !escapes;
}

// --- automata -------------------------------------------------------------------------------

/** A state of a union of pattern automata: pattern index * STRIDE + tokens consumed. */
type State = number;
const STRIDE = 1 << 12; // more than any pattern's token count (names are at most 256 characters)
const MAX_EXPLORED = 20_000;
/** Stands for "any character that is neither '/' nor a literal of the patterns compared". */
const OTHER = '\u0000';

type Automaton = readonly Token[][];

const tokenAt = (automaton: Automaton, state: State): Token | undefined => automaton[Math.floor(state / STRIDE)]![state % STRIDE];

function closure(automaton: Automaton, states: Iterable<State>): Set<State> {
  const result = new Set<State>();
  const stack = [...states];
  while (stack.length > 0) {
    const state = stack.pop()!;
    if (result.has(state)) continue;
    result.add(state);
    const token = tokenAt(automaton, state);
    // A wildcard may match nothing, so its position also stands at the next token.
    if (token !== undefined && token.kind !== 'char') stack.push(state + 1);
  }
  return result;
}

function step(automaton: Automaton, states: Set<State>, char: string): Set<State> {
  const next: State[] = [];
  for (const state of states) {
    const token = tokenAt(automaton, state);
    if (token === undefined) continue;
    if (token.kind === 'char') {
      if (token.char === char) next.push(state + 1);
    } else if (token.kind === 'globstar' || char !== '/') {
      next.push(state);
    }
  }
  return closure(automaton, next);
}

function accepts(automaton: Automaton, states: Set<State>): boolean {
  for (const state of states) {
    if (state % STRIDE === automaton[Math.floor(state / STRIDE)]!.length) return true;
  }
  return false;
}

/**
 * Walks the product of two determinised union automata over every non-empty string and reports
 * whether some string reaches a pair of states where `found(acceptedByLeft, acceptedByRight)` holds.
 * Undefined when the walk grew past MAX_EXPLORED (callers then take their safe answer).
 * Both callers need the left side to accept, so a dead left side ends that branch.
 */
function explore(left: readonly string[], right: readonly string[], found: (inLeft: boolean, inRight: boolean) => boolean): boolean | undefined {
  const a: Automaton = left.map(tokenize);
  const b: Automaton = right.map(tokenize);
  const alphabet = new Set<string>(['/', OTHER]);
  for (const tokens of [...a, ...b]) {
    for (const token of tokens) if (token.kind === 'char') alphabet.add(token.char);
  }
  const key = (x: Set<State>, y: Set<State>): string => `${[...x].sort((p, q) => p - q).join(',')}|${[...y].sort((p, q) => p - q).join(',')}`;
  const queue: Array<[Set<State>, Set<State>]> = [];
  const seen = new Set<string>();
  const expand = (x: Set<State>, y: Set<State>): boolean => {
    for (const char of alphabet) {
      const nx = step(a, x, char);
      const ny = step(b, y, char);
      const k = key(nx, ny);
      if (seen.has(k)) continue;
      if (seen.size >= MAX_EXPLORED) return false;
      seen.add(k);
      queue.push([nx, ny]);
    }
    return true;
  };
  // Topic names are never empty, so the walk starts one character in.
  if (
    !expand(
      closure(
        a,
        a.map((_, i) => i * STRIDE),
      ),
      closure(
        b,
        b.map((_, i) => i * STRIDE),
      ),
    )
  )
    return undefined;
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [x, y] = next;
    if (found(accepts(a, x), accepts(b, y))) return true;
    if (x.size === 0) continue;
    if (!expand(x, y)) return undefined;
  }
  return false;
}
