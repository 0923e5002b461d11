import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { writeTextFrame } from '../src/transport/text-frame.js';
import { createLoopBusyMeter, createWriteCoalescer, FLUSH_HELD_BYTES, type WriteCoalescer } from '../src/transport/write-coalescing.js';
import { openWebSocketPair } from './helpers/ws-pair.js';

/** A connected pair over loopback; `writes` counts the server socket's writes to the kernel (chunks in each). */
async function connectedPair() {
  const { socket, raw, receive, close } = await openWebSocketPair();
  const counted = raw as Socket & { _writev: (this: Socket, ...args: any[]) => unknown; _write: (this: Socket, ...args: any[]) => unknown };
  const writes: number[] = [];
  // Kept to be called with the socket as `this`, below.
  /* eslint-disable @typescript-eslint/unbound-method */
  const writev = counted._writev;
  const write = counted._write;
  /* eslint-enable @typescript-eslint/unbound-method */
  counted._writev = function (chunks: unknown[], callback: unknown) {
    writes.push(chunks.length);
    return writev.call(this, chunks, callback);
  };
  counted._write = function (chunk: unknown, encoding: unknown, callback: unknown) {
    writes.push(1);
    return write.call(this, chunk, encoding, callback);
  };
  /** A delivery as courier and notiflux write one: coalesce, then ws.send. */
  const deliver = (coalescer: WriteCoalescer, ...texts: string[]): void => {
    for (const text of texts) {
      coalescer.coalesce(raw);
      socket.send(text);
    }
  };
  return { socket, raw, writes, deliver, receive, close };
}

describe('write coalescing', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('writeTextFrame: a socket’s frames of one loop turn leave in at most two writes, in order, with ws’s own sends among them', async () => {
    const pair = await connectedPair();
    close = pair.close;
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      writeTextFrame(pair.socket, Buffer.from(`{"n":${i},"body":`), Buffer.from('"shared"}'));
      expected.push(`{"n":${i},"body":"shared"}`);
      if (i === 2) {
        pair.socket.send('ws-own'); // a pong or a `complete` goes through ws.send
        expected.push('ws-own');
      }
    }
    expect(await pair.receive(expected.length)).toEqual(expected);
    // Each frame is two chunks (header with head, and the shared body); so is ws.send (header and
    // data). Idle, the first frame goes at once and the rest together; busy, all of them together.
    expect(pair.writes.length).toBeLessThanOrEqual(2);
    expect(pair.writes.reduce((sum, chunks) => sum + chunks, 0)).toBe(12);
  });

  it('idle loop: sends a socket’s first frame of a turn at once and the rest of the turn in one write, afresh each turn', async () => {
    const pair = await connectedPair();
    close = pair.close;
    const coalescer = createWriteCoalescer(() => false);
    pair.deliver(coalescer, 'a', 'b', 'c');
    expect(pair.writes).toEqual([2]);
    await pair.receive(3);
    expect(pair.writes).toEqual([2, 4]);

    await new Promise((resolve) => setImmediate(resolve));
    pair.deliver(coalescer, 'd');
    expect(pair.writes).toEqual([2, 4, 2]);
    expect(await pair.receive(4)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('busy loop: holds every frame of the turn for one write', async () => {
    const pair = await connectedPair();
    close = pair.close;
    const coalescer = createWriteCoalescer(() => true);
    pair.deliver(coalescer, 'a', 'b', 'c');
    expect(pair.writes).toEqual([]);
    expect(await pair.receive(3)).toEqual(['a', 'b', 'c']);
    expect(pair.writes).toEqual([6]);
  });

  it('flushes a socket holding FLUSH_HELD_BYTES at once, so large payloads never pile up towards MAX_BUFFERED_BYTES', async () => {
    const pair = await connectedPair();
    close = pair.close;
    const coalescer = createWriteCoalescer(() => true);
    const large = 'x'.repeat(FLUSH_HELD_BYTES / 2 + 1);
    for (let i = 0; i < 5; i++) {
      pair.deliver(coalescer, `${i}${large}`);
      expect(pair.raw.writableLength).toBeLessThan(FLUSH_HELD_BYTES + large.length + 16);
    }
    // Two frames reach the limit: flushed before the third and the fifth, the fifth at the turn's end.
    expect(pair.writes).toEqual([4, 4]);
    expect((await pair.receive(5)).map((text) => text[0])).toEqual(['0', '1', '2', '3', '4']);
    expect(pair.writes).toEqual([4, 4, 2]);
  });

  it('calls the loop busy when it ran at least half of the last window, and idle once it waited', async () => {
    const busy = createLoopBusyMeter(50, 0.5);
    const until = performance.now() + 80;
    while (performance.now() < until); // the loop works without a break
    expect(busy()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 120)); // the loop waits
    expect(busy()).toBe(false);
  });
});
