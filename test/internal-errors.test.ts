import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { errorCode, gql, startHerald, TEST_SECRET, token, type TestHerald } from './helpers/herald.js';

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

describe('log levels: client mistakes are not logged as errors, internal failures are', () => {
  const lines: Array<{ level: number; msg?: string }> = [];
  let app: App;
  let url: string;
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as { level: number });
        done();
      },
    });
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: '0', DATABASE_URL: ':memory:', LOG_LEVEL: 'debug', JWT_CLOCK_TOLERANCE: '0' });
    app = await createApp(config, { logger: pino({ level: 'debug' }, stream) });
    url = `${await app.start()}/graphql`;
  });
  afterAll(() => app.stop());

  const ERROR_LEVEL = 50;
  const errorsLogged = () => lines.filter((line) => line.level >= ERROR_LEVEL);
  const post = (body: string, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body });

  it('depth limit, variable types, bad tokens, malformed bodies, nesting, SSE-less subscriptions, URL tokens: 4xx, nothing at error level', async () => {
    const bearer = await token({ audience: 'logs', scopes: ['publish', 'manage'] });
    const auth = { authorization: `Bearer ${bearer}` };
    const deep = `{ ${'audience { topics { '.repeat(6)}name${' } }'.repeat(6)} }`;
    const publish = 'mutation ($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
    const mistakes: Array<[string, () => Promise<Response>]> = [
      ['depth limit', () => post(JSON.stringify({ query: deep }), auth)],
      ['variable type', () => post(JSON.stringify({ query: publish, variables: { t: 42, p: 1 } }), auth)],
      ['variable type, fast lane', () => post(JSON.stringify({ query: publish, variables: { t: 42, p: 1 } }), auth)],
      ['bad token', () => post(JSON.stringify({ query: '{ viewer { audience } }' }), { authorization: 'Bearer nope' })],
      ['expired-looking garbage token', () => post(JSON.stringify({ query: '{ viewer { audience } }' }), { authorization: 'Bearer a.b.c' })],
      ['malformed body', () => post('{"query": ', auth)],
      ['null body', () => post('null', auth)],
      ['GET with malformed variables', () => fetch(`${url}?query=${encodeURIComponent('{ viewer { audience } }')}&variables=%7B`, { headers: auth })],
      ['payload nested too deep', () => post(`{"query":${JSON.stringify(publish)},"variables":{"t":"x","p":${'['.repeat(5000)}${']'.repeat(5000)}}}`, auth)],
      ['subscription without SSE', () => post(JSON.stringify({ query: 'subscription { broadcasts { id } }' }), auth)],
      [
        'token in the URL',
        () => fetch(`${url}?token=${bearer}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ viewer { audience } }"}' }),
      ],
    ];
    for (const [what, send] of mistakes) {
      const response = await send();
      expect(response.status, what).toBeGreaterThanOrEqual(400);
      expect(response.status, what).toBeLessThan(500);
      await response.text();
      expect(errorsLogged(), what).toEqual([]);
    }
  });

  it('an internal failure is logged at error level', async () => {
    const bearer = await token({ audience: 'logs', scopes: ['manage'] });
    await app.services.store.close();
    const response = await post(JSON.stringify({ query: '{ topics { name } }' }), { authorization: `Bearer ${bearer}` });
    expect(response.status).toBe(500);
    expect(errorsLogged().map((line) => line.msg)).toContain('internal error');
  });
});
