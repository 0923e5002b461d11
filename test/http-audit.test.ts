import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, token, type TestHerald } from './helpers/herald.js';

/**
 * The GraphQL-over-HTTP working group's own audit suite (graphql-http's serverAudits) against a real
 * gateway, with the fast lane on and off. Every MUST audit passes. A SHOULD or MAY audit that does
 * not is listed here with its reason, and in README.md ("GraphQL over HTTP"); today none is.
 */
const KNOWN_SHORTFALLS: Readonly<Record<string, string>> = {};

// The audit names are known before the servers start: the list does not depend on the URL.
const AUDITS = serverAudits({ url: 'http://unused' });

describe.each(['on', 'off'])('graphql-http server audits, FAST_LANE=%s', (fastLane) => {
  let herald: TestHerald;
  let bearer: string;
  beforeAll(async () => {
    herald = await startHerald({ FAST_LANE: fastLane });
    bearer = await token({ audience: 'audit', scopes: ['subscribe', 'publish'] });
  });
  afterAll(() => herald.stop());

  const audits = () =>
    serverAudits({
      url: () => herald.httpUrl,
      // Every operation needs a token; the audits know nothing of auth.
      fetchFn: (input: RequestInfo | URL, init: RequestInit = {}) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${bearer}`);
        return fetch(input, { ...init, headers });
      },
    });

  it.each(AUDITS.map((audit) => [audit.id, audit.name] as const))('%s %s', async (id, name) => {
    const audit = audits().find((candidate) => candidate.id === id)!;
    const result = await audit.fn();
    const reason = result.status === 'ok' ? '' : `${result.reason}: ${JSON.stringify(await result.response.text())}`;
    if (name.startsWith('MUST') || KNOWN_SHORTFALLS[id] === undefined) expect(result.status, reason).toBe('ok');
    else expect(result.status, `${id} now passes: remove it from KNOWN_SHORTFALLS and the README`).not.toBe('ok');
  });
});
