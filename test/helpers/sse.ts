/**
 * A GraphQL-over-SSE client with no library in between, so tests see the wire format itself:
 * POST with `Accept: text/event-stream`, then `event:`/`data:` blocks parsed as they arrive.
 */

export interface SseEvent {
  readonly event: string;
  /** The `data:` lines joined; parsed JSON when there is any. */
  readonly data: any;
}

export interface SseStream {
  readonly status: number;
  readonly contentType: string | null;
  /** The next event (comments such as the `:` keep-alive are skipped); null once the stream has ended. */
  next(): Promise<SseEvent | null>;
  /** Every remaining event until the server ends the stream. */
  rest(): Promise<SseEvent[]>;
  readonly abort: AbortController;
}

export async function openSse(url: string, bearer: string | undefined, query: string, variables?: Record<string, unknown>): Promise<SseStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;

  const next = async (): Promise<SseEvent | null> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length === 0 && event === 'message') continue; // a comment-only block (keep-alive)
        const text = data.join('\n');
        return { event, data: text === '' ? '' : JSON.parse(text) };
      }
      if (done) return null;
      const chunk = await reader.read();
      if (chunk.done) done = true;
      else buffer += decoder.decode(chunk.value, { stream: true });
    }
  };

  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    next,
    async rest() {
      const events: SseEvent[] = [];
      for (let event = await next(); event !== null; event = await next()) events.push(event);
      return events;
    },
    abort,
  };
}
