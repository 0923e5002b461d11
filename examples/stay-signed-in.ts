// herald/client with short-lived tokens: the socket stays open across many expiries, because the
// client renews its token in band (renewConnection) before each one runs out.
// Run: JWT_SECRET=<the gateway's> npx tsx examples/stay-signed-in.ts [topic]
// Each token comes from HERALD_TOKEN_COMMAND (default: `npm run -s token` minting a 20-second token),
// as a browser app would fetch one from its backend. See "Renewing and revoking tokens" in the README.
import { execSync } from 'node:child_process';
import { createClient } from 'herald/client';
import WebSocket from 'ws';

const url = (process.env.HERALD_URL ?? 'http://127.0.0.1:4000/graphql').replace(/^http/, 'ws');
const command = process.env.HERALD_TOKEN_COMMAND ?? 'npm run -s token -- --aud acme --sub demo-user --scope subscribe --ttl 20s';
const topic = process.argv[2] ?? 'demo/numbers';

let tokens = 0;
const client = createClient({
  url,
  webSocketImpl: WebSocket, // in a browser, drop this: the global WebSocket is used
  token: () => {
    tokens++;
    return execSync(command, { encoding: 'utf8' }).trim();
  },
  onRenewalError: (error) => console.error('-- renewal failed:', error),
  on: {
    connected: () => console.error(`-- connected (token ${tokens})`),
    closed: (event) => console.error(`-- closed: ${(event as CloseEvent).code} ${(event as CloseEvent).reason}`),
  },
});

client.subscribe<{ topic: { id: string; payload: unknown } }>(
  { query: 'subscription($name: String!) { topic(name: $name) { id payload } }', variables: { name: topic } },
  {
    next: ({ data }) => data && console.log(`${data.topic.id} ${JSON.stringify(data.topic.payload)} (token ${tokens})`),
    error: (error) => console.error('error:', error),
    complete: () => console.error('complete'),
  },
);
// The token count goes up every ~16 s (80% of 20 s) while "connected" is printed once.
setInterval(() => console.error(`-- still on one socket, token ${tokens}`), 10_000).unref();
console.log(`subscribing to "${topic}" at ${url} (Ctrl-C to stop)`);
