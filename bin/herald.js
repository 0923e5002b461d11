#!/usr/bin/env node
// Runs the TypeScript entry directly (tsx), so `npm start` works on a fresh clone without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
