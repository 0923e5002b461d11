#!/usr/bin/env node
// Runs the TypeScript entry directly, so `npm start` works on a fresh clone without a build step.
import './register-typescript.mjs';

await import('../src/main.ts');
