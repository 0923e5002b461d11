import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenFromAuthorization } from '../../auth/bearer.js';
import { MAX_SIGNED_TTL_SECONDS } from '../../auth/subscription-signer.js';
import type { Viewer } from '../../auth/viewer.js';
import { audienceJson, topicJson } from '../../catalog/catalog-json.js';
import type { AudienceRecord, TopicRecord } from '../../store/store.js';
import type { CompatDeps } from '../surface.js';
import { HOOK_ACTIONS, readAction } from './actions.js';
import { CourierError, toCourierError, type CourierCode } from './errors.js';
import { readJsonObject, sendData, sendError } from './http-json.js';

/** Where courier's WebSocket lives; /v1/sign URLs point here. */
export const COURIER_WS_PATH = '/ws';

/**
 * A signed key's default lifetime. A courier socket opened with a key closes (4401) when the key
 * expires, and courier's keys never expired at all, so the default is the longest the signer allows
 * (1 h): browsers reconnect with a fresh key once an hour instead of once a minute. `?ttl=` shortens it.
 */
export const DEFAULT_SIGN_TTL_SECONDS = MAX_SIGNED_TTL_SECONDS;

type Method = 'GET' | 'POST';

interface Route {
  /** The `data` of the success body. */
  readonly handle: (viewer: Viewer, request: IncomingMessage, url: URL) => Promise<unknown>;
  /** What a BAD_USER_INPUT from Herald's services means on this route (default 400 EBODY_INVALID). */
  readonly badInput?: readonly [number, CourierCode];
}

/**
 * courier's REST API under /v1: routes are matched first (404 EROUTE_NOTFOUND, 405
 * EMETHOD_NOTALLOWED with Allow), then the bearer token is verified by the app's one verifier, then
 * the route runs over the same catalog, publish service and signer as the GraphQL API.
 * Returns the request handler: true when the request was courier's (under /v1), false otherwise.
 */
export function createCourierRoutes(deps: CompatDeps): (request: IncomingMessage, response: ServerResponse) => boolean {
  const { services, verifyToken, limits, logger } = deps;

  // In the field order of courier's answers (compat.md): the topic row with its audience nested.
  const topicBody = (topic: TopicRecord, audience: AudienceRecord) => {
    const { id, topic: name, ...rest } = topicJson(topic);
    return { id, topic: name, audience: audienceJson(audience), ...rest };
  };

  const routes: Readonly<Record<string, Partial<Record<Method, Route>>>> = {
    '/v1/audience': {
      // No body; the audience is the token's. Idempotent: courier created a duplicate row each time.
      POST: { handle: async (viewer) => audienceJson((await services.catalog.ensureAudience(viewer)).record) },
    },
    '/v1/topic': {
      GET: {
        handle: async (viewer) => {
          const topics = await services.catalog.listTopics(viewer);
          if (topics.length === 0) return [];
          const audience = await services.store.findAudience(viewer.audience);
          if (audience === undefined) throw new Error(`audience "${viewer.audience}" has topics but no row`);
          return topics.map((topic) => topicBody(topic, audience));
        },
      },
      POST: {
        handle: async (viewer, request) => {
          const body = await readJsonObject(request, limits.maxBodyBytes);
          if (typeof body.topic !== 'string' || body.topic === '') throw new CourierError(422, 'ETOPIC_INVALID', 'topic is required');
          const ensured = await services.catalog.ensureTopic(viewer, body.topic);
          return topicBody(ensured.record, ensured.audience.record);
        },
        // The only input the catalog checks is the topic name.
        badInput: [422, 'ETOPIC_INVALID'],
      },
    },
    '/v1/hook': {
      POST: {
        handle: async (viewer, request) => {
          const body = await readJsonObject(request, limits.maxBodyBytes);
          const action = readAction(body, HOOK_ACTIONS);
          if (action.action === 'publish') await services.publisher.publish(viewer, action.topic, action.message);
          else if (action.action === 'broadcast') await services.publisher.broadcast(viewer, action.message);
          // courier echoed the body it accepted.
          return body;
        },
      },
    },
    '/v1/sign': {
      GET: {
        // Herald extensions, both optional: ?ttl=<seconds> (1 to 3600) and ?topic=<name or pattern>
        // (repeatable) to sign for less than the caller's own topics.
        handle: async (viewer, _request, url) => {
          const ttl = readTtl(url.searchParams.get('ttl'));
          const topics = url.searchParams.getAll('topic');
          const signed = await services.signer.sign(viewer, topics.length > 0 ? topics : undefined, ttl, COURIER_WS_PATH);
          return { key: signed.token, url: signed.url, expiresAt: signed.expiresAt.toISOString() };
        },
        badInput: [400, 'EPARAM_INVALID'],
      },
    },
  };

  const serve = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const methods = routes[url.pathname];
    if (methods === undefined) throw new CourierError(404, 'EROUTE_NOTFOUND', `no route ${url.pathname}`);
    const route = methods[request.method as Method];
    if (route === undefined) {
      const allow = Object.keys(methods).join(', ');
      return sendError(response, new CourierError(405, 'EMETHOD_NOTALLOWED', `${url.pathname} accepts ${allow}`), { allow });
    }
    const viewer = await verifyToken(tokenFromAuthorization(request.headers.authorization));
    try {
      sendData(response, await route.handle(viewer, request, url));
    } catch (error) {
      sendError(response, toCourierError(error, logger, route.badInput));
    }
  };

  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!isCourierPath(url.pathname)) return false;
    serve(request, response, url).catch((error: unknown) => sendError(response, toCourierError(error, logger)));
    return true;
  };
}

function readTtl(raw: string | null): number {
  if (raw === null) return DEFAULT_SIGN_TTL_SECONDS;
  const ttl = Number(raw);
  if (!/^\d+$/.test(raw) || ttl < 1 || ttl > MAX_SIGNED_TTL_SECONDS) {
    throw new CourierError(400, 'EPARAM_INVALID', `ttl must be a whole number of seconds from 1 to ${MAX_SIGNED_TTL_SECONDS}`);
  }
  return ttl;
}

/** courier's REST namespace. */
export const isCourierPath = (pathname: string): boolean => pathname === '/v1' || pathname.startsWith('/v1/');
