import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, Channel } from '../src/bus/bus.js';
import { createMemoryBus } from '../src/bus/memory-bus.js';
import { createRedisBus, createRedisBusOver } from '../src/bus/redis-bus.js';
import { clusterControlRequestChannel, controlRequestChannel, redisChannelName, shardChannelName } from '../src/bus/redis-channels.js';
import { createRedisClusterLink } from '../src/bus/redis-cluster-link.js';
import { DEFAULT_HISTORY } from '../src/history/history.js';
import { HeraldError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { Message } from '../src/publish/message.js';
import { numsub, REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { startPrivateRedisCluster, type PrivateRedisCluster } from './helpers/redis-cluster.js';
import { until } from './helpers/until.js';

const quiet = createLogger('silent');
const hasRedis = await redisAvailable();

let sequence = 0;
const message = (audience: string, topic: string | null, payload: unknown = ++sequence): Message => ({
  id: String(++sequence).padStart(8, '0'),
  audience,
  topic,
  payload,
  publishedAt: new Date().toISOString(),
  publisher: null,
});

/** One bus on a backend, plus a way to wait until its listening has reached the backend. */
interface OpenedBus {
  readonly bus: Bus;
  /** Resolves once the bus delivers `channel`'s messages (Redis: SUBSCRIBE done) and can publish. */
  readonly listening: (channel: Channel) => Promise<void>;
}

interface Deployment {
  open(): OpenedBus;
  /** Resolves once `instances` instances answer subscriber-count questions. */
  answering(instances: number): Promise<void>;
}

interface BusFactory {
  readonly name: string;
  readonly enabled: boolean;
  /** Buses opened by one factory share a backend (and, for Redis, a prefix): they are instances of one deployment. */
  deployment(): Deployment;
}

let admin: Redis | undefined;
/** A Redis Cluster of this file's own (3 masters), for the cluster bus: it never depends on the shared Redis. */
let cluster: PrivateRedisCluster | undefined;
beforeAll(async () => {
  if (hasRedis) admin = new Redis(REDIS_URL);
  cluster = await startPrivateRedisCluster({ masters: 3, replicasPerMaster: 0 });
}, 60_000);
afterAll(async () => {
  admin?.disconnect();
  await cluster?.stop();
});

/** A bus on this file's Redis Cluster (REDIS_CLUSTER_NODES). */
const openClusterBus = (prefix: string, history = DEFAULT_HISTORY, nodes = cluster!.nodes, patternInterestTtlMs?: number): Bus =>
  createRedisBusOver(createRedisClusterLink({ cluster: { nodes, username: undefined, password: undefined, tls: false }, prefix, logger: quiet, history }), {
    logger: quiet,
    history,
    patternInterestTtlMs,
  });

const available = (bus: Bus): boolean => {
  try {
    bus.assertAvailable();
    return true;
  } catch {
    return false;
  }
};

const opened: Bus[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((bus) => bus.close()));
});

const factories: BusFactory[] = [
  {
    name: 'memory',
    enabled: true,
    deployment() {
      // One process is one instance: the memory bus has nobody to share with.
      const bus = createMemoryBus();
      opened.push(bus);
      return { open: () => ({ bus, listening: async () => {} }), answering: async () => {} };
    },
  },
  {
    name: 'redis',
    enabled: hasRedis,
    deployment() {
      const prefix = uniquePrefix('bus');
      return {
        open() {
          const bus = createRedisBus({ url: REDIS_URL, prefix, logger: quiet });
          opened.push(bus);
          return {
            bus,
            async listening(channel) {
              await until(() => available(bus), 'the bus to connect');
              const name = redisChannelName(prefix, channel);
              // Our own SUBSCRIBE is the one Redis counts once it is done.
              await until(async () => ((await numsub(admin!, [name]))[0] ?? 0) > 0, `SUBSCRIBE ${name}`);
            },
          };
        },
        answering: (instances) => until(async () => (await numsub(admin!, [controlRequestChannel(prefix)]))[0] === instances, `${instances} count answerers`),
      };
    },
  },
  {
    name: 'redis cluster',
    enabled: true,
    deployment() {
      const prefix = uniquePrefix('cluster-bus');
      return {
        open() {
          const bus = openClusterBus(prefix);
          opened.push(bus);
          return {
            bus,
            async listening(channel) {
              await until(() => available(bus), 'the bus to connect');
              const name = shardChannelName(prefix, channel);
              await until(async () => (await cluster!.shardNumsub(name)) > 0, `SSUBSCRIBE ${name}`);
            },
          };
        },
        answering: (instances) =>
          until(async () => (await cluster!.shardNumsub(clusterControlRequestChannel(prefix))) === instances, `${instances} count answerers`),
      };
    },
  },
];

/** Collects what a listener gets. */
function collector() {
  const got: Message[] = [];
  return { got, listener: (m: Message) => void got.push(m), payloads: () => got.map((m) => m.payload) };
}

describe.each(factories)('Bus contract: $name', (factory) => {
  it.runIf(factory.enabled)('a topic message reaches its topic channel and its audience pattern channel, nothing else', async () => {
    const { bus, listening } = factory.deployment().open();
    const topic = collector();
    const patterns = collector();
    const otherTopic = collector();
    const otherAudience = collector();
    const broadcasts = collector();
    const channels: Array<[Channel, (m: Message) => void]> = [
      [{ kind: 'topic', audience: 'a', topic: 'orders/1' }, topic.listener],
      [{ kind: 'patterns', audience: 'a' }, patterns.listener],
      [{ kind: 'topic', audience: 'a', topic: 'orders/2' }, otherTopic.listener],
      [{ kind: 'topic', audience: 'b', topic: 'orders/1' }, otherAudience.listener],
      [{ kind: 'patterns', audience: 'b' }, otherAudience.listener],
      [{ kind: 'broadcasts', audience: 'a' }, broadcasts.listener],
    ];
    for (const [channel, listener] of channels) bus.listen(channel, listener);
    for (const [channel] of channels) await listening(channel);

    await bus.publish(message('a', 'orders/1', 'hello'));
    await bus.publish(message('a', null, 'to everyone'));
    await until(() => topic.got.length === 1 && patterns.got.length === 1 && broadcasts.got.length === 1, 'deliveries');
    // Sentinels on every channel: once they arrive, anything misrouted before them would have arrived too.
    await bus.publish(message('a', 'orders/2', 'sentinel'));
    await bus.publish(message('b', 'orders/1', 'sentinel'));
    await until(() => otherTopic.got.length === 1 && otherAudience.got.length === 2, 'sentinels');

    expect(topic.payloads()).toEqual(['hello']);
    expect(patterns.payloads()).toEqual(['hello', 'sentinel']);
    expect(broadcasts.payloads()).toEqual(['to everyone']);
    expect(otherTopic.payloads()).toEqual(['sentinel']);
    expect(otherAudience.payloads()).toEqual(['sentinel', 'sentinel']);
    expect(topic.got[0]).toMatchObject({ audience: 'a', topic: 'orders/1', publisher: null });
  });

  it.runIf(factory.enabled)('keeps publish order on a channel', async () => {
    const { bus, listening } = factory.deployment().open();
    const { got, listener } = collector();
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'seq' };
    bus.listen(channel, listener);
    await listening(channel);
    const sent = Array.from({ length: 300 }, (_, i) => i);
    await Promise.all(sent.map((i) => bus.publish(message('a', 'seq', i))));
    await until(() => got.length === sent.length, '300 messages');
    expect(got.map((m) => m.payload)).toEqual(sent);
  });

  it.runIf(factory.enabled)('a stopped listener hears nothing more; others on the channel go on', async () => {
    const { bus, listening } = factory.deployment().open();
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 't' };
    const leaving = collector();
    const staying = collector();
    const stop = bus.listen(channel, leaving.listener);
    bus.listen(channel, staying.listener);
    await listening(channel);
    await bus.publish(message('a', 't', 1));
    await until(() => leaving.got.length === 1 && staying.got.length === 1, 'first message');
    stop();
    stop(); // idempotent
    await bus.publish(message('a', 't', 2));
    await until(() => staying.got.length === 2, 'second message');
    expect(leaving.payloads()).toEqual([1]);
    expect(staying.payloads()).toEqual([1, 2]);
  });

  it.runIf(factory.enabled)('every instance of a deployment receives a message once', async () => {
    const deployment = factory.deployment();
    const instances = [deployment.open(), deployment.open(), deployment.open()];
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'shared' };
    const collectors = instances.map(() => collector());
    instances.forEach(({ bus }, i) => bus.listen(channel, collectors[i]!.listener));
    for (const { listening } of instances) await listening(channel);
    await instances[2]!.bus.publish(message('a', 'shared', 'once'));
    await instances[2]!.bus.publish(message('a', 'shared', 'sentinel'));
    await until(() => collectors.every((c) => c.got.length >= 2), 'every instance');
    // The memory "deployment" is one bus, so its three listeners are three listeners of one instance.
    for (const c of collectors) expect(c.payloads()).toEqual(['once', 'sentinel']);
  });
});

describe.each(factories)('Bus pattern order: $name', (factory) => {
  it.runIf(factory.enabled)("a pattern listener gets each topic's messages once, in their order, while instances publish to one topic at once", async () => {
    const deployment = factory.deployment();
    const instances = [deployment.open(), deployment.open(), deployment.open()];
    const patterns: Channel = { kind: 'patterns', audience: 'order' };
    const { got, listener } = collector();
    instances[0]!.bus.listen(patterns, listener);
    await instances[0]!.listening(patterns);
    for (const { bus } of instances) await until(() => available(bus), 'connected');
    const topics = ['t1', 't2'];
    // Each topic seen once first: a topic's first moments on a channel are the only place it may arrive out of order.
    for (const topic of topics) await instances[1]!.bus.publish(message('order', topic, 'first'));
    await until(() => got.length === topics.length, 'the first message of each topic');
    got.splice(0);
    const published = await Promise.all(
      instances.flatMap(({ bus }, i) => Array.from({ length: 150 }, (_, n) => bus.publish(message('order', topics[n % 2]!, `${i}-${n}`)))),
    );
    await until(() => got.length >= published.length, `${published.length} pattern deliveries`);
    for (const topic of topics) {
      const ids = got.filter((m) => m.topic === topic).map((m) => m.id);
      const expected = published.filter((m) => m.topic === topic).map((m) => m.id);
      // Ids of one topic are its order (its stream's epoch and offset).
      expect(ids).toEqual([...expected].sort());
    }
  });
});

describe.each(factories)('Bus subscriber counts: $name', (factory) => {
  it.runIf(factory.enabled)("sums every instance's own answer for the audience and topic asked", async () => {
    const deployment = factory.deployment();
    // The memory deployment is one instance, so only the last answer it was given counts.
    const instances = factory.name === 'memory' ? [deployment.open()] : [deployment.open(), deployment.open(), deployment.open()];
    instances.forEach(({ bus }, i) =>
      bus.answerWith((question) =>
        question.kind !== 'subscribers'
          ? 0
          : question.audience === 'a' && question.topic === 'x'
            ? 10 ** i
            : question.audience === 'a' && question.topic === null
              ? 7
              : 0,
      ),
    );
    await deployment.answering(instances.length);
    for (const { bus } of instances) await until(() => available(bus), 'connected');
    const expected = instances.reduce((sum, _, i) => sum + 10 ** i, 0);
    for (const { bus } of instances) {
      expect(await bus.ask({ kind: 'subscribers', audience: 'a', topic: 'x' })).toBe(expected);
      expect(await bus.ask({ kind: 'subscribers', audience: 'a', topic: null })).toBe(7 * instances.length);
      expect(await bus.ask({ kind: 'subscribers', audience: 'b', topic: 'x' })).toBe(0);
    }
  });
});

describe.each(factories)('Bus stream heads: $name', (factory) => {
  it.runIf(factory.enabled)("a new stream's head is offset 0 of an epoch its first publish continues; then its newest id", async () => {
    const { bus } = factory.deployment().open();
    await until(() => available(bus), 'connected');
    for (const stream of [
      { audience: 'heads', topic: 'fresh' },
      { audience: 'heads', topic: null },
    ]) {
      const head = (await bus.head(stream))!;
      expect(head.offset).toBe(0);
      // Read again, the same epoch: a head read makes the epoch once, it does not replace it.
      expect((await bus.head(stream))!.id).toBe(head.id);
      // A resume from it is covered (nothing after it yet).
      expect(await bus.history(stream, head, 10)).toEqual([]);
      const first = await bus.publish(message(stream.audience, stream.topic));
      expect(first.id).toBe(`${head.epoch}-000000000001`);
      expect(await bus.history(stream, head, 10)).toMatchObject([{ id: first.id }]);
      expect((await bus.head(stream))!.id).toBe(first.id);
    }
  });
});

describe('Bus stream heads with HISTORY_SIZE=0', () => {
  it.each([
    ['memory', true],
    ['redis', hasRedis],
    ['redis cluster', true],
  ])('%s: no head to resume from', async (name, enabled) => {
    if (!enabled) return;
    const off = { size: 0, ttlMs: 60_000 };
    const bus =
      name === 'memory'
        ? createMemoryBus(off)
        : name === 'redis'
          ? createRedisBus({ url: REDIS_URL, prefix: uniquePrefix('heads-off'), logger: quiet, history: off })
          : openClusterBus(uniquePrefix('heads-off'), off);
    opened.push(bus);
    await until(() => available(bus), 'connected');
    expect(await bus.head({ audience: 'a', topic: 'x' })).toBeUndefined();
  });
});

describe.runIf(hasRedis)('Redis bus', () => {
  it('unsubscribes from a channel when its last local listener leaves (PUBSUB NUMSUB)', async () => {
    const prefix = uniquePrefix('numsub');
    const bus = createRedisBus({ url: REDIS_URL, prefix, logger: quiet });
    opened.push(bus);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'x' };
    const name = redisChannelName(prefix, channel);
    const stops = [bus.listen(channel, () => {}), bus.listen(channel, () => {})];
    await until(async () => (await numsub(admin!, [name]))[0] === 1, 'one SUBSCRIBE for two listeners');
    stops[0]!();
    // Still one: the other listener is there. Checked after a PING round trip on the same connection order.
    await admin!.ping();
    expect(await numsub(admin!, [name])).toEqual([1]);
    stops[1]!();
    await until(async () => (await numsub(admin!, [name]))[0] === 0, 'UNSUBSCRIBE after the last listener');
  });

  it('keeps deployments with different REDIS_PREFIX apart on one Redis', async () => {
    const mine = createRedisBus({ url: REDIS_URL, prefix: uniquePrefix('mine'), logger: quiet });
    const theirs = createRedisBus({ url: REDIS_URL, prefix: uniquePrefix('theirs'), logger: quiet });
    opened.push(mine, theirs);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'same' };
    const heardMine = collector();
    const heardTheirs = collector();
    mine.listen(channel, heardMine.listener);
    theirs.listen(channel, heardTheirs.listener);
    await until(() => available(mine) && available(theirs), 'both buses');
    await until(async () => ((await admin!.call('PUBSUB', 'CHANNELS', '*:topic:a:same')) as string[]).length >= 2, 'both subscribed');
    await theirs.publish(message('a', 'same', 'theirs'));
    await mine.publish(message('a', 'same', 'mine'));
    await until(() => heardMine.got.length === 1 && heardTheirs.got.length === 1, 'own messages');
    expect(heardMine.payloads()).toEqual(['mine']);
    expect(heardTheirs.payloads()).toEqual(['theirs']);
  });

  it('drops malformed or foreign-audience traffic on its channels and goes on delivering', async () => {
    const prefix = uniquePrefix('garbage');
    const bus = createRedisBus({ url: REDIS_URL, prefix, logger: quiet });
    opened.push(bus);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'x' };
    const { got, payloads, listener } = collector();
    bus.listen(channel, listener);
    const name = redisChannelName(prefix, channel);
    await until(async () => available(bus) && (await numsub(admin!, [name]))[0] === 1, 'subscribed');
    await admin!.publish(name, 'not json');
    await admin!.publish(name, JSON.stringify({ hello: 'world' }));
    await admin!.publish(name, JSON.stringify(message('b', 'x', 'other audience')));
    // payloadJson is never on the wire: a delivery would write it as the payload's text unchecked.
    await admin!.publish(name, JSON.stringify({ ...message('a', 'x', 'forged'), payloadJson: '{"not":"the payload"' }));
    await bus.publish(message('a', 'x', 'good'));
    await until(() => got.length === 1, 'the good message');
    expect(payloads()).toEqual(['good']);
  });

  it('carries the payload as the text the publish made, once, and never the text itself', async () => {
    const prefix = uniquePrefix('wire');
    const bus = createRedisBus({ url: REDIS_URL, prefix, logger: quiet });
    opened.push(bus);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'x' };
    const { got, listener } = collector();
    bus.listen(channel, listener);
    const name = redisChannelName(prefix, channel);
    const tap = new Redis(REDIS_URL);
    const wire: string[] = [];
    tap.on('message', (_channel: string, text: string) => wire.push(text));
    try {
      await tap.subscribe(name);
      await until(async () => available(bus) && (await numsub(admin!, [name]))[0] === 2, 'bus and tap subscribed');
      const payload = { n: 1, text: 'é "quoted"', list: [null, true] };
      // As the publish service makes it; spaced out, so the wire shows which text it carries.
      const sent: Message = { ...message('a', 'x', payload), payloadJson: JSON.stringify(payload, null, 1) };
      const stamped = await bus.publish(sent);
      await until(() => got.length === 1 && wire.length === 1, 'the message and its wire text');
      expect(wire[0]).toContain(`"payload":${sent.payloadJson}}`);
      expect(wire[0]).not.toContain('payloadJson');
      const { payloadJson: _text, ...plain } = sent;
      // The bus stamps its own id (the stream's epoch and offset) over the one the draft had.
      expect(got[0]).toEqual({ ...plain, id: stamped.id });
      expect(stamped.id).not.toBe(sent.id);
    } finally {
      tap.disconnect();
    }
  });

  it('does not count event-loop lag as a publish timeout: a reply waiting unread behind a busy loop succeeds', async () => {
    const bus = createRedisBus({ url: REDIS_URL, prefix: uniquePrefix('lag'), logger: quiet, publishTimeoutMs: 50 });
    opened.push(bus);
    await until(() => available(bus), 'connected');
    // Resume inside an I/O callback (a Redis reply), as a fan-out burst runs: the next loop turn
    // then meets its timers before it reads any socket.
    await admin!.ping();
    const publishing = bus.publish(message('a', 'x'));
    // The loop is busy for six times the timeout; Redis answers long before it ends.
    const busyUntil = Date.now() + 300;
    while (Date.now() < busyUntil);
    await expect(publishing).resolves.toMatchObject({ audience: 'a', topic: 'x' });
  });

  it('fails publish fast with UNAVAILABLE while Redis cannot be reached, and reports not available', async () => {
    // Port 1 on loopback: nothing listens, every connection attempt is refused.
    const bus = createRedisBus({ url: 'redis://127.0.0.1:1', prefix: uniquePrefix('down'), logger: quiet });
    opened.push(bus);
    expect(() => bus.assertAvailable()).toThrow(HeraldError);
    const failure = await bus.publish(message('a', 'x')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HeraldError);
    expect((failure as HeraldError).code).toBe('UNAVAILABLE');
  });
});

describe('Redis Cluster bus', () => {
  it('SSUBSCRIBEs once per channel and SUNSUBSCRIBEs when its last local listener leaves (PUBSUB SHARDNUMSUB)', async () => {
    const prefix = uniquePrefix('shardnumsub');
    const bus = openClusterBus(prefix);
    opened.push(bus);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'x' };
    const name = shardChannelName(prefix, channel);
    const stops = [bus.listen(channel, () => {}), bus.listen(channel, () => {})];
    await until(async () => (await cluster!.shardNumsub(name)) === 1, 'one SSUBSCRIBE for two listeners');
    stops[0]!();
    // Still one while the other listener is there; a second channel's SSUBSCRIBE, done after, orders the check.
    const later: Channel = { kind: 'topic', audience: 'a', topic: 'later' };
    bus.listen(later, () => {});
    await bus.listening(later);
    expect(await cluster!.shardNumsub(name)).toBe(1);
    stops[1]!();
    await until(async () => (await cluster!.shardNumsub(name)) === 0, 'SUNSUBSCRIBE after the last listener');
  });

  it('drops malformed or foreign-audience traffic on its shard channels and goes on delivering', async () => {
    const prefix = uniquePrefix('cluster-garbage');
    const bus = openClusterBus(prefix);
    opened.push(bus);
    const channel: Channel = { kind: 'topic', audience: 'a', topic: 'x' };
    const { got, payloads, listener } = collector();
    bus.listen(channel, listener);
    const name = shardChannelName(prefix, channel);
    await until(async () => available(bus) && (await cluster!.shardNumsub(name)) === 1, 'subscribed');
    const writer = new Cluster(cluster!.nodes.map(({ host, port }) => ({ host, port })));
    try {
      await writer.spublish(name, 'not json');
      await writer.spublish(name, JSON.stringify({ hello: 'world' }));
      await writer.spublish(name, JSON.stringify(message('b', 'x', 'other audience')));
      await writer.spublish(name, JSON.stringify({ ...message('a', 'x', 'forged'), payloadJson: '{"not":"the payload"' }));
    } finally {
      writer.disconnect();
    }
    await bus.publish(message('a', 'x', 'good'));
    await until(() => got.length === 1, 'the good message');
    expect(payloads()).toEqual(['good']);
  });

  it("publishes an audience's pattern channel only while an instance listens there, which a new instance learns at start", async () => {
    const prefix = uniquePrefix('pattern-interest');
    const ttl = 600;
    const open = (): Bus => {
      const bus = openClusterBus(prefix, DEFAULT_HISTORY, undefined, ttl);
      opened.push(bus);
      return bus;
    };
    const [a, b] = [open(), open()];
    const patterns: Channel = { kind: 'patterns', audience: 'quiet' };
    const name = shardChannelName(prefix, patterns);
    // A tap on the pattern channel that the buses do not know of: it announces nothing.
    const seeds = cluster!.nodes.map(({ host, port }) => ({ host, port }));
    const tap = new Cluster(seeds, { shardedSubscribers: true });
    const writer = new Cluster(seeds);
    const tapped: string[] = [];
    tap.on('smessage', (_channel: string, text: string) => void tapped.push(text));
    try {
      await tap.ssubscribe(name);
      await until(() => available(a) && available(b), 'connected');
      /** Whether a publish on `bus` left the pattern channel out: a sentinel SPUBLISHed after it arrives alone. */
      const skipped = async (bus: Bus): Promise<boolean> => {
        const from = tapped.length;
        await bus.publish(message('quiet', 'x', 'probe'));
        await writer.spublish(name, 'sentinel');
        await until(() => tapped.slice(from).includes('sentinel'), 'the sentinel');
        return tapped.slice(from).every((text) => text === 'sentinel');
      };
      // Nobody listens: once A has synced with the others, it leaves the pattern channel out.
      await until(() => skipped(a), 'A to leave the pattern channel out');

      const heard = collector();
      const stop = b.listen(patterns, heard.listener);
      await b.listening(patterns);
      expect(await skipped(a)).toBe(false);
      await until(() => heard.got.length === 1, 'the pattern listener on B');
      // A new instance learns of B's listener when it syncs at start, and B says it again while it listens: past the TTL, both still publish it.
      const c = open();
      await until(() => available(c), 'C connected');
      const since = Date.now();
      await until(async () => Date.now() - since > 2 * ttl && !(await skipped(a)) && !(await skipped(c)), 'published past the TTL while listened');

      stop();
      await until(async () => (await skipped(a)) && (await skipped(c)), 'a TTL after the last announcement');
    } finally {
      tap.disconnect();
      writer.disconnect();
    }
  });

  it('fails publish fast with UNAVAILABLE while no node can be reached, and reports not available', async () => {
    const bus = openClusterBus(uniquePrefix('cluster-down'), DEFAULT_HISTORY, [{ host: '127.0.0.1', port: 1 }]);
    opened.push(bus);
    expect(() => bus.assertAvailable()).toThrow(HeraldError);
    const failure = await bus.publish(message('a', 'x')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HeraldError);
    expect((failure as HeraldError).code).toBe('UNAVAILABLE');
  });
});
