import { describe, expect, it } from 'vitest';
import { COPY_BODY_BELOW_BYTES, writeTextFrame } from '../src/transport/text-frame.js';
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

  it('writes a short frame as one buffer and a long one as two, sharing the body without a copy', async () => {
    const { socket, raw, receive, close } = await openWebSocketPair();
    const chunks: Buffer[] = [];
    const write = raw.write.bind(raw);
    raw.write = (chunk: Buffer, ...rest: never[]) => {
      chunks.push(chunk);
      return write(chunk, ...rest);
    };

    const head = Buffer.from('{"id":"1","payload":');
    // The longest frame still copied, and one a byte past the limit.
    const short = Buffer.from(`"${'s'.repeat(COPY_BODY_BELOW_BYTES - head.length - 4)}"}`);
    const long = Buffer.from(`"${'l'.repeat(COPY_BODY_BELOW_BYTES - head.length - 3)}"}`);
    writeTextFrame(socket, head, short);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.subarray(4).toString()).toBe(`${head.toString()}${short.toString()}`);
    writeTextFrame(socket, head, long);
    expect(chunks).toHaveLength(3);
    expect(chunks[2]).toBe(long);

    expect(await receive(2)).toEqual([`${head.toString()}${short.toString()}`, `${head.toString()}${long.toString()}`]);
    await close();
  });
});
