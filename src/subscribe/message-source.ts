import type { Viewer } from '../auth/viewer.js';
import type { Target } from '../bus/fanout.js';
import { HeraldError } from '../errors.js';
import type { Cursor } from '../history/cursor.js';
import { payloadJsonOf, type Message } from '../publish/message.js';
import type { StreamCounts } from '../metrics/stream-counts.js';
import { errorOf, type SessionEnd } from '../sessions/sessions.js';
import type { ResumeFrom } from './resume.js';
import type { Receiver } from './subscribe-service.js';

/** Registers a receiver for an authorised subscription; returns the function that ends it (subscribe-service.ts). */
export type OpenSubscription = (viewer: Viewer, target: Target, receiver: Receiver, from?: ResumeFrom) => () => void;

/**
 * The last event of a per-subscriber stream that ended for a reason its client must see (a reader
 * too slow for MAX_BUFFERED_BYTES). The Subscription field's resolver throws its error, so the client
 * gets a GraphQL error with a stable code as the stream's last `next`, then `complete`.
 */
export class StreamEnded {
  constructor(readonly error: Error) {}
}

/** What a Subscription field's stream yields: messages, and at most one StreamEnded at the end. */
export type StreamEvent = Message | StreamEnded;

/** The Subscription fields' resolve: a message as is; a StreamEnded as the error it carries. */
export function deliveredMessage(event: StreamEvent): Message {
  if (event instanceof StreamEnded) throw event.error;
  return event;
}

/**
 * What the Subscription resolvers return: an authorised subscription (whose messages, which target)
 * that is also an AsyncIterable. Transports that iterate it (SSE through Yoga) get a per-subscriber
 * stream; the graphql-ws engine recognises it and joins a shared group instead, never iterating it
 * (transport/subscription-groups.ts).
 */
/** Calls `onEnded` once when the viewer's session ends (expiry, revocation, disconnect); returns the function that stops watching. */
export type WatchSession = (viewer: Viewer, onEnded: (end: SessionEnd) => void) => () => void;

export class MessageSource implements AsyncIterable<StreamEvent> {
  constructor(
    readonly viewer: Viewer,
    readonly target: Target,
    private readonly open: OpenSubscription,
    /** MAX_BUFFERED_BYTES: payload bytes queued for a reader that is not reading, past which its stream ends. */
    private readonly maxBufferedBytes: number,
    /** Watches the credential while the stream is open (SubscribeService.watch). */
    private readonly watch: WatchSession,
    /** Open streams, their deliveries and how they ended (metrics). */
    private readonly counts: StreamCounts,
    /** Resume after this message: the kept ones after it come first (subscribe-service.ts). The graphql-ws engine may replace it. */
    public cursor?: Cursor,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    return openMessageStream(this.viewer, this.target, this.open, this.maxBufferedBytes, this.watch, this.counts, this.cursor);
  }
}

/**
 * One subscriber's stream: registered at the first `next()` (an iterator nobody pulls holds
 * nothing), released by `return()` (the client went away), at the credential's end, or when its
 * queue passes `maxBufferedBytes` of payload (it then yields one StreamEnded and ends).
 */
function openMessageStream(
  viewer: Viewer,
  target: Target,
  open: OpenSubscription,
  maxBufferedBytes: number,
  watch: WatchSession,
  counts: StreamCounts,
  cursor: Cursor | undefined,
): AsyncIterator<StreamEvent> {
  const queue: StreamEvent[] = [];
  let queuedBytes = 0;
  let waiting: ((result: IteratorResult<StreamEvent>) => void) | undefined;
  let state: 'new' | 'open' | 'ending' | 'done' = 'new';
  let release = (): void => {};
  // A function, not a narrowed variable: callbacks change the state between two reads.
  const isOpen = (): boolean => state === 'open';

  const push = (event: StreamEvent): void => {
    if (waiting !== undefined) {
      const resolve = waiting;
      waiting = undefined;
      resolve({ value: event, done: false });
    } else queue.push(event);
  };
  /** Stops receiving; what is queued is still read, then the stream is done. */
  const end = (last?: StreamEnded): void => {
    if (state !== 'open') return;
    state = 'ending';
    // No error to say: the gateway ended it (shutdown), since a client that goes away calls return().
    counts.ended(last === undefined ? 'shutdown' : codeOf(last.error));
    release();
    if (last !== undefined) {
      queue.length = 0;
      queuedBytes = 0;
      push(last);
    }
    if (waiting !== undefined && queue.length === 0) finish();
  };
  const finish = (): void => {
    state = 'done';
    release();
    queue.length = 0;
    const resolve = waiting;
    waiting = undefined;
    resolve?.({ value: undefined, done: true });
  };

  const start = (): void => {
    state = 'open';
    counts.opened();
    const stopReceiving = open(
      viewer,
      target,
      {
        deliver(message) {
          if (state !== 'open') return;
          if (waiting === undefined) {
            queuedBytes += Buffer.byteLength(payloadJsonOf(message));
            if (queuedBytes > maxBufferedBytes) {
              return end(
                new StreamEnded(new HeraldError('SLOW_CONSUMER', 'slow consumer: more than MAX_BUFFERED_BYTES of messages waited to be read; subscribe again')),
              );
            }
          }
          counts.delivered.add(1);
          push(message);
        },
        close: () => end(),
        // The gap after the cursor cannot be filled: said as the stream's only event.
        fail: (error) => end(new StreamEnded(error instanceof Error ? error : new Error(String(error)))),
      },
      cursor,
    );
    // Said as the stream's last event, as the WebSocket surfaces say it with their close (4401) or reply.
    const stopWatching = watch(viewer, (ended) => end(new StreamEnded(errorOf(ended, 'subscribe again with a fresh token'))));
    release = () => {
      stopReceiving();
      stopWatching();
    };
    // The credential may have ended within the watch call itself.
    if (!isOpen()) release();
  };

  return {
    next() {
      if (state === 'new') start();
      const event = queue.shift();
      if (event !== undefined) {
        if (!(event instanceof StreamEnded)) queuedBytes -= Buffer.byteLength(payloadJsonOf(event));
        return Promise.resolve({ value: event, done: false });
      }
      if (state === 'open') return new Promise((resolve) => (waiting = resolve));
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    return() {
      if (state === 'open') counts.ended('client');
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}

function codeOf(error: Error): string {
  return error instanceof HeraldError ? error.code : 'INTERNAL_SERVER_ERROR';
}
