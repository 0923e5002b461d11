import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, waitForSubscribers, wsClient, type TestHerald } from './helpers/herald.js';
import { redisChannelName } from '../src/bus/redis-channels.js';
import { numsub, REDIS_URL, redisAvailable, uniquePrefix } from './helpers/redis.js';
import { until } from './helpers/until.js';

/**
 * A blip on one gateway's Redis subscriber connection (CLIENT KILL: Redis stays up, the publisher
 * gateway does not notice) must cost its subscribers nothing: the gateway itself reads back from
 * history what was published while its subscriber connection was down, so a plain graphql-ws client
 * (no resume of its own, no reconnect) gets every message exactly once, in order, on the same socket.
 */
const canRun = await redisAvailable();

const PUBLISH = 'mutation ($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id } }';
const SUBSCRIBE = 'subscription ($name: String!) { topic(name: $name) { id payload } }';

interface ClientInfo {
  readonly id: string;
  readonly name: string;
  readonly sub: number;
  readonly psub: number;
  readonly cmd: string;
}

async function clientList(admin: Redis): Promise<ClientInfo[]> {
  const text = (await admin.call('CLIENT', 'LIST')) as string;
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = new Map(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
      return {
        id: fields.get('id') ?? '',
        name: fields.get('name') ?? '',
        sub: Number(fields.get('sub') ?? 0),
        psub: Number(fields.get('psub') ?? 0),
        cmd: fields.get('cmd') ?? '',
      };
    });
}

const isSubscriber = (info: ClientInfo): boolean => info.sub > 0 || info.psub > 0 || /subscribe/.test(info.cmd);

describe.runIf(canRun)('Redis subscriber blip', () => {
  const prefix = uniquePrefix('blip');
  let admin: Redis;
  let gatewayB: TestHerald;
  let gatewayA: TestHerald;
  /** Gateway B's connection ids: every other connection named `<prefix>:herald` is gateway A's. */
  let connectionsOfB: Set<string>;
  const logOfA: Array<{ msg: string; missed?: number }> = [];

  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    gatewayB = await startHerald({ REDIS_URL, REDIS_PREFIX: prefix });
    const named = async () => (await clientList(admin)).filter((info) => info.name === `${prefix}:herald`);
    // Both of B's connections up, its subscriber on the count channel, before A exists.
    await until(async () => (await named()).filter(isSubscriber).length === 1 && (await named()).length === 2, "gateway B's connections");
    connectionsOfB = new Set((await named()).map((info) => info.id));
    // A's logs are kept: its catch-up reports how many messages it read back, which proves each kill made a gap.
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logOfA.push(JSON.parse(line) as { msg: string; missed?: number });
        done();
      },
    });
    gatewayA = await startHerald({ REDIS_URL, REDIS_PREFIX: prefix }, { logger: pino({ level: 'info' }, sink) });
  });
  afterAll(async () => {
    await gatewayA.stop();
    await gatewayB.stop();
    admin.disconnect();
  });

  /** Gateway A's subscriber connection once it has subscribed at least `channels` channels (the count channels plus the topic). */
  const subscriberOfA = async (channels: number): Promise<ClientInfo | undefined> =>
    (await clientList(admin)).find((info) => info.name === `${prefix}:herald` && !connectionsOfB.has(info.id) && isSubscriber(info) && info.sub >= channels);

  it('delivers every message once, in order, on the same socket, through repeated CLIENT KILLs of the subscriber connection', async () => {
    const audience = 'blip';
    const topic = 'ticks';
    const publisher = await token({ audience, scopes: ['publish'] });
    const client = wsClient(gatewayA.wsUrl, { connectionParams: { token: await token({ audience, scopes: ['subscribe'] }) } });
    let socketClosed = false;
    client.on('closed', () => (socketClosed = true));
    const received: Array<{ id: string; payload: number }> = [];
    let ended: unknown;
    const dispose = client.subscribe<{ topic: { id: string; payload: number } }>(
      { query: SUBSCRIBE, variables: { name: topic } },
      {
        next: (result) => received.push(result.data!.topic),
        error: (error) => (ended = error),
        complete: () => (ended = 'complete'),
      },
    );
    await waitForSubscribers(gatewayA.app, audience, topic);
    // A's subscriber carries the count request and reply channels; the topic makes a third.
    await until(async () => (await subscriberOfA(3)) !== undefined, "gateway A's SUBSCRIBE to the topic");

    // The publisher: numbered messages through gateway B, one every few milliseconds, until told to stop.
    let published = 0;
    const control = { stop: false };
    const publishing = (async () => {
      while (!control.stop) {
        const response = await gql(gatewayB.httpUrl, publisher, PUBLISH, { topic, payload: published + 1 });
        if (response.errors !== undefined) throw new Error(`publish ${published + 1} failed: ${JSON.stringify(response.errors)}`);
        published++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const lastDelivered = (): number => received.at(-1)?.payload ?? 0;

    const kills = 3;
    const started = Date.now();
    try {
      for (let k = 0; k < kills; k++) {
        await until(() => published >= 20 * (k + 1) && lastDelivered() >= published - 1, `deliveries before kill ${k + 1}`);
        const victim = await subscriberOfA(3);
        expect(victim).toBeDefined();
        await admin.call('CLIENT', 'KILL', 'ID', victim!.id);
        // A new subscriber connection of A's, with the topic subscribed again.
        await until(async () => ![undefined, victim!.id].includes((await subscriberOfA(3))?.id), `A's subscriber back after kill ${k + 1}`);
        // Deliveries go on beyond what was published while A's subscriber was away.
        const before = published;
        await until(() => lastDelivered() > before, `deliveries after kill ${k + 1}`);
      }
    } finally {
      control.stop = true;
      await publishing;
    }
    await until(() => lastDelivered() >= published, 'the last message');
    const elapsed = Date.now() - started;

    expect(received.map((message) => message.payload)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(new Set(received.map((message) => message.id)).size).toBe(published);
    expect(ended).toBeUndefined();
    expect(socketClosed).toBe(false);
    // Every kill was followed by a catch-up, and at least one of them read back messages live delivery missed.
    const catchUps = logOfA.filter((line) => line.msg.includes('caught up from history'));
    expect(catchUps).toHaveLength(kills);
    const missed = catchUps.reduce((sum, line) => sum + (line.missed ?? 0), 0);
    expect(missed).toBeGreaterThan(0);
    console.info(`redis blip: ${published} messages, ${kills} kills, ${missed} read back from history, ${elapsed} ms`);
    dispose();
    await client.dispose();
  });
  it('catches up a topic that had delivered nothing yet when the subscriber connection dropped', async () => {
    const audience = 'blip-fresh';
    const topic = 'first';
    const publisher = await token({ audience, scopes: ['publish'] });
    const client = wsClient(gatewayA.wsUrl, { connectionParams: { token: await token({ audience, scopes: ['subscribe'] }) } });
    let socketClosed = false;
    client.on('closed', () => (socketClosed = true));
    const received: number[] = [];
    const dispose = client.subscribe<{ topic: { id: string; payload: number } }>(
      { query: SUBSCRIBE, variables: { name: topic } },
      { next: (result) => received.push(result.data!.topic.payload), error: () => received.push(-1), complete: () => received.push(-2) },
    );
    await waitForSubscribers(gatewayA.app, audience, topic);
    // The count channels, the first test's topic (if still subscribed) and this one: wait until this topic is on A's subscriber.
    await until(async () => (await numsub(admin, [redisChannelName(prefix, { kind: 'topic', audience, topic })]))[0] === 1, 'the SUBSCRIBE');
    const victim = (await subscriberOfA(3))!;
    await admin.call('CLIENT', 'KILL', 'ID', victim.id);
    // ioredis waits before reconnecting: this publish lands while A is not subscribed.
    expect((await gql(gatewayB.httpUrl, publisher, PUBLISH, { topic, payload: 1 })).errors).toBeUndefined();
    await until(async () => (await numsub(admin, [redisChannelName(prefix, { kind: 'topic', audience, topic })]))[0] === 1, 'the SUBSCRIBE again');
    expect((await gql(gatewayB.httpUrl, publisher, PUBLISH, { topic, payload: 2 })).errors).toBeUndefined();
    await until(() => received.includes(2), 'the message published after the reconnect');
    expect(received).toEqual([1, 2]);
    expect(socketClosed).toBe(false);
    dispose();
    await client.dispose();
  });
});
