// RFC 6455 allows 123 bytes of reason in a close frame; `ws` throws on more.
const MAX_REASON_BYTES = 123;

/** `text` cut to what a WebSocket close frame can carry, on a character boundary. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let cut = '';
  for (const character of text) {
    if (Buffer.byteLength(cut + character) > MAX_REASON_BYTES - 3) break;
    cut += character;
  }
  return `${cut}...`;
}
