import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateEs256KeyPair, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, writeKeyPair } from '../auth/key-pair.js';

/** `herald keys`: writes an ES256 key pair and prints the public key as JWT_PUBLIC_KEY_B64. */
export function keys(options: { out: string; force: boolean }): void {
  for (const file of [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]) {
    if (existsSync(join(options.out, file)) && !options.force) {
      throw new Error(`${join(options.out, file)} exists; pass --force to replace it`);
    }
  }
  const pair = generateEs256KeyPair();
  const { privateKeyPath, publicKeyPath } = writeKeyPair(options.out, pair);
  process.stdout.write(
    [
      `private key: ${privateKeyPath}  (keep it secret; mint tokens with: npm run token -- --key ${privateKeyPath} ...)`,
      `public key:  ${publicKeyPath}`,
      '',
      'Give the gateway the public key, as either of:',
      `  JWT_PUBLIC_KEY_B64=${Buffer.from(pair.publicKeyPem).toString('base64')}`,
      `  JWT_PUBLIC_KEY="$(cat ${publicKeyPath})"`,
      '',
    ].join('\n'),
  );
}
