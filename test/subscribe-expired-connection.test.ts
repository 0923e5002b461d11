import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/mint-token.js';
import { gql, startHerald, TEST_SECRET, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { subscribe } from './helpers/subscription.js';

/**
 * When a graphql-ws connection's token expires, the server closes it with 4401. A client that never
 * answers the close frame keeps its TCP connection until ws's close timeout (30 s), and frames it
 * sends meanwhile still reach the server: none of them may run on the expired credential.
 *
 * The stock clients all answer a close frame at once, so this client speaks WebSocket itself: the
 * handshake, masked text frames out, frames in, and no answer to a close.
 */

interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A graphql-transport-ws client over a raw TCP socket that ignores the server's close frame. */
async function rawGraphqlWs(wsUrl: string): Promise<{ send(message: unknown): void; nextFrame(): Promise<Frame>; destroy(): void }> {
  const url = new URL(wsUrl);
  const socket: Socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
  );
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  const frames: Frame[] = [];
  const waiting: Array<(frame: Frame) => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head}`);
      upgraded = true;
      buffer = buffer.subarray(end + 4);
    }
    for (;;) {
      if (buffer.length < 2) return;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      const frame = { opcode: buffer[0]! & 0x0f, payload: buffer.subarray(offset, offset + length) };
      buffer = buffer.subarray(offset + length);
      if (frame.opcode === 0x9 || frame.opcode === 0xa) continue; // keep-alive pings
      const waiter = waiting.shift();
      if (waiter !== undefined) waiter(frame);
      else frames.push(frame);
    }
  });
  return {
    send(message) {
      const payload = Buffer.from(JSON.stringify(message));
      const mask = randomBytes(4);
      const header =
        payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
      socket.write(Buffer.concat([header, mask, Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!))]));
    },
    nextFrame: () => {
      const frame = frames.shift();
      return frame !== undefined ? Promise.resolve(frame) : new Promise((resolve) => waiting.push(resolve));
    },
    destroy: () => socket.destroy(),
  };
}

const ON_TOPIC = 'subscription ($name: String!) { topic(name: $name) { payload } }';
const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const AUDIENCE = 'expired-connection';

describe('graphql-ws: a connection whose token expired', () => {
  let herald: TestHerald;

  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(() => herald.stop());

  it('runs nothing its client sends after the 4401 close, even if the client never answers the close', async () => {
    const listener = wsClient(herald.wsUrl, { connectionParams: { token: await token({ audience: AUDIENCE, scopes: ['subscribe'] }) } });
    const received = subscribe<{ topic: { payload: unknown } }>(listener, ON_TOPIC, { name: 'news' });
    await waitForSubscribers(herald.app, AUDIENCE, 'news');

    const { token: expiring } = await mintToken({ secret: TEST_SECRET }, { audience: AUDIENCE, scopes: ['publish', 'subscribe'], ttlSeconds: 2 });
    const raw = await rawGraphqlWs(herald.wsUrl);
    raw.send({ type: 'connection_init', payload: { token: expiring } });
    expect(JSON.parse((await raw.nextFrame()).payload.toString())).toEqual({ type: 'connection_ack' });
    const close = await raw.nextFrame();
    expect(close.opcode).toBe(0x8);
    expect({ code: close.payload.readUInt16BE(0), reason: close.payload.subarray(2).toString() }).toEqual({ code: 4401, reason: 'token expired' });

    // The socket is still open on the server's side (it waits for the close handshake): publish on the expired token.
    raw.send({ id: 'late', type: 'subscribe', payload: { query: PUBLISH, variables: { topic: 'news', payload: 'sent on an expired token' } } });
    // A sentinel published after it, with a valid token: it must be the first message the listener gets.
    const sentinel = await gql(herald.httpUrl, await token({ audience: AUDIENCE, scopes: ['publish'] }), PUBLISH, { topic: 'news', payload: 'sentinel' });
    expect(sentinel.errors).toBeUndefined();
    expect((await received.next()).data?.topic.payload).toBe('sentinel');

    raw.destroy();
    received.dispose();
    await listener.dispose();
  });
});
