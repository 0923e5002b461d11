import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { TokenOptions } from './cli/token.js';
import { ConfigError, loadConfig } from './config.js';

/**
 * The one entry: `herald serve` (the default), `herald keys`, `herald token`. Reads the environment here only.
 * Each command loads its own module when run: `token` and `keys` need not load the whole gateway.
 */
const program = new Command()
  .name('herald')
  .description('GraphQL subscriptions gateway')
  .version((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version)
  .showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the gateway (configured by environment variables; see README)')
  .action(async () => {
    try {
      const config = loadConfig(process.env);
      const { serve } = await import('./cli/serve.js');
      await serve(config);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`herald: ${error.message}\n`);
        process.exit(1);
      }
      throw error;
    }
  });

program
  .command('keys')
  .description('write an ES256 key pair (PEM) and print the public key for JWT_PUBLIC_KEY_B64')
  .option('--out <dir>', 'folder to write es256_private.pem and es256_public.pem into', 'keys')
  .option('--force', 'replace existing key files', false)
  .action(async (options: { out: string; force: boolean }) => (await import('./cli/keys.js')).keys(options));

program
  .command('token')
  .description('mint a token, signed with --key, else JWT_SECRET, else the development key in .herald/')
  .option('--aud <audience>', 'audience (tenant); omitted: the gateway DEFAULT_AUDIENCE')
  .option('--scope <words>', 'space- or comma-separated: subscribe, publish, broadcast, manage; omitted: DEFAULT_SCOPES')
  .option('--topics <list>', 'comma-separated topic names or patterns the token is limited to')
  .option('--sub <subject>', 'sub claim (shows as Message.publisher; revokeTokens(subject:) and disconnect name it)')
  .option('--jti <id>', 'jti claim: the id revokeTokens(jti:) revokes this one token by')
  .option('--iss <issuer>', 'iss claim (needed when the gateway sets JWT_ISSUER)')
  .addOption(new Option('--ttl <duration>', 'lifetime: seconds, or with s/m/h/d').default('1h'))
  .option('--key <private.pem>', 'private key file (ES256/RS256/EdDSA)')
  .option('--json', 'print {"token","expiresAt"}', false)
  .action(async (options: TokenOptions) => (await import('./cli/token.js')).token(options, process.env));

await program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`herald: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
