import type { Plugin } from 'graphql-yoga';
import { acceptsEventStream } from '../transport/http-request-rules.js';
import { errorCodeOf } from './labels.js';
import type { Metrics } from './metrics.js';

/**
 * Counts the errors of every HTTP and SSE response Yoga sends, by the code the client sees (it runs
 * after useStableErrorCodes). Errors inside an open SSE stream are counted where the stream ends
 * (herald_connections_closed_total{surface="sse"}).
 */
export function useRefusalCounts(metrics: Pick<Metrics, 'refused'>): Plugin {
  return {
    onResultProcess({ request, result }) {
      if (Array.isArray(result) || !('errors' in result) || result.errors === undefined) return;
      const surface = acceptsEventStream(request.headers.get('accept')) ? 'sse' : 'http';
      for (const error of result.errors) metrics.refused(surface, errorCodeOf(error));
    },
  };
}
