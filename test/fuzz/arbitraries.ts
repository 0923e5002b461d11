import fc from 'fast-check';
import { token } from '../helpers/herald.js';
import { TEST_SECRET } from '../helpers/herald.js';
import { hs256Token, nowSeconds, unsignedToken } from '../helpers/auth-fixtures.js';

/** Generated inputs shared by the fuzz files: hostile text, JSON, topics and credentials. */

/** The audience every fuzz credential belongs to. */
export const FUZZ_AUDIENCE = 'fuzz';

/** Text a client might send by mistake or on purpose: any code points, control characters, JSON-looking fragments. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\t\n',
    '\u0000',
    '\u2028',
    '\uFEFF',
    'null',
    'undefined',
    'NaN',
    '{',
    '}',
    '[',
    '{"',
    '{"a":',
    '"',
    '\\',
    '__proto__',
    'constructor',
    '%00',
    '../../etc/passwd',
    '${x}',
    '<script>',
  ),
  fc.json({ maxDepth: 2 }).map((json) => json.slice(0, Math.max(0, json.length - 1))),
);

/** Any JSON value, with the shapes that trip parsers (prototype keys, deep arrays, big numbers). */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      { __proto__: { polluted: true } },
      JSON.parse('{"__proto__":{"polluted":1}}'),
      { constructor: { prototype: 1 } },
      1e308,
      -0,
      2 ** 53 + 1,
      '',
      [],
      {},
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }).map((depth) => nestedArray(depth)) },
);

/** `[[[…]]]` nested `depth` deep. */
export function nestedArray(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** The text of a JSON object nested `depth` deep, built without recursion: `{"a":{"a":…}}`. */
export const nestedObjectText = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** The JSON text of a generated value (every generated value is a JSON value). */
export const jsonText = (value: unknown): string => JSON.stringify(value);

/** A JSON object, as courier's messages must be; a few with the keys that trip object handling. */
export const jsonObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Record<string, unknown>>(
      {},
      JSON.parse('{"__proto__":{"polluted":1}}') as Record<string, unknown>,
      { constructor: { prototype: 1 } },
      { toJSON: 1, toString: 'x', hasOwnProperty: null },
    ),
  },
);

/**
 * The JSON text of a published message: mostly an object (courier needs one), any JSON value, one
 * around MAX_PAYLOAD_BYTES (FUZZ_LIMITS), or one nested around MAX_PAYLOAD_DEPTH and far beyond
 * (text, so that nesting deeper than JSON.stringify allows can be sent).
 */
export const messageText: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: jsonObject.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: anyJson.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.integer({ min: 8 * 1024 - 16, max: 9 * 1024 }).map((size) => JSON.stringify({ pad: 'x'.repeat(size) })) },
  { weight: 1, arbitrary: fc.constantFrom(63, 64, 65, 200, 3_000).map(nestedObjectText) },
);

/** Bytes that are not UTF-8: 0xFF never occurs in UTF-8; 0xC3 alone is a sequence cut short. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.uint8Array({ maxLength: 24 }), fc.constantFrom([0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]))
  .map(([prefix, bad]) => Uint8Array.from([...prefix, ...bad]));

/** Topic names and patterns: valid, borderline (256 and 257 characters), and invalid. */
export const topicLike: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('fuzz/a', 'fuzz/b', 'orders/1', 'campaign:42', 'system/events', 'fuzz/*', '**', 'fuzz/**', '*', 'a*b') },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9:/._-]{1,24}$/) },
  { weight: 2, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(256), 'x'.repeat(257), 'a b', 'a\tb', 'é/ü', '\u00a0', '/', '//', 'a/*/b', '***') },
);

/**
 * How a request body travels (http-client.ts): with its Content-Length mostly; rarely chunked without
 * one (411 before any route reads it), or cut off halfway by a client that goes away.
 */
export const bodyFraming: fc.Arbitrary<{ readonly chunked: boolean; readonly cutOff: boolean }> = fc.oneof(
  { weight: 18, arbitrary: fc.constant({ chunked: false, cutOff: false }) },
  { weight: 1, arbitrary: fc.constant({ chunked: true, cutOff: false }) },
  { weight: 1, arbitrary: fc.constant({ chunked: false, cutOff: true }) },
);

/** Credentials of every kind a client might present, minted once per file. */
export interface TokenPool {
  /** subscribe + publish + manage, no topics limit. */
  readonly all: string;
  readonly subscribeOnly: string;
  readonly publishOnly: string;
  /** subscribe + publish, limited to fuzz/*. */
  readonly limited: string;
  /** Every kind, valid and not, for generators to pick from. */
  readonly any: readonly string[];
}

export async function mintTokenPool(): Promise<TokenPool> {
  const audience = FUZZ_AUDIENCE;
  const all = await token({ audience, scopes: ['subscribe', 'publish', 'manage'] });
  const subscribeOnly = await token({ audience, scopes: ['subscribe'] });
  const publishOnly = await token({ audience, scopes: ['publish'] });
  const limited = await token({ audience, scopes: ['subscribe', 'publish'], topics: ['fuzz/*'] });
  const noScope = await token({ audience });
  const otherAudience = await token({ audience: 'fuzz-other', scopes: ['subscribe', 'publish'] });
  const expired = await hs256Token(TEST_SECRET, { aud: audience, exp: nowSeconds() - 60, scope: 'subscribe publish' });
  const noExp = await hs256Token(TEST_SECRET, { aud: audience, scope: 'subscribe' });
  const wrongKey = await hs256Token('another-secret-that-is-long-enough-0123', { aud: audience, exp: nowSeconds() + 300 });
  const unknownScope = await hs256Token(TEST_SECRET, { aud: audience, exp: nowSeconds() + 300, scope: 'join' });
  const oddClaims = await hs256Token(TEST_SECRET, { aud: [audience, 'x'], exp: nowSeconds() + 300, scope: 42, topics: 'fuzz/a' });
  const none = unsignedToken({ aud: audience, exp: nowSeconds() + 300 });
  const garbage = ['', 'x', 'a.b.c', 'Bearer', 'null', '.', '..', 'eyJhbGciOiJIUzI1NiJ9.e30.', 'é'.repeat(40), 'x'.repeat(4_000)];
  return {
    all,
    subscribeOnly,
    publishOnly,
    limited,
    any: [all, subscribeOnly, publishOnly, limited, noScope, otherAudience, expired, noExp, wrongKey, unknownScope, oddClaims, none, ...garbage],
  };
}

/** A credential from the pool, or generated garbage. */
export const tokenFrom = (pool: TokenPool): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pool.any) }, { weight: 1, arbitrary: hostileText });
