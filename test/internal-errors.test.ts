import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, startHerald, token, type TestHerald } from './helpers/herald.js';

describe('internal failures', () => {
  let herald: TestHerald;
  let admin: string;

  beforeAll(async () => {
    herald = await startHerald();
    admin = await token({ audience: 'broken', scopes: ['manage', 'publish', 'subscribe'] });
    // The database goes away under a running server.
    await herald.app.services.store.close();
  });
  afterAll(() => herald.stop());

  it('are masked: a stable code, a generic message, no internals', async () => {
    const response = await gql(herald.httpUrl, admin, '{ topics { name } }');
    expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
    expect(response.errors?.[0]?.message).toBe('Unexpected error.');
    expect(JSON.stringify(response)).not.toMatch(/sqlite|database|stack|at /i);
  });

  it('turn /ready to 503 while /health stays 200, and publishing still works', async () => {
    expect((await fetch(`${herald.baseUrl}/ready`)).status).toBe(503);
    expect((await fetch(`${herald.baseUrl}/health`)).status).toBe(200);
    const published = await gql(herald.httpUrl, admin, 'mutation { publish(topic: "still/up", payload: 1) { id } }');
    expect(published.errors).toBeUndefined();
  });
});
