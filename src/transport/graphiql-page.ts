import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { shouldRenderGraphiQL, type GraphiQLOptions, type Plugin } from 'graphql-yoga';
import { graphiqlContentSecurityPolicy } from './graphiql-csp.js';

interface RenderedPage {
  readonly html: Uint8Array<ArrayBuffer>;
  readonly gzipped: Uint8Array<ArrayBuffer>;
  readonly contentSecurityPolicy: string;
}

/**
 * GraphiQL for a browser's GET of `path`, from the installed @graphql-yoga/render-graphiql
 * (graphql-yoga's version): its page inlines every script, style, font and worker, so it works with
 * no internet, where Yoga's own page loads them from a CDN and stays blank.
 *
 * This plugin serves the page instead of Yoga's `renderGraphiQL` option because a renderer cannot see
 * the request, so cannot choose the encoding, and the policy must be made from the bytes served.
 *
 * The page is large and its options never change, so it is rendered and gzipped once, on the first
 * request: rendering it per request held up the event loop every time, and loading the module at
 * startup would slow every process, most of which never serve the page. gzip is for any link slower
 * than loopback, where the page's size, not the browser, decides how long it takes to open.
 */
export function useGraphiQLPage(path: string, options: GraphiQLOptions): Plugin {
  let rendered: Promise<RenderedPage> | undefined;
  return {
    onRequest(event) {
      const { request, url, fetchAPI } = event;
      if (url.pathname !== path || !shouldRenderGraphiQL(request)) return;
      return (rendered ??= renderPage(options)).then(({ html, gzipped, contentSecurityPolicy }) => {
        const acceptsGzip = /\bgzip\b/i.test(request.headers.get('accept-encoding') ?? '');
        const headers = new fetchAPI.Headers({
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': contentSecurityPolicy,
          // The page can carry the development token; the same URL answers JSON to other requests.
          'cache-control': 'no-store',
          vary: 'Accept, Accept-Encoding',
        });
        if (acceptsGzip) headers.set('content-encoding', 'gzip');
        event.endResponse(new fetchAPI.Response(acceptsGzip ? gzipped : html, { status: 200, headers }));
      });
    },
  };
}

async function renderPage(options: GraphiQLOptions): Promise<RenderedPage> {
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  const text = renderGraphiQL(options);
  const html = new TextEncoder().encode(text);
  // Off the event loop (zlib's thread pool).
  const gzipped = new Uint8Array(await promisify(gzip)(html));
  return { html, gzipped, contentSecurityPolicy: graphiqlContentSecurityPolicy(text) };
}
