import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHerald, token, type TestHerald } from './helpers/herald.js';

/**
 * graphql-ws close codes that the stock client must read right, through a plain `ws` socket (the
 * stock client never sends two inits or a subscribe before its ack, so it cannot show these).
 */

const ON_TOPIC = 'subscription { topic(name: "codes") { id } }';

function openSocket(url: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }>; messages: string[] }> {
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const messages: string[] = [];
  ws.on('message', (data: Buffer) => messages.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => ws.once('open', () => resolve({ ws, closed, messages })).once('error', reject));
}

describe('graphql-ws close codes', () => {
  let herald: TestHerald;
  let bearer: string;

  beforeAll(async () => {
    herald = await startHerald();
    bearer = await token({ audience: 'codes', scopes: ['subscribe'] });
  });
  afterAll(() => herald.stop());

  it('closes a second connection_init with 4429, even while the first is still being verified, and keeps nothing', async () => {
    const { ws, closed, messages } = await openSocket(herald.wsUrl);
    ws.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    expect(await closed).toEqual({ code: 4429, reason: 'Too many initialisation requests' });
    expect(messages).toEqual([]);
    expect(herald.app.fanout.size).toBe(0);
  });

  it('closes a subscribe sent before the ack with 4401, and registers nothing', async () => {
    const { ws, closed } = await openSocket(herald.wsUrl);
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: ON_TOPIC } }));
    expect(await closed).toEqual({ code: 4401, reason: 'Unauthorized' });
    expect(herald.app.fanout.size).toBe(0);
  });

  it('closes a subscribe sent while connection_init is still being verified with 4401, and registers nothing', async () => {
    const { ws, closed, messages } = await openSocket(herald.wsUrl);
    ws.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: ON_TOPIC } }));
    expect(await closed).toEqual({ code: 4401, reason: 'Unauthorized' });
    expect(messages).toEqual([]);
    expect(herald.app.fanout.size).toBe(0);
  });

  it("closes a reused operation id with 4409 and releases the connection's subscriptions", async () => {
    const { ws, closed, messages } = await openSocket(herald.wsUrl);
    ws.send(JSON.stringify({ type: 'connection_init', payload: { token: bearer } }));
    await new Promise<void>((resolve) => ws.once('message', () => resolve()));
    expect(messages).toEqual([JSON.stringify({ type: 'connection_ack' })]);
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: ON_TOPIC } }));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: ON_TOPIC } }));
    expect(await closed).toEqual({ code: 4409, reason: 'Subscriber for 1 already exists' });
    expect(herald.app.fanout.size).toBe(0);
  });
});
