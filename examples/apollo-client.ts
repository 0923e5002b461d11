// Apollo Client 4: queries and mutations over HTTP, subscriptions over graphql-ws, typed by codegen.
// Run: HERALD_TOKEN=<token> npx tsx examples/apollo-client.ts [topic]   (see examples/README.md)
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { OnTopicDocument } from './generated/graphql.js';

const url = process.env.HERALD_URL ?? 'http://127.0.0.1:4000/graphql';
const token = process.env.HERALD_TOKEN;
if (!token) throw new Error('set HERALD_TOKEN (`npm start` prints one; `npm run token` mints more)');
const topic = process.argv[2] ?? 'demo/hello';
const authorization = `Bearer ${token}`;

// Apollo's GraphQLWsLink looks at the global WebSocket when a connection closes, which Node 20 lacks
// (a ReferenceError when the gateway stops); Node 22 and browsers have it.
if (!('WebSocket' in globalThis)) Object.assign(globalThis, { WebSocket });

const ws = createClient({
  url: url.replace(/^http/, 'ws'),
  connectionParams: { authorization },
  webSocketImpl: WebSocket, // in a browser, drop this: the global WebSocket is used
  // 4403: token refused (graphql-ws retries a few times, then gives up); 4401: token expired.
  on: { closed: (event) => console.error('connection closed:', (event as { code?: number }).code) },
});
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: url, headers: { authorization } }),
  ),
});

client.subscribe({ query: OnTopicDocument, variables: { name: topic } }).subscribe(({ data, error }) => {
  if (error) console.error('error:', error.message);
  else if (data) console.log(`${data.topic.publishedAt} ${data.topic.topic} #${data.topic.id}`, JSON.stringify(data.topic.payload));
});
console.log(`subscribing to "${topic}" at ${url} (Ctrl-C to stop)`);
