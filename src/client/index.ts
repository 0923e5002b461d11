/**
 * herald/client: graphql-ws's createClient, plus gap-free resume.
 *
 * Every subscription it opens carries `extensions.heraldResume = { after }`, where `after` is the
 * `id` of the last message the subscription delivered. graphql-ws sends the same payload object
 * again on each automatic retry (a dropped socket, a server restart), so the retry asks Herald for
 * everything after that id first, then live messages: nothing missed, nothing twice. Works wherever
 * a graphql-ws Client goes: Apollo Client's GraphQLWsLink, urql's subscriptionExchange, or as is.
 *
 * Before its first message a subscription has no id yet, so Herald anchors it: its first result is
 * data-less, `{ extensions: { heraldResume: { after: <the stream's head> } } }`, which this client
 * records as `after` and never passes to the application's sink. A cut before any message then
 * resumes from the anchor. (A pattern's anchor is one no resume succeeds from: it cannot resume.)
 *
 * Herald refuses a subscription through this client whose selection lacks the root field's `id`
 * (it could never resume). When the gap cannot be filled (CURSOR_EXPIRED: the history no longer
 * holds it), the subscription fails with that error, or, with `onCursorExpired`, the client lets the
 * application re-read its state and then continues from `extensions.latest`, the stream's head when
 * Herald refused: what was published while the application re-read is replayed, so nothing is lost,
 * but a message may arrive both in the re-read and replayed (at-least-once there: dedupe by id).
 * A pattern has no latest: it subscribes again, anchored, once the callback settles.
 *
 * With `token`, a function returning a fresh token, the client authenticates every connection with
 * it and renews the credential in band (renewConnection) before it expires (token-renewal.ts), so a
 * long-lived socket never closes with 4401 and its subscriptions go on without a gap.
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
import { tokenRenewal, type TokenSource } from './token-renewal.js';

export { RENEW_AT_SHARE_OF_LIFE, type TokenSource } from './token-renewal.js';

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
   * the state the subscription feeds here; once it settles, the subscription goes on from where the
   * stream stood when Herald refused (`extensions.latest`), replaying what was published meanwhile:
   * a message may then arrive twice, once in the re-read and once here (dedupe by id). Without
   * it, the subscription's sink gets the error (Apollo and urql pass it to the application).
   */
  readonly onCursorExpired?: (expired: CursorExpired) => void | Promise<void>;
  /**
   * Returns a fresh token. Every connection sends the newest one (connectionParams
   * `authorization`, over the application's own connectionParams), and the open connection renews
   * it with renewConnection at RENEW_AT_SHARE_OF_LIFE (80%) of the life it had left when received,
   * so it never closes at exp. A reconnect asks for a fresh token when the newest is due for renewal.
   */
  readonly token?: TokenSource;
  /** Told when a renewal failed (the token function threw, or Herald refused the token); it is tried again while the old token lasts. */
  readonly onRenewalError?: (error: unknown) => void;
}

/** graphql-ws's createClient with the same options (plus onCursorExpired); returns a graphql-ws Client. */
export function createClient(options: HeraldClientOptions): Client {
  const { onCursorExpired, token, onRenewalError, ...graphqlWsOptions } = options;
  const renewal = token === undefined ? undefined : tokenRenewal(graphqlWsOptions, token, onRenewalError ?? (() => {}));
  const client = createGraphqlWsClient(renewal?.options ?? graphqlWsOptions);
  const stopRenewal = renewal?.start(client);

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
            const anchor = anchorOf(result);
            if (anchor !== undefined) {
              // Herald's starting position for this subscription, not a message: the application never sees it.
              resume.after = anchor;
              return;
            }
            const id = rootId(result.data);
            if (id !== undefined) resume.after = id;
            sink.next(result);
          },
          error(error) {
            if (disposed) return;
            if (onCursorExpired === undefined || !isCursorExpired(error)) return sink.error(error);
            // Where the stream stood when Herald refused: set before the callback, so what is published
            // while the application re-reads is replayed. None (a pattern, history off): anchored anew.
            resume.after = latestOf(error) ?? null;
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

  return {
    ...client,
    subscribe,
    iterate: (payload) => iterate(subscribe, payload),
    dispose: () => {
      stopRenewal?.();
      return client.dispose();
    },
  };
}

/** Whether a graphql-ws subscription error is Herald's CURSOR_EXPIRED. */
export function isCursorExpired(error: unknown): error is CursorExpired['errors'] {
  return Array.isArray(error) && error.some((item: { extensions?: { code?: unknown } } | null) => item?.extensions?.code === 'CURSOR_EXPIRED');
}

/** The cursor of a CURSOR_EXPIRED refusal: `extensions.latest`, the stream's head when Herald refused. */
function latestOf(errors: CursorExpired['errors']): string | undefined {
  const latest = errors.find((error) => error.extensions?.code === 'CURSOR_EXPIRED')?.extensions?.latest;
  return typeof latest === 'string' ? latest : undefined;
}

/** The anchor of a data-less result `{ extensions: { heraldResume: { after } } }` (src/transport/resume-extension.ts). */
function anchorOf(result: { readonly data?: unknown; readonly errors?: unknown; readonly extensions?: unknown }): string | undefined {
  if (result.data != null || result.errors !== undefined) return undefined;
  const extensions = result.extensions as { [RESUME_EXTENSION]?: { after?: unknown } } | undefined;
  const after = extensions?.[RESUME_EXTENSION]?.after;
  return typeof after === 'string' ? after : undefined;
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
