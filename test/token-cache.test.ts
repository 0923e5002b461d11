import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, startHerald, token, type TestHerald } from './helpers/herald.js';

// Verified tokens are cached (the publish path would otherwise spend its time in HMAC/signature
// checks); the cache must never outlive the token or accept what verification would refuse.
describe('verified-token cache', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('stops accepting a cached token once it expires', async () => {
    const minted = await token({ audience: 'cache', scopes: ['subscribe'], ttlSeconds: 2 });
    const exp = JSON.parse(Buffer.from(minted.split('.')[1]!, 'base64url').toString()).exp as number;
    expect((await gql(herald.httpUrl, minted, '{ viewer { audience } }')).data).toEqual({ viewer: { audience: 'cache' } });
    expect((await gql(herald.httpUrl, minted, '{ viewer { audience } }')).data).toEqual({ viewer: { audience: 'cache' } });
    // Wait for the token's own expiry (JWT_CLOCK_TOLERANCE is 0 in tests); nothing to synchronise with but the clock.
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    const after = await gql(herald.httpUrl, minted, '{ viewer { audience } }');
    expect(after.status).toBe(401);
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
  });

  it('does not let a refused token in on a second try', async () => {
    const forged = `${(await token({ audience: 'cache' })).slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) expect(errorCode(await gql(herald.httpUrl, forged, '{ viewer { audience } }'))).toBe('UNAUTHENTICATED');
  });
});
