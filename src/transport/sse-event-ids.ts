import type { Plugin } from 'graphql-yoga';
import { isMessageId } from '../history/cursor.js';

/**
 * Gives each GraphQL-over-SSE event its message's id as the SSE `id:`, so a reconnecting
 * EventSource sends it back as Last-Event-ID and resumes there (the `lastEventId` of the context,
 * which the Subscription fields take as `after`), as Mercure does.
 *
 * Yoga's SSE writer sends `data: <result.stringify(result)>` and ends the event with a blank line;
 * a result whose stringify appends `\nid: <id>` becomes an event with both fields. The id is the
 * root field's `id`: a selection without it has no SSE ids (and cannot resume this way).
 */
export function useSseEventIds(): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: () => ({
        onNext({ result, setResult }) {
          const id = rootMessageId(result.data);
          if (id === undefined) return;
          setResult({ ...result, stringify: (value: unknown) => `${JSON.stringify(value)}\nid: ${id}` } as typeof result);
        },
      }),
    }),
  };
}

function rootMessageId(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const values = Object.values(data);
  if (values.length !== 1) return undefined;
  const id = (values[0] as { id?: unknown } | null)?.id;
  // Only an id Herald made: it is one line, so it cannot forge SSE fields.
  return typeof id === 'string' && isMessageId(id) ? id : undefined;
}
