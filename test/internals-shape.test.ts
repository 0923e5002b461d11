import { readFileSync } from 'node:fs';
import { Socket, type AddressInfo } from 'node:net';
import { RequestCache } from '@pothos/plugin-scope-auth';
import { buildSchema, execute, parse, version as graphqlVersion, type GraphQLResolveInfo } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { builder } from '../src/schema/builder.js';
import packageJson from '../package.json' with { type: 'json' };

/**
 * The fast lane and the delivery writes reach into private internals of three dependencies, which
 * package.json pins exactly. Each test names the internal it checks, so an upgrade that changes
 * one fails here, loudly, instead of making delivery silently slower (a fallback taken every time)
 * or wrong.
 */

/** A file of an installed package, read past its `exports` map. */
const packageFile = (name: string, file: string): string => readFileSync(new URL(`../node_modules/${name}/${file}`, import.meta.url), 'utf8');
const installed = (name: string): string => (JSON.parse(packageFile(name, 'package.json')) as { version: string }).version;

describe('pinned versions', () => {
  it.each(['ws', 'graphql', '@pothos/plugin-scope-auth'])('%s is pinned exactly in package.json and installed at that version', (name) => {
    const wanted = (packageJson.dependencies as Record<string, string>)[name];
    expect(wanted, `${name} must be pinned to an exact version (it is used through private internals)`).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed(name), `${name} installed differs from the pinned version`).toBe(wanted);
  });
});

describe('ws internals (src/transport/text-frame.ts, write-coalescing.ts)', () => {
  let server: WebSocketServer;
  let serverSide: WebSocket;
  let client: WebSocket;
  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const connected = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const opened = new Promise((resolve) => client.once('open', resolve));
    serverSide = await connected;
    await opened;
  });
  afterAll(async () => {
    client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('WebSocket#_socket is the net.Socket the frames are written to', () => {
    expect((serverSide as unknown as { _socket: unknown })._socket, 'ws internal WebSocket#_socket').toBeInstanceOf(Socket);
  });

  it('WebSocket#_sender has _state (0 when idle) and the array _queue', () => {
    const sender = (serverSide as unknown as { _sender?: { _state?: unknown; _queue?: unknown } })._sender;
    expect(sender, 'ws internal WebSocket#_sender').toBeDefined();
    expect(sender!._state, 'ws internal Sender#_state (SENDER_IDLE = 0 in text-frame.ts)').toBe(0);
    expect(Array.isArray(sender!._queue), 'ws internal Sender#_queue').toBe(true);
  });

  it("Sender's idle state is the constant DEFAULT = 0", () => {
    const source = packageFile('ws', 'lib/sender.js');
    expect(source, 'ws/lib/sender.js: const DEFAULT = 0 (text-frame.ts SENDER_IDLE)').toMatch(/const DEFAULT = 0;/);
    expect(source, 'ws/lib/sender.js: frames wait in this._queue while the state is not DEFAULT').toMatch(/this\._state !== DEFAULT/);
  });
});

describe("Pothos' RequestCache (src/fast-lane/http-fast-path.ts)", () => {
  it('RequestCache.fromContext caches per context object and RequestCache.clearForContext drops the entry', () => {
    expect(typeof RequestCache.clearForContext, 'RequestCache.clearForContext').toBe('function');
    const context = {};
    const typedBuilder = builder as unknown as Parameters<typeof RequestCache.fromContext>[1];
    const first = RequestCache.fromContext(context, typedBuilder);
    expect(RequestCache.fromContext(context, typedBuilder), 'RequestCache.fromContext caches per context').toBe(first);
    RequestCache.clearForContext(context);
    expect(RequestCache.fromContext(context, typedBuilder), 'RequestCache.clearForContext drops the entry').not.toBe(first);
  });
});

describe('graphql-js shapes the compiled executions reproduce (src/fast-lane/)', () => {
  const schema = buildSchema('type Query { a: A, fail: A! } type A { b: String }');
  let captured: GraphQLResolveInfo | undefined;
  const rootValue = {
    a: (_args: unknown, _context: unknown, info: GraphQLResolveInfo) => {
      captured = info;
      return { b: 'x' };
    },
    fail: () => {
      throw new Error('no');
    },
  };

  it(`is graphql ${graphqlVersion}`, () => {
    expect(graphqlVersion).toBe(packageJson.dependencies.graphql);
  });

  it('a resolve info has exactly the properties single-root-field.ts and message-selection.ts build', async () => {
    await execute({ schema, document: parse('{ a { b } }'), rootValue });
    expect(Object.keys(captured!).sort(), 'GraphQLResolveInfo properties').toEqual(
      ['fieldName', 'fieldNodes', 'fragments', 'operation', 'parentType', 'path', 'returnType', 'rootValue', 'schema', 'variableValues'].sort(),
    );
    expect(Object.keys(captured!.path).sort(), 'graphql/jsutils/Path: { prev, key, typename }').toEqual(['key', 'prev', 'typename']);
  });

  it('a result with a field error lists errors before data (compiled-mutation.ts writes them in that order)', async () => {
    const result = await execute({ schema, document: parse('{ fail { b } }'), rootValue });
    expect(Object.keys(result), 'graphql-js buildResponse key order').toEqual(['errors', 'data']);
    expect(result.data).toBeNull();
  });
});
