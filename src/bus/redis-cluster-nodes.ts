/** A Redis Cluster to reach (REDIS_CLUSTER_NODES): its seed nodes and what every node asks of a client. */
export interface RedisClusterNodes {
  /** Seeds: any reachable one gives the whole slot map. */
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** `rediss://`: TLS to every node. */
  readonly tls: boolean;
}

/** The forms REDIS_CLUSTER_NODES accepts, as every refusal lists them. */
export const REDIS_CLUSTER_NODES_FORMS =
  'comma-separated host:port seeds (10.0.0.1:7000,10.0.0.2:7000), or redis:// / rediss:// URLs carrying the password and TLS once for every node (rediss://:password@10.0.0.1:7000,10.0.0.2:7000)';

/**
 * REDIS_CLUSTER_NODES → the cluster it names, or why it names none. The password and TLS are the
 * REDIS_URL ones, written as a URL on any entry; they hold for every node (a cluster's nodes share
 * them), so entries that state them must agree. Problems never echo the value: it may carry a password.
 */
export function parseRedisClusterNodes(raw: string): { cluster: RedisClusterNodes } | { problem: string } {
  const refuse = (why: string) => ({ problem: `REDIS_CLUSTER_NODES: ${why}; accepted forms: ${REDIS_CLUSTER_NODES_FORMS}` });
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return refuse('no node given');

  const nodes: Array<{ host: string; port: number }> = [];
  let stated: { scheme: string; username: string; password: string } | undefined;
  for (const [index, entry] of entries.entries()) {
    const withScheme = /^[a-z][a-z\d+.-]*:\/\//i.test(entry);
    if (withScheme && !/^rediss?:\/\//i.test(entry)) return refuse(`entry ${index + 1} has a scheme other than redis:// or rediss://`);
    let url: URL;
    try {
      url = new URL(withScheme ? entry : `redis://${entry}`);
    } catch {
      return refuse(`entry ${index + 1} is not a host:port`);
    }
    if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      return refuse(`entry ${index + 1} is not a host:port (a cluster has no database number)`);
    }
    if (!withScheme && url.port === '') return refuse(`entry ${index + 1} has no port`);
    nodes.push({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 6379 : Number(url.port) });
    if (!withScheme) continue;
    const said = { scheme: url.protocol.toLowerCase(), username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    if (stated !== undefined && (stated.scheme !== said.scheme || stated.username !== said.username || stated.password !== said.password)) {
      return refuse('entries state different schemes or credentials; every node of a cluster shares them, so state them once');
    }
    stated = said;
  }
  return {
    cluster: {
      nodes,
      username: stated?.username || undefined,
      password: stated?.password || undefined,
      tls: stated?.scheme === 'rediss:',
    },
  };
}

/** The seeds, for logs and the banner: no password. */
export function describeClusterNodes(cluster: RedisClusterNodes): string {
  return `${cluster.tls ? 'rediss' : 'redis'} cluster ${cluster.nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',')}`;
}
