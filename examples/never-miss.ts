// herald/client: a subscriber that never misses a message. It prints each message and checks that
// numbered payloads arrive in order, each once, across socket drops and gateway restarts.
// Run: HERALD_TOKEN=<token> npx tsx examples/never-miss.ts [topic]   (see "Never miss a message" in the README)
import { createClient } from 'herald/client';
import WebSocket from 'ws';

const url = (process.env.HERALD_URL ?? 'http://127.0.0.1:4000/graphql').replace(/^http/, 'ws');
const token = process.env.HERALD_TOKEN;
if (!token) throw new Error('set HERALD_TOKEN (`npm start` prints one; `npm run token` mints more)');
const topic = process.argv[2] ?? 'demo/numbers';

const client = createClient({
  url,
  connectionParams: { authorization: `Bearer ${token}` },
  webSocketImpl: WebSocket, // in a browser, drop this: the global WebSocket is used
  // Keep trying while a gateway restarts; each retry resumes after the last message received.
  retryAttempts: Infinity,
  shouldRetry: () => true,
  on: { closed: () => console.error('-- disconnected; retrying') },
  // Only when the gap cannot be filled (history trimmed or lost): re-read your state here.
  onCursorExpired: ({ errors }) => console.error('-- gap cannot be filled:', errors[0]?.message),
});

let last: number | undefined;
client.subscribe<{ topic: { id: string; payload: unknown } }>(
  { query: 'subscription($name: String!) { topic(name: $name) { id payload } }', variables: { name: topic } },
  {
    next: ({ data }) => {
      if (!data) return;
      const { id, payload } = data.topic;
      const verdict = typeof payload !== 'number' || last === undefined || payload === last + 1 ? '' : `  <-- expected ${last + 1}`;
      if (typeof payload === 'number') last = payload;
      console.log(`${id} ${JSON.stringify(payload)}${verdict}`);
    },
    error: (error) => console.error('error:', error),
    complete: () => console.error('complete'),
  },
);
console.log(`subscribing to "${topic}" at ${url} (Ctrl-C to stop)`);
