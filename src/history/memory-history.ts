import { payloadJsonOf, type Message } from '../publish/message.js';
import { cursorOf, messageId, newEpoch, type Cursor } from './cursor.js';
import type { HistoryOptions, HistoryWindow, MessageDraft, StreamRef } from './history.js';

/**
 * A kept message: its payload as JSON text only. The parsed payload a publish made is let go (it
 * weighs a few times its text), and a replay parses the text again: replays are rare, keeping is not.
 */
type Kept = Omit<Message, 'payload' | 'payloadJson'> & { readonly payloadJson: string };

// Field by field rather than a rest spread: this runs on every publish, and a spread costs several times more.
const keptOf = (message: Message): Kept => ({
  id: message.id,
  audience: message.audience,
  topic: message.topic,
  publishedAt: message.publishedAt,
  publisher: message.publisher,
  payloadJson: payloadJsonOf(message),
});
const UNPARSED = Symbol('unparsed');
/**
 * A kept message handed out again. Its payload is parsed only when something reads it: a replay
 * to graphql-ws members renders from payloadJson, and a storm of resumes would otherwise parse each
 * kept message once per reader. An own getter, so spreading or serialising the message still sees it.
 */
const messageOf = (kept: Kept): Message => {
  let parsed: unknown = UNPARSED;
  return {
    id: kept.id,
    audience: kept.audience,
    topic: kept.topic,
    publishedAt: kept.publishedAt,
    publisher: kept.publisher,
    payloadJson: kept.payloadJson,
    get payload() {
      if (parsed === UNPARSED) parsed = JSON.parse(kept.payloadJson) as unknown;
      return parsed;
    },
  };
};

/** One stream's history in memory: its epoch, its newest offset, and its newest messages. */
interface Stream {
  readonly epoch: string;
  last: number;
  /** Kept messages are entries[start..]; the array is compacted in blocks rather than shifted per message. */
  entries: Kept[];
  start: number;
  /** When it was last published to: it expires HISTORY_TTL after. */
  touched: number;
}

/** Streams of one audience: its topics, and its broadcasts. */
interface AudienceStreams {
  readonly topics: Map<string, Stream>;
  broadcasts: Stream | undefined;
}

export interface MemoryHistory {
  /** Stamps the draft with its stream's next id and keeps it. */
  append(draft: MessageDraft): Message;
  /**
   * Where a stream stands now: its newest id, or for a stream with none (new, or expired) the offset 0
   * of an epoch made now, which its first publish then continues. A subscriber anchored there can
   * resume from it like from any id.
   */
  head(stream: StreamRef): Cursor;
  /** What is kept of a stream (undefined: nothing, or expired). */
  read(stream: StreamRef, cursor: Cursor | undefined, limit: number): HistoryWindow | undefined;
  /** Drops every stream idle for longer than HISTORY_TTL (also done on a timer). */
  sweep(): void;
  /** Streams and messages held now (tests, metrics). */
  stats(): { streams: number; messages: number };
  close(): void;
}

export interface MemoryHistoryOptions extends HistoryOptions {
  /** Clock, for tests. */
  readonly now?: () => number;
}

/**
 * The in-process bus's history. Memory stays bounded whatever the number of topics: a stream
 * keeps at most HISTORY_SIZE messages and is dropped HISTORY_TTL after its last publish, by a sweep
 * that runs a few times per TTL. Lost at restart, which the next epoch makes detectable.
 */
export function createMemoryHistory(options: MemoryHistoryOptions): MemoryHistory {
  const { size, ttlMs } = options;
  const now = options.now ?? Date.now;
  const audiences = new Map<string, AudienceStreams>();
  const live = (stream: Stream | undefined, at: number): stream is Stream => stream !== undefined && at - stream.touched <= ttlMs;
  const fresh = (at: number): Stream => ({ epoch: newEpoch(at), last: 0, entries: [], start: 0, touched: at });

  const sweep = (): void => {
    const at = now();
    for (const [audience, streams] of audiences) {
      for (const [topic, stream] of streams.topics) if (!live(stream, at)) streams.topics.delete(topic);
      if (!live(streams.broadcasts, at)) streams.broadcasts = undefined;
      if (streams.topics.size === 0 && streams.broadcasts === undefined) audiences.delete(audience);
    }
  };
  const timer = setInterval(sweep, Math.min(Math.max(ttlMs / 4, 1_000), 60_000));
  timer.unref();

  /** The stream, made (a new epoch) when it has none or its history expired. */
  const streamOf = ({ audience, topic }: StreamRef, at: number): Stream => {
    let streams = audiences.get(audience);
    if (streams === undefined) audiences.set(audience, (streams = { topics: new Map(), broadcasts: undefined }));
    let stream = topic === null ? streams.broadcasts : streams.topics.get(topic);
    if (!live(stream, at)) {
      stream = fresh(at);
      if (topic === null) streams.broadcasts = stream;
      else streams.topics.set(topic, stream);
    }
    return stream;
  };

  return {
    append(draft) {
      const at = now();
      const stream = streamOf(draft, at);
      stream.touched = at;
      const message: Message = {
        id: messageId(stream.epoch, ++stream.last),
        audience: draft.audience,
        topic: draft.topic,
        payload: draft.payload,
        publishedAt: draft.publishedAt,
        publisher: draft.publisher,
        payloadJson: draft.payloadJson,
      };
      if (size > 0) {
        stream.entries.push(keptOf(message));
        if (stream.entries.length - stream.start > size) stream.start++;
        if (stream.start >= size) {
          stream.entries = stream.entries.slice(stream.start);
          stream.start = 0;
        }
      }
      return message;
    },

    // A read made, not a publish: it does not extend the stream's life (HISTORY_TTL counts from the last publish).
    head(ref) {
      const stream = streamOf(ref, now());
      return cursorOf(messageId(stream.epoch, stream.last));
    },

    read({ audience, topic }, cursor, limit) {
      const streams = audiences.get(audience);
      const stream = topic === null ? streams?.broadcasts : streams?.topics.get(topic);
      if (!live(stream, now())) return undefined;
      const kept = stream.entries.length - stream.start;
      const first = stream.last - kept + 1;
      let from: number;
      if (cursor === undefined) from = Math.max(stream.start, stream.entries.length - limit);
      else from = stream.start + Math.max(0, cursor.offset + 1 - first);
      return { epoch: stream.epoch, last: stream.last, first, messages: stream.entries.slice(from, from + limit).map(messageOf) };
    },

    sweep,

    stats() {
      let count = 0;
      let messages = 0;
      for (const streams of audiences.values()) {
        for (const stream of [...streams.topics.values(), ...(streams.broadcasts === undefined ? [] : [streams.broadcasts])]) {
          count++;
          messages += stream.entries.length - stream.start;
        }
      }
      return { streams: count, messages };
    },

    close() {
      clearInterval(timer);
      audiences.clear();
    },
  };
}
