import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardChannelName } from '../src/bus/redis-channels.js';
import { gql, token, wsClient } from './helpers/herald.js';
import { startHeraldProcess, type HeraldProcess } from './helpers/herald-process.js';
import { uniquePrefix } from './helpers/redis.js';
import { startPrivateRedisCluster, type PrivateRedisCluster } from './helpers/redis-cluster.js';
import { subscribe } from './helpers/subscription.js';
import { makeTestCertificates, type TestCertificates } from './helpers/tls-certificates.js';
import { until } from './helpers/until.js';

/**
 * REDIS_CLUSTER_NODES with a password and TLS, stated once as a rediss:// URL: every node of a
 * cluster of the test's own asks for both (requirepass, TLS only, a CA of the test's own that the
 * gateways trust through NODE_EXTRA_CA_CERTS), and two gateways on it act as one.
 */

const PASSWORD = 'cluster-s3cret/with:odd@chars';
let certificates: TestCertificates;
let cluster: PrivateRedisCluster;
let gateways: HeraldProcess[] = [];
const prefix = uniquePrefix('cluster-tls');

beforeAll(async () => {
  certificates = await makeTestCertificates();
  cluster = await startPrivateRedisCluster({ masters: 3, replicasPerMaster: 0, password: PASSWORD, tls: certificates });
  const [first, ...rest] = cluster.nodes.map(({ host, port }) => `${host}:${port}`);
  const env = {
    REDIS_CLUSTER_NODES: [`rediss://:${encodeURIComponent(PASSWORD)}@${first}`, ...rest].join(','),
    REDIS_PREFIX: prefix,
    NODE_EXTRA_CA_CERTS: certificates.caFile,
  };
  gateways = await Promise.all([startHeraldProcess(env), startHeraldProcess(env)]);
}, 60_000);
afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  // Undefined when beforeAll failed before them.
  /* eslint-disable @typescript-eslint/no-unnecessary-condition */
  await cluster?.stop();
  certificates?.remove();
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

describe('a Redis Cluster behind a password and TLS', () => {
  it('carries a message from one gateway to a subscriber on the other, and the banner shows no password', async () => {
    const [a, b] = gateways as [HeraldProcess, HeraldProcess];
    await Promise.all(gateways.map((gateway) => until(async () => (await fetch(`${gateway.baseUrl}/ready`)).status === 200, 'ready')));
    const client = wsClient(a.wsUrl, { connectionParams: { token: await token({ audience: 'secure' }) } });
    try {
      const subscription = subscribe<{ topic: { payload: unknown } }>(client, 'subscription { topic(name: "vault") { payload } }');
      const manager = await token({ audience: 'secure', scopes: ['manage'] });
      const counted = async () => (await gql(b.httpUrl, manager, '{ topic(name: "vault") { subscriberCount } }')).data?.topic?.subscriberCount;
      expect((await gql(b.httpUrl, manager, 'mutation { createTopic(name: "vault") { name } }')).errors).toBeUndefined();
      await until(
        async () => (await cluster.shardNumsub(shardChannelName(prefix, { kind: 'topic', audience: 'secure', topic: 'vault' }))) === 1,
        'A SSUBSCRIBEd',
      );
      // Counted on B over the control channels, which travel over TLS too.
      expect(await counted()).toBe(1);
      const published = await gql(
        b.httpUrl,
        await token({ audience: 'secure', scopes: ['publish'] }),
        'mutation { publish(topic: "vault", payload: 42) { id } }',
      );
      expect(published.errors).toBeUndefined();
      expect((await subscription.next()).data).toEqual({ topic: { payload: 42 } });
    } finally {
      await client.dispose();
    }
    for (const gateway of gateways) {
      expect(gateway.stdout()).toMatch(/bus: Redis rediss cluster 127\.0\.0\.1:\d+,/);
      expect(gateway.stdout() + gateway.stderr()).not.toContain('s3cret');
    }
  });
});
