// urql: queries and mutations over HTTP (fetchExchange), subscriptions over graphql-ws, typed by codegen.
// Run: HERALD_TOKEN=<token> npx tsx examples/urql.ts [topic]   (see examples/README.md)
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { OnTopicDocument } from './generated/graphql.js';

const url = process.env.HERALD_URL ?? 'http://127.0.0.1:4000/graphql';
const token = process.env.HERALD_TOKEN;
if (!token) throw new Error('set HERALD_TOKEN (`npm start` prints one; `npm run token` mints more)');
const topic = process.argv[2] ?? 'demo/hello';
const authorization = `Bearer ${token}`;

const ws = createClient({
  url: url.replace(/^http/, 'ws'),
  connectionParams: { authorization },
  webSocketImpl: WebSocket, // in a browser, drop this: the global WebSocket is used
  // 4403: token refused (graphql-ws retries a few times, then gives up); 4401: token expired.
  on: { closed: (event) => console.error('connection closed:', (event as { code?: number }).code) },
});
const client = new Client({
  url,
  fetchOptions: { headers: { authorization } },
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
      }),
    }),
  ],
});

client.subscription(OnTopicDocument, { name: topic }).subscribe(({ data, error }) => {
  if (error) console.error('error:', error.message);
  else if (data) console.log(`${data.topic.publishedAt} ${data.topic.topic} #${data.topic.id}`, JSON.stringify(data.topic.payload));
});
console.log(`subscribing to "${topic}" at ${url} (Ctrl-C to stop)`);
