import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { freePort } from './redis.js';
import type { TestCertificates } from './tls-certificates.js';
import { until } from './until.js';

const run = promisify(execFile);

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

/**
 * A Redis Cluster of the test's own: `masters` masters with `replicasPerMaster` replicas each, every
 * node a `redis-server --cluster-enabled yes` on spare ports with its own data dir, joined with
 * `redis-cli --cluster create`. Nothing touches the shared 6379 Redis.
 */
export interface PrivateRedisCluster {
  /** Every node, masters first as created; any of them is a valid seed. */
  readonly nodes: readonly ClusterNode[];
  /** The node currently serving `slot` as master. */
  masterOf(slot: number): Promise<ClusterNode>;
  /** Subscribers the master owning `channel`'s slot counts on that shard channel (PUBSUB SHARDNUMSUB). */
  shardNumsub(channel: string): Promise<number>;
  /**
   * Moves one slot, its keys included, to another master while clients keep using it, as
   * `redis-cli --cluster reshard` does slot by slot: IMPORTING/MIGRATING, MIGRATE the keys, then every
   * master learns the new owner.
   */
  migrateSlot(slot: number, to: ClusterNode): Promise<void>;
  /** Kills a node's process (SIGKILL), as a crash would. */
  kill(node: ClusterNode): Promise<void>;
  /** Waits until every live node reports cluster_state:ok and every slot has a reachable master. */
  healthy(): Promise<void>;
  /** Kills every node and removes their data dirs. */
  stop(): Promise<void>;
}

/** How a client reaches the nodes: a password (requirepass), TLS with the test's own CA. */
interface NodeAccess {
  readonly password?: string;
  readonly tls?: TestCertificates;
}

export async function startPrivateRedisCluster(
  options: { masters?: number; replicasPerMaster?: number; password?: string; tls?: TestCertificates } = {},
): Promise<PrivateRedisCluster> {
  const access: NodeAccess = { password: options.password, tls: options.tls };
  const query = <T>(node: ClusterNode, command: (redis: Redis) => Promise<T>): Promise<T> => queryNode(node, command, access);
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const count = masters * (1 + replicasPerMaster);
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const processes = new Map<number, ChildProcess>();
  const nodes: ClusterNode[] = [];
  const busPorts: number[] = [];
  const { tls, password } = options;
  /** Starts one node on two free ports (client and cluster bus); resolves with its process once it answers, or with undefined when it exited first. */
  const startNode = async (): Promise<{ port: number; busPort: number; child: ChildProcess } | undefined> => {
    // The cluster bus port is given: by default it is port + 10 000, which may not be free or valid.
    const [port, busPort] = [await freePort(), await freePort()];
    const dataDir = join(dir, String(port));
    rmSync(dataDir, { recursive: true, force: true });
    await run('mkdir', ['-p', dataDir]);
    const listen =
      tls === undefined
        ? ['--port', String(port)]
        : [
            ...['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes'],
            ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no'],
          ];
    const child = spawn(
      'redis-server',
      [
        ...listen,
        ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        // Said in CLUSTER SLOTS: a node that never met another would give an empty address.
        '--cluster-announce-ip',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        // Fast failure detection, so failover tests take seconds.
        '--cluster-node-timeout',
        '1000',
        '--dir',
        dataDir,
        '--save',
        '',
        '--appendonly',
        'no',
        // A replica takes over however long ago it last heard its master.
        '--cluster-replica-validity-factor',
        '0',
        // Not to the test's output; read it while a test is paused to see what the cluster did.
        '--logfile',
        join(dataDir, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    processes.set(port, child);
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    await until(async () => exited() || (await ping({ host: '127.0.0.1', port }, access)), `redis-server on port ${port}`);
    if (!exited()) return { port, busPort, child };
    processes.delete(port);
    return undefined;
  };
  const stop = async (): Promise<void> => {
    await Promise.all([...processes.values()].map(killProcess));
    processes.clear();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < count; index++) {
      // A port found free can be taken by another process before redis-server binds it (test files run side by side): then it exits, and a node is started on other ports.
      let started: Awaited<ReturnType<typeof startNode>>;
      for (let attempt = 0; attempt < 5 && started === undefined; attempt++) started = await startNode();
      if (started === undefined) throw new Error('redis-server exited at start 5 times, each on ports that had been free');
      nodes.push({ host: '127.0.0.1', port: started.port });
      busPorts.push(started.busPort);
    }
    if (masters >= 3) {
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `${node.host}:${node.port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
        ...(options.tls === undefined ? [] : ['--tls', '--cacert', options.tls.caFile]),
        ...(options.password === undefined ? [] : ['-a', options.password, '--no-auth-warning']),
      ]);
    } else {
      // redis-cli --cluster create wants 3 masters; 1 or 2 (the bench's smallest clusters) are joined by hand.
      if (replicasPerMaster !== 0) throw new Error('a cluster of fewer than 3 masters is made without replicas');
      const share = Math.ceil(16_384 / masters);
      for (const [index, node] of nodes.entries()) {
        await query(node, (redis) => redis.call('CLUSTER', 'ADDSLOTSRANGE', index * share, Math.min(16_383, (index + 1) * share - 1)));
        if (index > 0) await query(node, (redis) => redis.call('CLUSTER', 'MEET', nodes[0]!.host, nodes[0]!.port, busPorts[0]!));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const live = (): ClusterNode[] => nodes.filter((node) => processes.has(node.port));
  const healthy = async (): Promise<void> => {
    await until(
      async () => {
        for (const node of live()) if (!(await query(node, (redis) => redis.cluster('INFO'))).includes('cluster_state:ok')) return false;
        return true;
      },
      'the cluster to report cluster_state:ok on every node',
      30_000,
    );
  };
  try {
    await healthy();
  } catch (error) {
    await stop();
    throw error;
  }

  const masterOf = async (slot: number): Promise<ClusterNode> => {
    const slots = await query(live()[0]!, (redis) => redis.cluster('SLOTS'));
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    const master = range?.[2];
    if (master === undefined) throw new Error(`no master serves slot ${slot}`);
    return { host: master[0], port: master[1] };
  };

  return {
    nodes,
    masterOf,
    async shardNumsub(channel) {
      const master = await masterOf(calculateSlot(channel));
      const reply = await query(master, (redis) => redis.call('PUBSUB', 'SHARDNUMSUB', channel) as Promise<Array<string | number>>);
      return Number(reply[1] ?? 0);
    },
    async migrateSlot(slot, to) {
      const from = await masterOf(slot);
      const idOf = (node: ClusterNode) => query(node, (redis) => redis.cluster('MYID'));
      const [fromId, toId] = [await idOf(from), await idOf(to)];
      await query(to, (redis) => redis.cluster('SETSLOT', slot, 'IMPORTING', fromId));
      await query(from, (redis) => redis.cluster('SETSLOT', slot, 'MIGRATING', toId));
      await query(from, async (redis) => {
        for (;;) {
          const keys = await redis.cluster('GETKEYSINSLOT', slot, 100);
          if (keys.length === 0) return;
          await redis.migrate(to.host, to.port, '', 0, 5_000, 'KEYS', ...keys);
        }
      });
      // The new owner first, then the old one (which drops the slot's shard channel subscriptions), then the rest.
      const others: ClusterNode[] = [];
      for (const node of live()) {
        if (node.port === to.port || node.port === from.port) continue;
        const [role] = await query(node, (redis) => redis.role());
        if (role === 'master') others.push(node);
      }
      for (const node of [to, from, ...others]) await query(node, (redis) => redis.cluster('SETSLOT', slot, 'NODE', toId));
    },
    async kill(node) {
      const child = processes.get(node.port);
      processes.delete(node.port);
      if (child !== undefined) await killProcess(child);
    },
    healthy,
    stop,
  };
}

async function ping(node: ClusterNode, access: NodeAccess): Promise<boolean> {
  try {
    await queryNode(node, (redis) => redis.ping(), access);
    return true;
  } catch {
    return false;
  }
}

/** One command on a plain connection to one node (not a cluster client: no redirection). */
async function queryNode<T>(node: ClusterNode, command: (redis: Redis) => Promise<T>, access: NodeAccess): Promise<T> {
  const redis = new Redis({
    host: node.host,
    port: node.port,
    password: access.password,
    tls: access.tls === undefined ? undefined : { ca: access.tls.ca },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await command(redis);
  } finally {
    redis.disconnect();
  }
}

function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
