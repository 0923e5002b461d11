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

/**
 * Turns the words of a `scope` claim into scopes, deduplicated in canonical order.
 * Undefined when a word is unknown: a token asking for something Herald does not know is refused
 * rather than quietly trimmed.
 */
export function parseScopes(words: readonly string[]): Scope[] | undefined {
  const found = new Set<Scope>();
  for (const word of words) {
    if (word === '') continue;
    const scope = WORDS[word.toLowerCase()];
    if (scope === undefined) return undefined;
    found.add(scope);
  }
  return SCOPES.filter((scope) => found.has(scope));
}
