import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from './helpers/herald.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { REDIS_BACKENDS, startRedisBackend, type RedisBackend } from './helpers/bus-backends.js';
import { redisAvailable } from './helpers/redis.js';
import { describeRun, oneTo, runTorture, tortureSeed, type TortureOptions, type TortureResult } from './helpers/torture.js';
import { until } from './helpers/until.js';

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const N = 2_000;
const K = 24;

const canRun = await redisAvailable();

/**
 * Issue 17's resume torture test on the Redis bus (one server, and a Redis Cluster): three gateway processes; every cut subscriber
 * comes back on another instance, and in a second run one instance is stopped with SIGTERM while
 * messages flow. Every subscriber ends with exactly 1..N.
 */
describe.runIf(canRun).each(REDIS_BACKENDS)('resume torture, three gateway processes on $name', ({ kind }) => {
  let backend: RedisBackend;
  let instances: HeraldProcess[] = [];
  let publisher: string;
  let reader: string;

  beforeAll(async () => {
    // History must hold the whole run: a subscription that never got a message resumes from the marker before 1.
    backend = await startRedisBackend(kind, 'torture');
    const env = { ...backend.env, HISTORY_SIZE: String(N * 2) };
    instances = await Promise.all([startHeraldProcess(env), startHeraldProcess(env), startHeraldProcess(env)]);
    await Promise.all(instances.map((instance) => until(async () => (await fetch(`${instance.baseUrl}/ready`)).status === 200, 'ready')));
    publisher = await token({ audience: 'torture', scopes: ['publish'] });
    reader = await token({ audience: 'torture', scopes: ['subscribe'] });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await backend.stop();
  });

  /**
   * Round-robin publishing over the live instances. A request refused before it was sent
   * (ECONNREFUSED) cannot have landed, so it goes to the next instance; any other failure might have
   * landed, so it fails the run rather than risk publishing a number twice. An instance leaves the
   * list before it is stopped, between two publishes, so no publish is ever in flight to it.
   */
  const publishOver = (live: HeraldProcess[], topic: string) => {
    let next = 0;
    return async (payload: number): Promise<string> => {
      for (let tries = 0; tries < live.length * 2; tries++) {
        const instance = live[next++ % live.length]!;
        let response: Response;
        try {
          response = await fetch(instance.httpUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${publisher}` },
            body: JSON.stringify({ query: PUBLISH, variables: { t: topic, p: payload } }),
          });
        } catch (error) {
          if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') continue;
          throw error;
        }
        const body = (await response.json()) as { data?: { publish?: { id: string } } };
        if (body.data?.publish == null) throw new Error(`publish ${payload} on ${instance.baseUrl} failed: ${JSON.stringify(body)}`);
        return body.data.publish.id;
      }
      throw new Error(`publish ${payload}: no instance accepted it`);
    };
  };

  /** Connections that went to another instance than the same subscriber's previous one. */
  const moves = (result: TortureResult): { reconnects: number; elsewhere: number } => {
    let reconnects = 0;
    let elsewhere = 0;
    for (const list of result.connections)
      for (let i = 1; i < list.length; i++) {
        reconnects++;
        if (list[i] !== list[i - 1]) elsewhere++;
      }
    return { reconnects, elsewhere };
  };

  const check = async (label: string, options: TortureOptions, everyMove: boolean): Promise<TortureResult> => {
    try {
      const result = await runTorture(options);
      const { reconnects, elsewhere } = moves(result);
      console.log(`${describeRun(label, options, result)}; ${elsewhere}/${reconnects} reconnects on another instance`);
      if (result.anomalies.length > 0) console.error(result.anomalies.slice(0, 20).join('\n'));
      expect(result.failures).toEqual([]);
      for (const got of result.received) expect(got).toEqual(oneTo(N));
      // Once an instance has gone, two remain, and a rotation may come back where it was.
      if (everyMove) expect(elsewhere).toBe(reconnects);
      return result;
    } catch (error) {
      console.error(`resume torture (${label}) failed with seed ${options.seed}: rerun with TORTURE_SEED=${options.seed}`);
      throw error;
    }
  };

  const baseOptions = (topic: string, live: HeraldProcess[]): TortureOptions => ({
    seed: tortureSeed(),
    n: N,
    k: K,
    publishMs: 8_000,
    cutsPerSubscriber: [3, 5],
    cutKinds: ['client-terminate', 'client-close'],
    // Each connection of a subscriber goes to the next live instance: a cut one comes back elsewhere.
    url: (subscriber, attempt) => live[(subscriber + attempt) % live.length]!.wsUrl,
    connectionParams: { token: reader },
    topic,
    publish: publishOver(live, topic),
  });

  it(`${K} subscribers cut while ${N} messages are published, each coming back on another instance, end with exactly 1..${N}`, async () => {
    const live = [...instances];
    const options = baseOptions('rotate', live);
    const result = await check(`${kind}, 3 instances, rotating`, options, true);
    expect(result.cuts['client-terminate'] + result.cuts['client-close']).toBeGreaterThan(2 * K);
  }, 60_000);

  it(`one instance stopped with SIGTERM mid-run: its subscribers resume on the others and still end with exactly 1..${N}`, async () => {
    const live = [...instances];
    const victim = instances[2]!;
    let stopped: Promise<void> | undefined;
    const options: TortureOptions = {
      ...baseOptions('sigterm', live),
      midRun: {
        at: N / 2,
        run: () => {
          // Out of the publisher's and the subscribers' rotation first, then SIGTERM.
          live.splice(live.indexOf(victim), 1);
          stopped = victim.stop();
        },
      },
    };
    const result = await check(`${kind}, 3 instances, one SIGTERMed at N/2`, options, false);
    await stopped;
    expect(await victim.exited).toEqual({ code: 0, signal: null });
    // Subscribers were on it when it went (their next connections went to the others).
    expect(result.connections.filter((list) => list.includes(victim.wsUrl)).length).toBeGreaterThan(0);
  }, 60_000);
});
