import { execute, getOperationAST, GraphQLError, OperationTypeNode, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { RequestCache } from '@pothos/plugin-scope-auth';
import type { Plugin, YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenFromAuthorization } from '../auth/bearer.js';
import type { VerifyToken } from '../auth/verify-token.js';
import type { HeraldContext, Services } from '../schema/context.js';
import { compileMutation, type CompiledMutation, type CompiledOutcome } from './compiled-mutation.js';
import type { ErrorCode } from '../errors.js';
import { errorCodeOf } from '../metrics/labels.js';
import { formatErrors } from '../transport/format-errors.js';

/**
 * The publish path's fast lane. Backends publish the same mutation document over and over; Yoga's
 * general request pipeline (WHATWG Request/Response objects, plugins, content negotiation) costs more
 * than the publish itself. For a plain POST of a document Yoga has already parsed and validated
 * (with every limit: depth, cost, aliases, tokens), this lane verifies the token with the same
 * verifier, executes with the same schema and context (the common shape of mutation compiled, see
 * compiled-mutation.ts), masks errors the same way and answers with the same status and body.
 * Anything else — a new document, a browser request (Origin, CORS), SSE, GET, a refused token, a
 * subscription — goes to Yoga untouched, so Yoga stays the reference.
 */

const MAX_PREPARED = 1_000;

export interface PreparedDocuments {
  get(query: string): DocumentNode | undefined;
  /** The document's mutation compiled for the fast lane (compiled-mutation.ts), when it has the common shape. */
  compiled(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): CompiledMutation | undefined;
  /** The Yoga plugin that records every document that passed validation. */
  readonly plugin: Plugin;
}

export function createPreparedDocuments(): PreparedDocuments {
  const documents = new Map<string, DocumentNode>();
  // Keyed by the document itself, so a plan goes when its document leaves the map above.
  const plans = new WeakMap<DocumentNode, Map<string | undefined, CompiledMutation | undefined>>();
  return {
    get: (query) => documents.get(query),
    compiled(schema, document, operationName) {
      let byName = plans.get(document);
      if (byName === undefined) plans.set(document, (byName = new Map<string | undefined, CompiledMutation | undefined>()));
      if (!byName.has(operationName)) byName.set(operationName, compileMutation(schema, document, operationName));
      return byName.get(operationName);
    },
    plugin: {
      onValidate:
        ({ params }) =>
        ({ result }) => {
          const documentAST = params.documentAST as DocumentNode;
          const query = documentAST.loc?.source.body;
          if (result.length > 0 || query === undefined || documents.has(query)) return;
          if (documents.size >= MAX_PREPARED) documents.delete(documents.keys().next().value as string);
          documents.set(query, documentAST);
        },
    },
  };
}

export interface HttpFastPathOptions {
  readonly yoga: YogaServerInstance<Record<string, unknown>, HeraldContext>;
  readonly schema: GraphQLSchema;
  readonly prepared: PreparedDocuments;
  readonly verifyToken: VerifyToken;
  readonly services: Services;
  readonly maskError: (error: unknown) => Error;
  readonly graphqlPath: string;
  /** Counts each error it answers with, by code (metrics). */
  readonly refused: (code: ErrorCode) => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpFastPath {
  readonly handle: Handler;
  /** Requests answered by the fast lane itself (the rest went to Yoga). */
  readonly served: number;
}

export function createHttpFastPath(options: HttpFastPathOptions): HttpFastPath {
  let served = 0;
  const { yoga, schema, prepared, verifyToken, services, maskError, graphqlPath, refused } = options;

  const viaYoga = (req: IncomingMessage, res: ServerResponse): void => void yoga(req, res);

  /** Yoga answers a request whose body this lane already read. */
  async function replayThroughYoga(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await yoga.fetch(`http://${req.headers.host ?? 'localhost'}${req.url ?? graphqlPath}`, { method: 'POST', headers, body });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer, contentType: ResponseType): Promise<void> {
    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return replayThroughYoga(req, res, body);
    }
    // Yoga's own checks (the body a map; each parameter of its type) stay Yoga's: anything else is replayed.
    if (
      !isMap(params) ||
      !hasOnlyRequestParameters(params) ||
      typeof params.query !== 'string' ||
      !isOptionalMap(params.variables) ||
      !isOptionalMap(params.extensions)
    ) {
      return replayThroughYoga(req, res, body);
    }
    if (params.operationName != null && typeof params.operationName !== 'string') return replayThroughYoga(req, res, body);
    const document = prepared.get(params.query);
    const operationName = typeof params.operationName === 'string' ? params.operationName : undefined;
    const operation = document === undefined ? undefined : getOperationAST(document, operationName);
    const variables = params.variables ?? undefined;
    if (document === undefined || operation == null || operation.operation === OperationTypeNode.SUBSCRIPTION) {
      return replayThroughYoga(req, res, body);
    }
    let viewer;
    try {
      viewer = await verifyToken(tokenFromAuthorization(req.headers.authorization));
    } catch {
      return replayThroughYoga(req, res, body);
    }
    const contextValue: HeraldContext = { viewer, services };
    const compiled = operation.operation === OperationTypeNode.MUTATION ? prepared.compiled(schema, document, operationName) : undefined;
    let outcome: CompiledOutcome;
    try {
      outcome =
        compiled !== undefined
          ? await compiled(variables as Record<string, unknown> | undefined, contextValue)
          : {
              result: await execute({
                schema,
                document,
                operationName,
                variableValues: variables as Record<string, unknown> | undefined,
                contextValue,
              }),
            };
    } finally {
      // Pothos keeps each context's scope cache in a module-wide WeakMap, whose entries outlive
      // young-generation GCs: at 1 000 publishes/s every scavenge promoted about 470 KB of them
      // (about 10 KB without), and the longer pauses showed in the p99 at a fixed rate. The request
      // is over: drop its entry now.
      RequestCache.clearForContext(contextValue);
    }
    if ('json' in outcome) send(res, 200, outcome.json, contentType);
    else respond(res, outcome.result, contentType);
  }

  function respond(res: ServerResponse, result: ExecutionResult, contentType: ResponseType): void {
    let status = 200;
    let payload: unknown = result;
    if (result.errors !== undefined && result.errors.length > 0) {
      const masked = result.errors.map(maskError);
      // As Yoga does: the highest status any error asks for.
      let asked: number | undefined;
      for (const error of masked) {
        const wanted = (error as { extensions?: { http?: { status?: number } } }).extensions?.http;
        if (wanted?.status !== undefined && (asked === undefined || wanted.status > asked)) asked = wanted.status;
      }
      status = asked ?? 200;
      const errors = formatErrors(masked, (error) => error as Error);
      for (const error of errors) refused(errorCodeOf(error));
      payload = { ...result, errors };
    }
    send(res, status, JSON.stringify(payload), contentType);
  }

  function send(res: ServerResponse, status: number, text: string, contentType: ResponseType): void {
    served++;
    res.writeHead(status, { 'Content-Type': CONTENT_TYPE_HEADER[contentType], 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  const handleRequest: Handler = (req, res) => {
    const contentType = fastPathResponseType(req, graphqlPath);
    if (contentType === undefined) return viaYoga(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks), contentType).catch((error: unknown) => {
        const masked = maskError(error);
        respond(res, { errors: [masked instanceof GraphQLError ? masked : new GraphQLError(masked.message)] }, contentType);
      });
    });
  };
  return {
    handle: handleRequest,
    get served() {
      return served;
    },
  };
}

/** FAST_LANE=off: every request to Yoga as it came. */
export function httpWithoutFastLane(yoga: HttpFastPathOptions['yoga']): HttpFastPath {
  return { handle: (req, res) => void yoga(req, res), served: 0 };
}

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isOptionalMap = (value: unknown): boolean => value == null || isMap(value);

/** As Yoga's check: a parameter other than these, unless null, is refused (400). */
const REQUEST_PARAMETERS = new Set(['query', 'variables', 'operationName', 'extensions']);
function hasOnlyRequestParameters(params: Record<string, unknown>): boolean {
  for (const key in params) if (params[key] != null && !REQUEST_PARAMETERS.has(key)) return false;
  return true;
}

type ResponseType = 'application/json' | 'application/graphql-response+json';

// Made once, not per response.
const CONTENT_TYPE_HEADER: Record<ResponseType, string> = {
  'application/json': 'application/json; charset=utf-8',
  'application/graphql-response+json': 'application/graphql-response+json; charset=utf-8',
};

/**
 * Whether a request may take the fast lane, and the response type it negotiated: POST of JSON to the
 * GraphQL path, from a backend (no Origin, so no CORS to answer), accepting a JSON response.
 */
function fastPathResponseType(req: IncomingMessage, graphqlPath: string): ResponseType | undefined {
  if (req.method !== 'POST' || req.url !== graphqlPath || req.headers.origin !== undefined) return undefined;
  if (!req.headers['content-type']?.startsWith('application/json')) return undefined;
  const accept = req.headers.accept ?? '*/*';
  const json = accept.indexOf('application/json');
  const graphqlResponse = accept.indexOf('application/graphql-response+json');
  if (graphqlResponse !== -1 && (json === -1 || graphqlResponse < json)) return 'application/graphql-response+json';
  if (json !== -1 || accept.trim() === '*/*') return 'application/json';
  return undefined;
}
