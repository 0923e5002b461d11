/** What a token lets its bearer do inside its audience (the GraphQL `Scope` enum). */
export const SCOPES = ['SUBSCRIBE', 'PUBLISH', 'MANAGE'] as const;
export type Scope = (typeof SCOPES)[number];

// notiflux calls publishing to listed topics "broadcast"; it is the same right as publish.
const WORDS: Readonly<Record<string, Scope>> = {
  subscribe: 'SUBSCRIBE',
  publish: 'PUBLISH',
  broadcast: 'PUBLISH',
  manage: 'MANAGE',
};

/** The words a `scope` claim may use, in the order messages list them. */
export const SCOPE_WORDS: readonly string[] = Object.keys(WORDS);

/**
 * Turns the words of a `scope` claim into scopes, deduplicated in canonical order; or, for the
 * first unknown word, a problem naming it (`scope "publsh" is not one of subscribe, publish, ...`).
 * A token asking for something Herald does not know is refused rather than quietly trimmed.
 * The gateway, DEFAULT_SCOPES and the token CLI all decide with this one function.
 */
export function parseScopes(words: readonly string[]): { readonly scopes: Scope[] } | { readonly problem: string } {
  const found = new Set<Scope>();
  for (const word of words) {
    if (word === '') continue;
    const scope = Object.hasOwn(WORDS, word.toLowerCase()) ? WORDS[word.toLowerCase()] : undefined;
    if (scope === undefined) return { problem: `scope "${truncate(word)}" is not one of ${SCOPE_WORDS.join(', ')}` };
    found.add(scope);
  }
  return { scopes: SCOPES.filter((scope) => found.has(scope)) };
}

// A claim is caller input: a megabyte-long word must not become a megabyte-long message.
const truncate = (value: string): string => (value.length > 64 ? `${value.slice(0, 61)}...` : value);
