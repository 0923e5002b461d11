import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startHerald, token, type TestHerald } from './helpers/herald.js';
import { describeRun, oneTo, runTorture, tortureSeed, watchServerSockets, type TortureOptions } from './helpers/torture.js';

const PUBLISH = 'mutation($t: String!, $p: JSON!) { publish(topic: $t, payload: $p) { id } }';
const N = 2_000;
const K = 24;

/**
 * Issue 17's resume torture test on the in-process bus: every subscriber, cut again and again from
 * either side while a steady stream is published, ends with exactly 1..N through herald/client.
 */
describe('resume torture, in-process bus', () => {
  let herald: TestHerald;
  let publisher: string;
  let reader: string;
  const serverSockets = watchServerSockets();
  beforeAll(async () => {
    // History must hold the whole run: a subscription that never got a message resumes from the marker before 1.
    herald = await startHerald({ HISTORY_SIZE: String(N * 2) });
    publisher = await token({ audience: 'torture', scopes: ['publish'] });
    reader = await token({ audience: 'torture', scopes: ['subscribe'] });
  });
  afterAll(async () => {
    serverSockets.stop();
    await herald.stop();
  });

  it(`${K} subscribers cut from both sides while ${N} messages are published each end with exactly 1..${N}`, async () => {
    const options: TortureOptions = {
      seed: tortureSeed(),
      n: N,
      k: K,
      publishMs: 8_000,
      cutsPerSubscriber: [4, 7],
      cutKinds: ['server-terminate', 'client-terminate', 'client-close'],
      url: () => herald.wsUrl,
      connectionParams: { token: reader },
      topic: 'stream',
      serverSockets,
      publish: async (payload) => {
        const response = await gql<{ publish: { id: string } }>(herald.httpUrl, publisher, PUBLISH, { t: 'stream', p: payload });
        if (response.data?.publish == null) throw new Error(`publish ${payload} failed: ${JSON.stringify(response)}`);
        return response.data.publish.id;
      },
    };
    try {
      const result = await runTorture(options);
      console.log(describeRun('in-process', options, result));
      if (result.anomalies.length > 0) console.error(result.anomalies.slice(0, 20).join('\n'));
      expect(result.failures).toEqual([]);
      for (const got of result.received) expect(got).toEqual(oneTo(N));
      expect(result.cuts['server-terminate']).toBeGreaterThan(K);
      expect(result.cuts['client-close']).toBeGreaterThan(K);
    } catch (error) {
      console.error(`resume torture (in-process) failed with seed ${options.seed}: rerun with TORTURE_SEED=${options.seed}`);
      throw error;
    }
  }, 60_000);
});
