/**
 * How the load client speaks to each kind of server: how a subscriber socket subscribes to a topic,
 * what a publish request looks like, and which answers mean "taken". Everything else (connecting in
 * batches, warm-up, rates, slices, stamps and latency) is the load client's and the same for all.
 *
 * Every server delivers the publish's payload JSON inside a text frame, bare (the `ws` baseline,
 * nchan) or in graphql-transport-ws's `next` envelope (Herald); the client finds the payload's
 * `"seq":…,"t":…` stamp in the raw bytes either way, so latency is measured identically.
 */
import WebSocket from 'ws';
import type { PostAnswer } from './http-publisher.js';
import type { ServerKind } from './protocol.js';

export interface Wire {
  /** Opens a socket subscribed to `topic`, resolving once it is open (and, where there is one, subscribed). */
  subscribe(topic: string, onFrame: (frame: Buffer) => void): Promise<WebSocket>;
  /** The HTTP POST that publishes `payload` on `topic`: path, extra header lines (each ending in CRLF), body. */
  publishRequest(topic: string, payload: unknown): { readonly path: string; readonly headers: string; readonly body: string };
  /** The request that publishes several messages at once, where the server has one (Herald's publishMany). */
  publishManyRequest?(items: ReadonlyArray<{ readonly topic: string; readonly payload: unknown }>): {
    readonly path: string;
    readonly headers: string;
    readonly body: string;
  };
  /** The server took the publish. */
  accepted(answer: PostAnswer): boolean;
}

/**
 * All three servers send UTF-8 JSON the client only scans for its stamp, so the client skips ws's
 * UTF-8 validation of every text frame: at max rate with 1 topic the client is the bottleneck, and a
 * per-byte cost on its side would measure frame length (graphql-transport-ws's envelope is ~90
 * bytes longer than the baselines' bare payload) rather than either server.
 */
const CLIENT_OPTIONS = { skipUTF8Validation: true } as const;

export function wireFor(kind: ServerKind, port: number, token: string): Wire {
  switch (kind) {
    case 'baseline':
      return plainWs(port);
    case 'nchan':
      // 201 Created when the channel has subscribers, 202 Accepted when it has none (publish-max).
      return channelPaths(port, (answer) => answer.status === 201 || answer.status === 202);
    case 'floor':
      return {
        ...channelPaths(port, (answer) => answer.status === 200),
        publishManyRequest: (items) => ({
          path: '/pub-many',
          headers: '',
          body: JSON.stringify(items.map(({ topic, payload }) => ({ channel: channelOf(topic), payload }))),
        }),
      };
    case 'herald':
    case 'herald-redis':
    case 'herald-cluster':
      return graphqlTransportWs(port, token);
  }
}

/** bench/servers/baseline.ts: `ws://…/?topic=<name>`, `POST /publish {topic, payload}`. */
function plainWs(port: number): Wire {
  return {
    subscribe: (topic, onFrame) => openPlain(`ws://127.0.0.1:${port}/?topic=${encodeURIComponent(topic)}`, onFrame),
    publishRequest: (topic, payload) => ({ path: '/publish', headers: '', body: JSON.stringify({ topic, payload }) }),
    accepted: (answer) => answer.status === 200,
  };
}

/**
 * bench/servers/nchan.ts and the Node floor (servers/floor.ts): a WebSocket on `/sub/<channel>`, the
 * POST body to `/pub/<channel>` is the message, delivered as it is in one text frame (no envelope,
 * no message id: nchan adds those only for the `ws+meta.nchan` subprotocol, which the client does
 * not ask for). nchan answers the publish with a few lines of channel info. The bench's topics hold
 * a slash (`bench/7`), which would have to survive nginx's URI normalisation into nchan_channel_id,
 * so the channel is the topic with `/` as `-`.
 */
function channelPaths(port: number, accepted: Wire['accepted']): Wire {
  return {
    subscribe: (topic, onFrame) => openPlain(`ws://127.0.0.1:${port}/sub/${channelOf(topic)}`, onFrame),
    publishRequest: (topic, payload) => ({ path: `/pub/${channelOf(topic)}`, headers: '', body: JSON.stringify(payload) }),
    accepted,
  };
}

const channelOf = (topic: string): string => topic.replaceAll('/', '-');

/** A socket whose every frame is a delivery: subscribed as soon as it is open. */
function openPlain(url: string, onFrame: (frame: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, CLIENT_OPTIONS);
    socket.on('open', () => resolve(socket));
    socket.on('message', (data) => onFrame(data as Buffer));
    socket.on('error', reject);
  });
}

/**
 * Herald: graphql-transport-ws by hand (connection_init, subscribe, next) so the client stays as
 * light as for the baselines; the protocol itself is proven by the test suite's real clients.
 * Publishing is the `publish` mutation over HTTP with the bench's bearer token (`publishMany` in
 * scenarios with a batch).
 */
function graphqlTransportWs(port: number, token: string): Wire {
  const headers = `Authorization: Bearer ${token}\r\n`;
  return {
    subscribe: (topic, onFrame) =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', CLIENT_OPTIONS);
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { token } })));
        socket.on('error', reject);
        socket.on('close', (code, reason) => {
          if (code !== 1005 && code !== 1006) process.stderr.write(`bench: socket closed ${code} ${reason.toString()}\n`);
        });
        let acknowledged = false;
        socket.on('message', (data) => {
          const frame = data as Buffer;
          if (!acknowledged) {
            if (!frame.includes('"connection_ack"')) return reject(new Error(`expected connection_ack, got ${frame.toString()}`));
            acknowledged = true;
            socket.send(
              JSON.stringify({
                id: '1',
                type: 'subscribe',
                payload: { query: 'subscription ($n: String!) { topic(name: $n) { payload } }', variables: { n: topic } },
              }),
            );
            resolve(socket);
            return;
          }
          onFrame(frame);
        });
      }),
    publishRequest: (topic, payload) => ({
      path: '/graphql',
      headers,
      body: JSON.stringify({ query: 'mutation ($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }', variables: { t: topic, p: payload } }),
    }),
    publishManyRequest: (items) => ({
      path: '/graphql',
      headers,
      body: JSON.stringify({ query: 'mutation ($m: [PublishInput!]!) { publishMany(messages: $m) { id } }', variables: { m: items } }),
    }),
    accepted: (answer) => answer.status === 200 && !answer.body.includes('"errors"'),
  };
}
