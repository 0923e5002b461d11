import { createApp } from '../app.js';
import { mintToken } from '../auth/mint-token.js';
import { describeClusterNodes } from '../bus/redis-cluster-nodes.js';
import { resolveKeys, type ResolvedKeys } from '../auth/resolve-keys.js';
import { publicBaseUrl, type Config } from '../config.js';
import { CONSOLE_PATH } from '../console/console-pages.js';
import { redactUrl } from '../redact-url.js';
import { describeDatabaseUrl } from '../store/open-store.js';
import { GRAPHQL_PATH } from '../transport/yoga.js';

export const DEMO_AUDIENCE = 'demo';
/** The topic of the subscription GraphiQL opens with. */
export const DEMO_TOPIC = 'demo/hello';
const DEMO_TOKEN_TTL_SECONDS = 24 * 3600;

const EXAMPLE_SUBSCRIPTION = `# A live subscription: run it, then publish from a terminal (see the server's output).
subscription {
  topic(name: "${DEMO_TOPIC}") {
    id
    topic
    payload
    publishedAt
    publisher
  }
}
`;

/** `herald serve`: runs the gateway until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function serve(config: Config): Promise<void> {
  const keys = resolveKeys(config);
  const demo = config.production || keys.minting === undefined ? undefined : await mintDemoTokens(keys);
  const app = await createApp(config, {
    keys,
    graphiql: {
      defaultQuery: EXAMPLE_SUBSCRIPTION,
      // Only on a loopback interface: the page would hand the token to anyone who can reach it.
      ...(demo !== undefined && isLoopback(config.host) && { headers: JSON.stringify({ Authorization: `Bearer ${demo.admin}` }, null, 2) }),
    },
  });
  const url = await app.start();

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(1); // a second Ctrl-C means "now"
    app.logger.info({ signal }, 'signal received');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  printBanner(config, keys, publicBaseUrl(config, Number(new URL(url).port)), demo);
}

interface DemoTokens {
  readonly admin: string;
  readonly subscriber: string;
}

async function mintDemoTokens(keys: ResolvedKeys): Promise<DemoTokens> {
  const key = keys.minting!;
  const common = { audience: DEMO_AUDIENCE, ttlSeconds: DEMO_TOKEN_TTL_SECONDS };
  const admin = await mintToken(key, { ...common, subject: 'demo-admin', scopes: ['subscribe', 'publish', 'manage'] });
  const subscriber = await mintToken(key, { ...common, subject: 'demo-browser', scopes: ['subscribe'] });
  return { admin: admin.token, subscriber: subscriber.token };
}

function describeBus(redis: Config['redis']): string {
  if (redis === undefined) return 'in-process';
  const where = 'cluster' in redis ? describeClusterNodes(redis.cluster) : redactUrl(redis.url);
  return `Redis ${where} (prefix "${redis.prefix}")`;
}

function printBanner(config: Config, keys: ResolvedKeys, baseUrl: string, demo: DemoTokens | undefined): void {
  const endpoint = `${baseUrl}${GRAPHQL_PATH}`;
  const database = describeDatabaseUrl(config.databaseUrl);
  const lines = [
    '',
    `Herald is listening on ${endpoint}${config.graphiql ? '  (open it in a browser for GraphiQL)' : ''}`,
    `  store: ${database.kind === 'sqlite' ? `SQLite ${database.path}` : `PostgreSQL ${redactUrl(database.url)}`}` + ` · bus: ${describeBus(config.redis)}`,
  ];
  if (config.redis !== undefined && config.auth.signingSecret === undefined) {
    lines.push('  warning: SIGNING_SECRET is unset, so signed subscription URLs minted here work on this instance only; set one shared value');
  }
  if (keys.development !== undefined) {
    lines.push(
      `  keys: development ES256 pair in ${keys.development.dir}/ (${keys.development.created ? 'created now' : 'reused'}); ` +
        'set JWT_SECRET, JWT_PUBLIC_KEY(_B64) or JWKS_URL for real deployments',
    );
  }
  if (demo !== undefined) {
    const graphqlUrl = endpoint;
    lines.push(
      '',
      `Tokens for the "${DEMO_AUDIENCE}" audience, valid 24 h (mint more with: npm run token -- --help):`,
      `  manage + publish + subscribe:  ${demo.admin}`,
      `  subscribe only:                ${demo.subscriber}`,
      '',
      isLoopback(config.host)
        ? 'GraphiQL already sends the first one and opens with this subscription; run it:'
        : 'In GraphiQL, put the first one in the Headers tab ({"Authorization": "Bearer …"}) and run:',
      `  subscription { topic(name: "${DEMO_TOPIC}") { id payload publishedAt } }`,
      '',
      'Then publish from a terminal:',
      `  curl -s ${graphqlUrl} -H 'content-type: application/json' \\`,
      `    -H 'authorization: Bearer ${demo.admin}' \\`,
      `    -d '{"query":"mutation { publish(topic: \\"${DEMO_TOPIC}\\", payload: {hello: \\"world\\"}) { id publishedAt } }"}'`,
      '',
    );
    if (config.console) {
      // The token rides in the fragment, which the browser never sends; the page keeps it in session storage.
      lines.push('Or watch it in the console (topics, messages per second, a tail, a publish box):', `  ${baseUrl}${CONSOLE_PATH}#token=${demo.admin}`, '');
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');
