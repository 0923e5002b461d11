import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, untilReady, waitForSubscribers, type TestHerald } from './helpers/herald.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';

/**
 * GraphQL over SSE resumes as EventSource does: every event carries `id: <Message.id>`, and a
 * reconnect sending `Last-Event-ID: <id>` gets the kept messages after it, then live ones. Read off
 * the wire with fetch, so the `id:` field itself is under test (the shared SSE helper drops it).
 */
const withRedis = await redisAvailable();

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const BROADCAST = 'mutation ($payload: JSON!) { broadcast(payload: $payload) { id } }';
const TOPIC = 'subscription ($name: String!, $after: ID) { topic(name: $name, after: $after) { id payload } }';

interface WireEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: any;
}

interface WireStream {
  readonly status: number;
  next(): Promise<WireEvent | null>;
  close(): void;
}

/** POST /graphql as text/event-stream, optionally with Last-Event-ID; events keep their `id:` field. */
async function openWire(url: string, bearer: string, query: string, variables: Record<string, unknown>, lastEventId?: string): Promise<WireStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${bearer}`,
      ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;
  return {
    status: response.status,
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let id: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon === -1 ? line : line.slice(0, colon);
            const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'id') id = value;
          }
          if (data.length === 0 && event === 'message' && id === undefined) continue;
          const text = data.join('\n');
          return { event, id, data: text === '' ? '' : JSON.parse(text) };
        }
        if (done) return null;
        const chunk = await reader.read();
        if (chunk.done) done = true;
        else buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => abort.abort(),
  };
}

const buses: Array<[string, Record<string, string>]> = [['in-process bus', {}]];
if (withRedis) buses.push(['Redis bus', { REDIS_URL, REDIS_PREFIX: uniquePrefix('sse-resume') }]);

describe.each(buses)('SSE resume with Last-Event-ID, %s', (_label, env) => {
  let herald: TestHerald;
  let publisher: string;
  let reader: string;
  const audience = 'sse-resume';
  beforeAll(async () => {
    herald = await startHerald(env);
    await untilReady(herald);
    publisher = await token({ audience, scopes: ['publish'] });
    reader = await token({ audience, scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  const publish = async (topic: string, payload: unknown): Promise<string> => {
    const response = await gql<{ publish: { id: string } }>(herald.httpUrl, publisher, PUBLISH, { topic, payload });
    expect(response.errors).toBeUndefined();
    return response.data!.publish.id;
  };

  /** The next `n` next-events, as [id field, data's message id, payload]. */
  const take = async (stream: WireStream, n: number, root = 'topic') => {
    const events = [];
    for (let i = 0; i < n; i++) {
      const event = await stream.next();
      expect(event?.event).toBe('next');
      const message = event!.data.data[root] as { id?: string; payload: unknown };
      events.push({ sseId: event!.id, id: message.id, payload: message.payload });
    }
    return events;
  };

  it('stamps each event with its message id; a reconnect with Last-Event-ID replays what came after, then goes live', async () => {
    const topic = 'resume';
    const first = await openWire(herald.httpUrl, reader, TOPIC, { name: topic });
    expect(first.status).toBe(200);
    await waitForSubscribers(herald.app, audience, topic);
    const ids = [await publish(topic, 1), await publish(topic, 2)];
    const seen = await take(first, 2);
    expect(seen).toEqual([
      { sseId: ids[0], id: ids[0], payload: 1 },
      { sseId: ids[1], id: ids[1], payload: 2 },
    ]);
    first.close();
    await waitForSubscribers(herald.app, audience, topic, 0);

    // Published while nobody listens.
    ids.push(await publish(topic, 3), await publish(topic, 4));
    const second = await openWire(herald.httpUrl, reader, TOPIC, { name: topic }, seen[1]!.sseId);
    expect(second.status).toBe(200);
    expect(await take(second, 2)).toEqual([
      { sseId: ids[2], id: ids[2], payload: 3 },
      { sseId: ids[3], id: ids[3], payload: 4 },
    ]);
    await waitForSubscribers(herald.app, audience, topic);
    ids.push(await publish(topic, 5));
    expect(await take(second, 1)).toEqual([{ sseId: ids[4], id: ids[4], payload: 5 }]);
    second.close();
  });

  it('lets Last-Event-ID win over the after variable the request first carried', async () => {
    const topic = 'wins';
    const ids = [];
    for (let n = 1; n <= 4; n++) ids.push(await publish(topic, n));
    // EventSource re-sends its original URL (after = the first id) plus the newer Last-Event-ID.
    const stream = await openWire(herald.httpUrl, reader, TOPIC, { name: topic, after: ids[0] }, ids[2]);
    expect((await take(stream, 1)).map((event) => event.payload)).toEqual([4]);
    await waitForSubscribers(herald.app, audience, topic);
    await publish(topic, 5);
    expect((await take(stream, 1)).map((event) => event.payload)).toEqual([5]);
    stream.close();
  });

  it('resumes broadcasts too', async () => {
    const ids = [];
    for (let n = 1; n <= 3; n++) {
      const response = await gql<{ broadcast: { id: string } }>(herald.httpUrl, await token({ audience, scopes: ['broadcast'] }), BROADCAST, { payload: n });
      expect(response.errors).toBeUndefined();
      ids.push(response.data!.broadcast.id);
    }
    const stream = await openWire(herald.httpUrl, reader, 'subscription { broadcasts { id payload } }', {}, ids[0]);
    expect(await take(stream, 2, 'broadcasts')).toEqual([
      { sseId: ids[1], id: ids[1], payload: 2 },
      { sseId: ids[2], id: ids[2], payload: 3 },
    ]);
    stream.close();
  });

  it('sends no id lines for a selection without id', async () => {
    const topic = 'no-id';
    const stream = await openWire(herald.httpUrl, reader, 'subscription ($name: String!) { topic(name: $name) { payload } }', { name: topic });
    await waitForSubscribers(herald.app, audience, topic);
    await publish(topic, 'a');
    await publish(topic, 'b');
    expect(await take(stream, 2)).toEqual([
      { sseId: undefined, id: undefined, payload: 'a' },
      { sseId: undefined, id: undefined, payload: 'b' },
    ]);
    stream.close();
  });

  it('answers a malformed Last-Event-ID with one BAD_USER_INPUT error event, then complete', async () => {
    const stream = await openWire(herald.httpUrl, reader, TOPIC, { name: 'malformed' }, 'not-a-message-id');
    const event = await stream.next();
    expect(event?.event).toBe('next');
    expect(event!.data.errors).toHaveLength(1);
    expect(event!.data.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(event!.data.errors[0].message).toMatch(/^Last-Event-ID must be a Message.id/);
    expect(await stream.next()).toMatchObject({ event: 'complete' });
    expect(await stream.next()).toBeNull();
  });

  it('ignores Last-Event-ID on a pattern subscription: it goes on live, without replay or error', async () => {
    const old = await publish('pat/a', 'old');
    await publish('pat/b', 'missed');
    const stream = await openWire(herald.httpUrl, reader, TOPIC, { name: 'pat/*' }, old);
    expect(stream.status).toBe(200);
    await waitForSubscribers(herald.app, audience, 'pat/c');
    const live = await publish('pat/c', 'live');
    expect(await take(stream, 1)).toEqual([{ sseId: live, id: live, payload: 'live' }]);
    stream.close();
  });
});
