import net from 'node:net';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createClient, type HeraldClientOptions } from 'herald/client';
import { gql, token, type TestHerald } from './herald.js';

/**
 * What herald/client tests cut: a TCP hop between the client and Herald, and the client's own
 * sockets (to terminate them from the client side and to see the frames the client hides).
 */

/**
 * A TCP hop between a client and Herald. `cut` drops every connection through it without a close
 * frame, as a server that vanished or a network that failed would; `hold` makes the client's next
 * connection attempt wait (its `url` function does not settle) until `release`.
 */
export interface Line {
  readonly url: () => Promise<string>;
  cut(): void;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function openLine(herald: TestHerald): Promise<Line> {
  const target = new URL(herald.wsUrl);
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port), '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [down, up];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let gate: Promise<void> = Promise.resolve();
  let open = (): void => {};
  return {
    url: () => gate.then(() => `ws://127.0.0.1:${port}${target.pathname}`),
    cut() {
      for (const [down, up] of pairs) {
        up.destroy();
        down.destroy();
      }
    },
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A WebSocket implementation that remembers the client's current socket, so the test can terminate it
 * from the client side, and the frames every socket received, so it can see what the client hides.
 */
export function trackedSockets(): {
  impl: new (...args: ConstructorParameters<typeof WebSocket>) => WebSocket;
  current(): WebSocket;
  readonly frames: string[];
} {
  let socket: WebSocket | undefined;
  const frames: string[] = [];
  class Tracked extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the test terminates this very socket
      socket = this;
      this.on('message', (data: Buffer) => frames.push(data.toString()));
    }
  }
  return { impl: Tracked, current: () => socket!, frames };
}

/** The anchors (heraldResume results) received so far: a subscription is gap-free once its anchor has arrived. */
export const anchorsIn = (frames: readonly string[]): string[] =>
  frames.flatMap((frame) => {
    const message = JSON.parse(frame) as { type: string; payload?: { extensions?: { heraldResume?: { after: string } } } };
    const after = message.type === 'next' ? message.payload?.extensions?.heraldResume?.after : undefined;
    return after === undefined ? [] : [after];
  });

/** A herald/client that retries at once for ever, through its own Line, with a reader and a publisher of one audience. */
export interface Harness {
  readonly client: Client;
  readonly line: Line;
  readonly sockets: ReturnType<typeof trackedSockets>;
  connections(): number;
  publish(topic: string, payload: unknown): Promise<string>;
  broadcast(payload: unknown): Promise<string>;
  close(): Promise<void>;
}

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const BROADCAST = 'mutation($p: JSON!) { broadcast(payload: $p) { id } }';

export async function openHarness(target: TestHerald, audience: string, options: Partial<HeraldClientOptions> = {}): Promise<Harness> {
  const line = await openLine(target);
  const sockets = trackedSockets();
  const reader = await token({ audience, scopes: ['subscribe'] });
  const publisher = await token({ audience, scopes: ['publish'] });
  let connections = 0;
  const client = createClient({
    url: line.url,
    webSocketImpl: sockets.impl,
    connectionParams: { token: reader },
    retryAttempts: 1000,
    retryWait: () => Promise.resolve(),
    shouldRetry: () => true,
    ...options,
  });
  client.on('connected', () => connections++);
  const mutate = async (query: string, variables: Record<string, unknown>): Promise<string> => {
    const response = await gql<Record<string, { id: string }>>(target.httpUrl, publisher, query, variables);
    if (response.errors !== undefined) throw new Error(`publishing failed: ${JSON.stringify(response.errors)}`);
    return Object.values(response.data!)[0]!.id;
  };
  return {
    client,
    line,
    sockets,
    connections: () => connections,
    publish: (topic, payload) => mutate(PUBLISH, { t: topic, p: payload }),
    broadcast: (payload) => mutate(BROADCAST, { p: payload }),
    async close() {
      await client.dispose();
      await line.close();
    },
  };
}
