// Lets this process import Herald's TypeScript sources (bin/typescript-loader.mjs); stack traces
// point at the .ts lines through the inline source maps.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./typescript-loader.mjs', import.meta.url);
