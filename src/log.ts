import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/** Structured JSON logs on stderr, so stdout stays for what a person reads (the start banner, CLI output). */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'herald' } }, pino.destination({ fd: 2, sync: false }));
}
