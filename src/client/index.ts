/**
 * herald/client: graphql-ws's createClient, plus gap-free resume.
 *
 * Every subscription it opens carries `extensions.heraldResume = { after }`, where `after` is the
 * `id` of the last message the subscription delivered. graphql-ws sends the same payload object
 * again on each automatic retry (a dropped socket, a server restart), so the retry asks Herald for
 * everything after that id first, then live messages: nothing missed, nothing twice. Works wherever
 * a graphql-ws Client goes: Apollo Client's GraphQLWsLink, urql's subscriptionExchange, or as is.
 *
 * Herald refuses a subscription through this client whose selection lacks the root field's `id`
 * (it could never resume). When the gap cannot be filled (CURSOR_EXPIRED: the history no longer
 * holds it), the subscription fails with that error, or, with `onCursorExpired`, the client lets the
 * application re-read its state and then goes on live.
 *
 * Plain JavaScript with type declarations once built (`npm install` builds it); no dependency but graphql-ws.
 */
import {
  createClient as createGraphqlWsClient,
  type Client,
  type ClientOptions,
  type FormattedExecutionResult,
  type Sink,
  type SubscribePayload,
} from 'graphql-ws';

/** The subscribe payload extension Herald reads (src/transport/resume-extension.ts). */
export const RESUME_EXTENSION = 'heraldResume';

/** What a subscription that could not resume failed with: graphql-ws's error, the list of GraphQL errors. */
export interface CursorExpired {
  /** The subscription's payload, as the application gave it. */
  readonly payload: SubscribePayload;
  /** The errors Herald sent; one has `extensions.code === 'CURSOR_EXPIRED'` and says what was lost. */
  readonly errors: readonly { readonly message: string; readonly extensions?: Record<string, unknown> }[];
}

export interface HeraldClientOptions extends ClientOptions {
  /**
   * Called when messages a subscription missed can no longer be replayed (CURSOR_EXPIRED). Re-read
   * the state the subscription feeds here; once it settles, the subscription goes on live. Without
   * it, the subscription's sink gets the error (Apollo and urql pass it to the application).
   */
  readonly onCursorExpired?: (expired: CursorExpired) => void | Promise<void>;
}

/** graphql-ws's createClient with the same options (plus onCursorExpired); returns a graphql-ws Client. */
export function createClient(options: HeraldClientOptions): Client {
  const { onCursorExpired, ...graphqlWsOptions } = options;
  const client = createGraphqlWsClient(graphqlWsOptions);

  const subscribe = <Data = Record<string, unknown>, Extensions = unknown>(
    payload: SubscribePayload,
    sink: Sink<FormattedExecutionResult<Data, Extensions>>,
  ): (() => void) => {
    // Mutated in place: graphql-ws re-sends this very object on every retry.
    const resume: { after: string | null } = { after: null };
    let disposed = false;
    let stop = (): void => {};
    const start = (): void => {
      stop = client.subscribe<Data, Extensions>(
        { ...payload, extensions: { ...payload.extensions, [RESUME_EXTENSION]: resume } },
        {
          next(result) {
            const id = rootId(result.data);
            if (id !== undefined) resume.after = id;
            sink.next(result);
          },
          error(error) {
            if (disposed) return;
            if (onCursorExpired === undefined || !isCursorExpired(error)) return sink.error(error);
            resume.after = null;
            Promise.resolve()
              .then(() => onCursorExpired({ payload, errors: error }))
              .then(
                () => {
                  if (!disposed) start();
                },
                (failure: unknown) => sink.error(failure),
              );
          },
          complete() {
            if (!disposed) sink.complete();
          },
        },
      );
    };
    start();
    return () => {
      disposed = true;
      stop();
    };
  };

  return { ...client, subscribe, iterate: (payload) => iterate(subscribe, payload) };
}

/** Whether a graphql-ws subscription error is Herald's CURSOR_EXPIRED. */
export function isCursorExpired(error: unknown): error is CursorExpired['errors'] {
  return Array.isArray(error) && error.some((item: { extensions?: { code?: unknown } } | null) => item?.extensions?.code === 'CURSOR_EXPIRED');
}

/** The id of a subscription result's root field (the one Herald selects on), whatever its alias. */
function rootId(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const values = Object.values(data);
  const id = values.length === 1 ? (values[0] as { id?: unknown } | null)?.id : undefined;
  return typeof id === 'string' ? id : undefined;
}

/** Client#iterate over this client's subscribe (graphql-ws's own iterate calls its own subscribe, which would not resume). */
function iterate<Data, Extensions>(
  subscribe: (payload: SubscribePayload, sink: Sink<FormattedExecutionResult<Data, Extensions>>) => () => void,
  payload: SubscribePayload,
): AsyncIterableIterator<FormattedExecutionResult<Data, Extensions>> {
  const pending: FormattedExecutionResult<Data, Extensions>[] = [];
  // An object, not two variables: the sink's callbacks change it between the iterator's reads.
  const end: { done: boolean; failure?: { error: unknown } } = { done: false };
  let wake = (): void => {};
  const dispose = subscribe(payload, {
    next(value) {
      pending.push(value);
      wake();
    },
    error(error) {
      end.done = true;
      end.failure = { error };
      wake();
    },
    complete() {
      end.done = true;
      wake();
    },
  });
  const iterator = (async function* () {
    try {
      for (;;) {
        if (pending.length === 0 && !end.done) await new Promise<void>((resolve) => (wake = resolve));
        while (pending.length > 0) yield pending.shift()!;
        if (end.failure !== undefined) throw end.failure.error;
        if (end.done) return;
      }
    } finally {
      dispose();
    }
  })();
  return iterator;
}
