import type { Cluster, Redis } from 'ioredis';
import { cursorOf, messageId, newEpoch, type Cursor } from '../history/cursor.js';
import type { HistoryOptions, HistoryWindow, MessageDraft, StreamRef } from '../history/history.js';
import { payloadJsonOf, type Message } from '../publish/message.js';

/**
 * A stream's history on Redis: a hash (its epoch and newest offset) and a Redis Stream (its newest
 * HISTORY_SIZE messages, entry id `<offset>-0`), both dropped HISTORY_TTL after the last publish.
 * Both keys carry one Redis Cluster hash tag, the stream's audience and topic, so one script may
 * touch both on a cluster; the tag comes before the part that differs, so a REDIS_PREFIX holding
 * braces cannot split them.
 *   <prefix>:{<audience>:<topic>}:meta       <prefix>:{<audience>}:meta (broadcasts)
 *   <prefix>:{<audience>:<topic>}:history    <prefix>:{<audience>}:history
 */
export function historyKeys(prefix: string, stream: StreamRef): [meta: string, history: string] {
  const tag = streamTag(prefix, stream);
  return [`${tag}:meta`, `${tag}:history`];
}

/** What a stream's keys start with, its hash tag included; on a cluster its own shard channel shares it (redis-channels.ts). */
export function streamTag(prefix: string, { audience, topic }: StreamRef): string {
  return `${prefix}:{${encodeURIComponent(audience)}${topic === null ? '' : `:${topic}`}}`;
}

/**
 * Append and publish in one atomic step, so history order and live order are the same order across
 * every instance and publisher. A stream without meta (new, expired, or lost with Redis's data)
 * starts a new epoch, the caller's proposal, and any orphaned history goes with the old one.
 * The message text is built here because its id is: `{"id":"<id>",` + the rest the caller sent.
 * `publish` is the script's last step: classic PUBLISH on one Redis, SPUBLISH on a cluster.
 */
const appendScript = (publish: string): string => `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local id = epoch .. '-' .. string.format('%012d', offset)
local text = '{"id":"' .. id .. '",' .. ARGV[4]
local size = tonumber(ARGV[2])
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-0', 'm', text)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
${publish}
return id
`;

/** One Redis: every channel (ARGV[5…]) is published by the script. */
const APPEND = appendScript(`for i = 5, #ARGV do
  redis.call('PUBLISH', ARGV[i], text)
end`);

/**
 * Redis Cluster: the stream's own shard channel (KEYS[3]) shares its keys' hash tag, so the script
 * SPUBLISHes there on the shard that keeps its history; a channel of another slot cannot be named here.
 */
const APPEND_SHARDED = appendScript(`redis.call('SPUBLISH', KEYS[3], text)`);

/**
 * One consistent read: epoch, newest offset, oldest kept offset, then the entries' texts (after the
 * cursor's offset, or the newest ARGV[2] without one). An empty reply: no such stream.
 */
const READ = `
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if not meta[1] then return {} end
local out = {meta[1], meta[2]}
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #oldest > 0 then out[3] = oldest[1][1] else out[3] = '' end
local entries
if ARGV[1] == '' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
  for i = #entries, 1, -1 do out[#out + 1] = entries[i][2][2] end
else
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
  for i = 1, #entries do out[#out + 1] = entries[i][2][2] end
end
return out
`;

/**
 * Where a stream stands: its epoch and newest offset. A stream without meta gets one, as the append
 * script would make it (the caller's proposed epoch, offset 0, orphaned history dropped, HISTORY_TTL),
 * so its first publish continues that epoch: a subscriber anchored at offset 0 then resumes from it.
 * An existing stream's TTL is left alone: it counts from the last publish, not from reads.
 */
const HEAD = `
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'offset', 0)
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'epoch', 'offset')
`;

interface HistoryCommands {
  heraldHead(meta: string, history: string, epoch: string, ttlMs: number): Promise<[string, string]>;
  heraldAppend(meta: string, history: string, epoch: string, size: number, ttlMs: number, rest: string, ...channels: string[]): Promise<string>;
  heraldAppendSharded(meta: string, history: string, channel: string, epoch: string, size: number, ttlMs: number, rest: string): Promise<string>;
  heraldRead(meta: string, history: string, after: string, limit: number): Promise<string[]>;
}

export interface RedisHistory {
  /**
   * Runs the append script: the message, stamped with its id, is kept and published on `channels`.
   * Sharded, the first channel must be the stream's own (shardChannelName), published by the script;
   * the others (the audience's patterns channel, on its own shard) are SPUBLISHed once it returned.
   */
  append(draft: MessageDraft, channels: readonly string[]): Promise<Message>;
  read(stream: StreamRef, cursor: Cursor | undefined, limit: number, parse: (text: string) => Message | undefined): Promise<HistoryWindow | undefined>;
  /** Runs the head script: the stream's newest id, or offset 0 of the epoch it makes for a stream that has none. */
  head(stream: StreamRef): Promise<Cursor>;
}

/** `sharded`: `client` is a Redis Cluster client, and messages go out with SPUBLISH on shard channels. */
export function createRedisHistory(client: Redis | Cluster, prefix: string, options: HistoryOptions, sharded = false): RedisHistory {
  // defineCommand runs EVALSHA and falls back to EVAL when Redis lost its script cache (a restart).
  client.defineCommand('heraldAppend', { numberOfKeys: 2, lua: APPEND });
  client.defineCommand('heraldAppendSharded', { numberOfKeys: 3, lua: APPEND_SHARDED });
  client.defineCommand('heraldRead', { numberOfKeys: 2, lua: READ });
  client.defineCommand('heraldHead', { numberOfKeys: 2, lua: HEAD });
  const commands = client as unknown as HistoryCommands;
  return {
    async append(draft, channels) {
      const [meta, history] = historyKeys(prefix, draft);
      const rest = restOfWireText(draft);
      if (!sharded) return { ...draft, id: await commands.heraldAppend(meta, history, newEpoch(), options.size, options.ttlMs, rest, ...channels) };
      const [own, ...others] = channels;
      if (own === undefined) throw new Error('a sharded append publishes on the stream’s own channel first');
      const id = await commands.heraldAppendSharded(meta, history, own, newEpoch(), options.size, options.ttlMs, rest);
      // The text the script published, made the same way.
      const text = `{"id":"${id}",${rest}`;
      await Promise.all(others.map((channel) => client.spublish(channel, text)));
      return { ...draft, id };
    },
    async head(stream) {
      const [meta, history] = historyKeys(prefix, stream);
      const [epoch, offset] = await commands.heraldHead(meta, history, newEpoch(), options.ttlMs);
      return cursorOf(messageId(epoch, Number(offset)));
    },
    async read(stream, cursor, limit, parse) {
      const [meta, history] = historyKeys(prefix, stream);
      const reply = await commands.heraldRead(meta, history, cursor === undefined ? '' : String(cursor.offset), limit);
      if (reply.length === 0) return undefined;
      const last = Number(reply[1]);
      const oldest = reply[2]!;
      const messages: Message[] = [];
      for (const text of reply.slice(3)) {
        const message = parse(text);
        if (message !== undefined) messages.push(message);
      }
      return { epoch: reply[0]!, last, first: oldest === '' ? last + 1 : Number(oldest.split('-', 1)[0]), messages };
    },
  };
}

/**
 * A message as it travels on Redis, after its id: `"audience":…,"payload":<payload text>}`. The
 * payload's text is the one made at publish (payloadJson), so it is stringified once, not again for the bus.
 */
export function restOfWireText(draft: MessageDraft): string {
  // An id already on the draft (tests hand whole messages) is not sent: the script stamps its own first.
  const { payload: _payload, payloadJson: _payloadJson, id: _id, ...fields } = draft as MessageDraft & { id?: string };
  return `${JSON.stringify(fields).slice(1, -1)},"payload":${payloadJsonOf(draft)}}`;
}
