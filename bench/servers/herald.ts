/** Herald as the benchmark runs it: the real createApp, in-process bus, limits raised for 10k sockets. */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { BENCH_SECRET } from '../protocol.js';
import { serveBenchControl } from './control.js';

const app = await createApp(
  loadConfig({
    JWT_SECRET: BENCH_SECRET,
    PORT: '0',
    DATABASE_URL: ':memory:',
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS: '100000',
  }),
);
const url = await app.start();
serveBenchControl(Number(new URL(url).port));
