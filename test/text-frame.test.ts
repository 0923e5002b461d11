import { describe, expect, it } from 'vitest';
import { writeTextFrame } from '../src/transport/text-frame.js';
import { openWebSocketPair } from './helpers/ws-pair.js';

describe('writeTextFrame', () => {
  it('writes frames a WebSocket client reads as text, at every length encoding and in order', async () => {
    const { socket, received, receive, close } = await openWebSocketPair();

    // 7-bit, 16-bit and 64-bit payload lengths, with a multi-byte head, interleaved with ws's own sends.
    const sizes = [0, 10, 125 - 5, 126, 1_000, 65_535 - 5, 65_536, 200_000];
    const expected: string[] = [];
    for (const size of sizes) {
      const head = Buffer.from('héad');
      const body = Buffer.from('x'.repeat(size));
      writeTextFrame(socket, head, body);
      expected.push(`héad${'x'.repeat(size)}`);
      socket.send(`ws-${size}`);
      expected.push(`ws-${size}`);
    }
    expect(await receive(expected.length)).toEqual(expected);
    expect(received.every((m) => !m.binary)).toBe(true);
    await close();
  });

  it('writes the header and head as one buffer and shares the body without a copy, short or long', async () => {
    const { socket, raw, receive, close } = await openWebSocketPair();
    const chunks: Buffer[] = [];
    const write = raw.write.bind(raw);
    raw.write = (chunk: Buffer, ...rest: never[]) => {
      chunks.push(chunk);
      return write(chunk, ...rest);
    };

    const head = Buffer.from('{"id":"1","payload":');
    const short = Buffer.from('"s"}');
    const long = Buffer.from(`"${'l'.repeat(70_000)}"}`);
    writeTextFrame(socket, head, short);
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.subarray(2).toString()).toBe(head.toString());
    expect(chunks[1]).toBe(short);
    writeTextFrame(socket, head, long);
    expect(chunks).toHaveLength(4);
    expect(chunks[2]!.subarray(10).toString()).toBe(head.toString());
    expect(chunks[3]).toBe(long);

    expect(await receive(2)).toEqual([`${head.toString()}${short.toString()}`, `${head.toString()}${long.toString()}`]);
    await close();
  });
});
