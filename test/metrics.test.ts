import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courierWsUrl, openCourier } from './helpers/courier.js';
import { errorCode, gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { connectNotiflux, notifluxWsUrl } from './helpers/notiflux.js';
import { sampleValue } from './helpers/prometheus.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { openSse } from './helpers/sse.js';
import { subscribe } from './helpers/subscription.js';

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const RESUME = 'subscription ($after: ID) { topic(name: "h", after: $after) { payload } }';
const DISCONNECT = 'mutation ($subject: String!) { disconnect(subject: $subject) }';
const METRICS_TOKEN = 'metrics-test-token-0123456789abcdef';
const production = { NODE_ENV: 'production', SIGNING_SECRET: 'metrics-test-signing-secret-0123456789' };

const scrape = async (url: string, bearer?: string): Promise<Response> =>
  fetch(url, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
const scrapeText = async (herald: TestHerald): Promise<string> => {
  const response = await scrape(herald.app.metricsUrl()!);
  expect(response.status).toBe(200);
  return response.text();
};

describe('where /metrics is served', () => {
  it('in development, on the main port without a credential, with the process metrics beside Herald series', async () => {
    const herald = await startHerald();
    try {
      expect(herald.app.metricsUrl()).toBe(`${herald.baseUrl}/metrics`);
      const response = await scrape(herald.app.metricsUrl()!);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      expect(text).toMatch(/^# TYPE herald_connections gauge$/m);
      expect(text).toMatch(/^# TYPE herald_deliveries_total counter$/m);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
      expect(sampleValue(text, 'herald_bus_up')).toBe(1);
      expect((await fetch(herald.app.metricsUrl()!, { method: 'POST' })).status).toBe(405);
    } finally {
      await herald.stop();
    }
  });

  it('in production, nowhere unless METRICS_TOKEN or METRICS_PORT is set', async () => {
    const herald = await startHerald(production);
    try {
      expect(herald.app.metricsUrl()).toBeUndefined();
      expect((await scrape(`${herald.baseUrl}/metrics`)).status).toBe(404);
    } finally {
      await herald.stop();
    }
  });

  it('with METRICS_TOKEN, only to a scraper sending it as a bearer token', async () => {
    const herald = await startHerald({ ...production, METRICS_TOKEN });
    try {
      const url = herald.app.metricsUrl()!;
      expect(url).toBe(`${herald.baseUrl}/metrics`);
      const missing = await scrape(url);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(await missing.text()).not.toContain('herald_');
      expect((await scrape(url, `${METRICS_TOKEN}x`)).status).toBe(401);
      expect((await scrape(url, await token({ scopes: ['manage'] }))).status).toBe(401);
      const allowed = await scrape(url, METRICS_TOKEN);
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('herald_connections{surface="graphql-ws"} 0');
    } finally {
      await herald.stop();
    }
  });

  it('with METRICS_PORT, on its own listener and not on the main port', async () => {
    const herald = await startHerald({ ...production, METRICS_PORT: '0' });
    try {
      const url = herald.app.metricsUrl()!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(url).port).not.toBe(new URL(herald.baseUrl).port);
      expect((await scrape(url)).status).toBe(200);
      expect((await scrape(`${herald.baseUrl}/metrics`)).status).toBe(404);
      // Its listener serves /metrics and nothing else.
      expect((await scrape(url.replace(/\/metrics$/, '/graphql'))).status).toBe(404);
    } finally {
      await herald.stop();
    }
    // Stopping the gateway stops its metrics listener too.
    await expect(fetch(herald.app.metricsUrl()!)).rejects.toThrow();
  });
});

describe('what the series count', () => {
  let herald: TestHerald;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('connections and subscriptions by surface, on all four surfaces', async () => {
    const audience = 'metrics-open';
    const before = await scrapeText(herald);
    for (const surface of ['graphql-ws', 'sse', 'courier', 'notiflux']) {
      expect(sampleValue(before, 'herald_connections', { surface })).toBe(0);
      expect(sampleValue(before, 'herald_subscriptions', { surface })).toBe(0);
    }
    const subscriber = await token({ audience, scopes: ['subscribe'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${subscriber}` } });
    const first = subscribe(client, 'subscription { topic(name: "a") { id } }');
    const second = subscribe(client, 'subscription { topic(name: "b") { id } }');
    const sse = await openSse(herald.httpUrl, subscriber, 'subscription { topic(name: "c") { id } }');
    const courier = await openCourier(courierWsUrl(herald.baseUrl, subscriber));
    courier.send({ action: 'subscribe', topic: 'd' });
    const notiflux = await connectNotiflux(notifluxWsUrl(herald));
    notiflux.send(`/subscribe e ${await token({ scopes: ['subscribe'] })}`);
    await Promise.all([
      waitForSubscribers(herald.app, audience, 'a'),
      waitForSubscribers(herald.app, audience, 'b'),
      waitForSubscribers(herald.app, audience, 'c'),
      waitForSubscribers(herald.app, audience, 'd'),
      waitForSubscribers(herald.app, 'default', 'e'),
    ]);

    const open = await scrapeText(herald);
    expect(sampleValue(open, 'herald_connections', { surface: 'graphql-ws' })).toBe(1);
    expect(sampleValue(open, 'herald_subscriptions', { surface: 'graphql-ws' })).toBe(2);
    for (const surface of ['sse', 'courier', 'notiflux']) {
      expect(sampleValue(open, 'herald_connections', { surface })).toBe(1);
      expect(sampleValue(open, 'herald_subscriptions', { surface })).toBe(1);
    }

    first.dispose();
    second.dispose();
    await client.dispose();
    sse.abort.abort();
    await courier.close();
    await notiflux.close();
    await waitForSubscribers(herald.app, audience, 'c', 0);
    await waitForSubscribers(herald.app, 'default', 'e', 0);
    const closed = await scrapeText(herald);
    for (const surface of ['graphql-ws', 'sse', 'courier', 'notiflux']) {
      expect(sampleValue(closed, 'herald_connections', { surface })).toBe(0);
      expect(sampleValue(closed, 'herald_subscriptions', { surface })).toBe(0);
    }
    expect(sampleValue(closed, 'herald_connections_closed_total', { surface: 'graphql-ws', code: '1000' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(closed, 'herald_connections_closed_total', { surface: 'sse', code: 'client' })).toBe(1);
  });

  it('publishes by kind and origin, deliveries by surface (a group event to n members counts n), lag on arrival', async () => {
    const audience = 'metrics-flow';
    const publisher = await token({ audience, scopes: ['publish'] });
    const subscriber = await token({ audience, scopes: ['subscribe'] });
    const before = await scrapeText(herald);
    const clients = [0, 1, 2].map(() => wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${subscriber}` } }));
    const subscriptions = clients.map((client) => subscribe(client, 'subscription { topic(name: "orders") { payload } }'));
    await waitForSubscribers(herald.app, audience, 'orders', 3);

    for (const n of [1, 2]) expect((await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'orders', payload: n })).errors).toBeUndefined();
    const broadcast = await gql(herald.httpUrl, publisher, 'mutation { broadcast(payload: 3) { id } }');
    expect(broadcast.errors).toBeUndefined();
    for (const subscription of subscriptions) expect([(await subscription.next()).data, (await subscription.next()).data]).toHaveLength(2);

    const after = await scrapeText(herald);
    const grew = (name: string, labels: Record<string, string> = {}): number => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(grew('herald_messages_published_total', { kind: 'topic', origin: 'graphql' })).toBe(2);
    expect(grew('herald_messages_published_total', { kind: 'broadcast', origin: 'graphql' })).toBe(1);
    expect(grew('herald_deliveries_total', { surface: 'graphql-ws' })).toBe(6);
    expect(grew('herald_delivery_lag_seconds_count')).toBeGreaterThanOrEqual(2);
    for (const client of clients) await client.dispose();
  });

  it('publish errors by origin and code, refusals by surface and code, closes by close code', async () => {
    const audience = 'metrics-refusals';
    const before = await scrapeText(herald);
    const publisher = await token({ audience, scopes: ['publish'] });
    const tooLarge = await gql(herald.httpUrl, publisher, PUBLISH, { topic: 'x', payload: 'y'.repeat(70_000) });
    expect(errorCode(tooLarge)).toBe('PAYLOAD_TOO_LARGE');
    expect(errorCode(await gql(herald.httpUrl, 'not-a-token', PUBLISH, { topic: 'x', payload: 1 }))).toBe('UNAUTHENTICATED');

    const courier = await openCourier(courierWsUrl(herald.baseUrl, await token({ audience, scopes: ['subscribe'] })));
    courier.send({ action: 'publish', topic: 'x', message: {} });
    expect(await courier.next()).toMatchObject({ error: expect.anything() });
    await courier.close();

    const manager = await token({ audience, scopes: ['manage'] });
    const member = await token({ audience, subject: 'member-1', scopes: ['subscribe'] });
    const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${member}` } });
    const subscription = subscribe(client, 'subscription { topic(name: "t") { id } }');
    await waitForSubscribers(herald.app, audience, 't');
    expect((await gql<{ disconnect: number }>(herald.httpUrl, manager, DISCONNECT, { subject: 'member-1' })).data?.disconnect).toBe(1);
    await subscription.ended;
    await waitForSubscribers(herald.app, audience, 't', 0);

    const after = await scrapeText(herald);
    const grew = (name: string, labels: Record<string, string>): number => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(grew('herald_publish_errors_total', { origin: 'graphql', code: 'PAYLOAD_TOO_LARGE' })).toBe(1);
    expect(grew('herald_refused_operations_total', { surface: 'http', code: 'PAYLOAD_TOO_LARGE' })).toBe(1);
    expect(grew('herald_refused_operations_total', { surface: 'http', code: 'UNAUTHENTICATED' })).toBe(1);
    expect(grew('herald_publish_errors_total', { origin: 'courier', code: 'FORBIDDEN' })).toBe(1);
    expect(grew('herald_refused_operations_total', { surface: 'courier', code: 'FORBIDDEN' })).toBe(1);
    expect(grew('herald_connections_closed_total', { surface: 'graphql-ws', code: '4010' })).toBe(1);
    await client.dispose();
  });

  it('history replays and CURSOR_EXPIRED refusals', async () => {
    const trimmed = await startHerald({ HISTORY_SIZE: '2' });
    try {
      const audience = 'metrics-history';
      const publisher = await token({ audience, scopes: ['publish'] });
      const subscriber = await token({ audience, scopes: ['subscribe'] });
      const ids: string[] = [];
      for (const n of [1, 2, 3, 4])
        ids.push((await gql<{ publish: { id: string } }>(trimmed.httpUrl, publisher, PUBLISH, { topic: 'h', payload: n })).data!.publish.id);
      const before = await scrapeText(trimmed);

      const client = wsClient(trimmed.wsUrl, { connectionParams: { authorization: `Bearer ${subscriber}` } });
      const resumed = subscribe(client, RESUME, { after: ids[1] });
      expect([(await resumed.next()).data, (await resumed.next()).data]).toEqual([{ topic: { payload: 3 } }, { topic: { payload: 4 } }]);
      // Only two are kept: the gap after the first message cannot be filled.
      const expired = subscribe(client, RESUME, { after: ids[0] });
      const { error } = await expired.ended;
      expect((error as Array<{ extensions: { code: string } }>)[0]!.extensions.code).toBe('CURSOR_EXPIRED');

      const after = await scrapeText(trimmed);
      const grew = (name: string): number => sampleValue(after, name) - sampleValue(before, name);
      expect(grew('herald_history_replays_total')).toBe(1);
      expect(grew('herald_history_replayed_messages_total')).toBe(2);
      expect(grew('herald_cursor_expired_total')).toBe(1);
      expect(sampleValue(after, 'herald_refused_operations_total', { surface: 'graphql-ws', code: 'CURSOR_EXPIRED' })).toBe(1);
      resumed.dispose();
      await client.dispose();
    } finally {
      await trimmed.stop();
    }
  });
});

describe.runIf(await redisAvailable())('on the Redis bus', () => {
  it('bus_up and the publish round-trip histogram', async () => {
    const herald = await startHerald({ REDIS_URL, REDIS_PREFIX: uniquePrefix('metrics') });
    try {
      const audience = 'metrics-redis';
      const subscriber = await token({ audience, scopes: ['subscribe'] });
      const client = wsClient(herald.wsUrl, { connectionParams: { authorization: `Bearer ${subscriber}` } });
      const subscription = subscribe(client, 'subscription { topic(name: "r") { payload } }');
      await waitForSubscribers(herald.app, audience, 'r');
      expect((await gql(herald.httpUrl, await token({ audience, scopes: ['publish'] }), PUBLISH, { topic: 'r', payload: 1 })).errors).toBeUndefined();
      await subscription.next();
      const text = await scrapeText(herald);
      expect(sampleValue(text, 'herald_bus_up')).toBe(1);
      expect(sampleValue(text, 'herald_bus_publish_seconds_count')).toBe(1);
      expect(sampleValue(text, 'herald_delivery_lag_seconds_count')).toBe(1);
      await client.dispose();
    } finally {
      await herald.stop();
    }
  });
});
