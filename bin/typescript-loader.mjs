// Node's module hooks for running Herald's TypeScript sources directly: `npm start` on a fresh clone
// needs no build step. Registered by bin/register-typescript.mjs.
//
// Why not tsx here (the dev scripts use it): tsx always has esbuild keep function names, which wraps
// every named function in a call that redefines its `name`. At run time that made each closure the
// gateway creates per connection carry a 256-byte property store of its own (about 0.8 KB of heap
// per graphql-ws connection, a tenth of its memory) and a defineProperty call per closure made. Names
// need no keeping here: the code is transformed one file at a time and never renamed.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

// The project's compiler options, as tsx passed them: esbuild honours the ones that change emitted
// JavaScript (verbatimModuleSyntax, useDefineForClassFields by target).
const tsconfigRaw = readFileSync(new URL('../tsconfig.json', import.meta.url), 'utf8');

/** TypeScript's NodeNext imports name the emitted file (`./x.js`); next to the sources it is `./x.ts`. */
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/^\.\.?\//.test(specifier) || !specifier.endsWith('.js')) throw error;
    return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(await readFile(path, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    sourcemap: 'inline',
    sourcefile: path,
    tsconfigRaw,
  });
  return { format: 'module', source: code, shortCircuit: true };
}
