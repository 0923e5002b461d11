import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | undefined;

/**
 * prom-client's default series (CPU, memory, event loop lag, GC, handles) describe the process, not
 * one gateway: one registry per process, made on first scrape, shared by every app in it (tests run
 * many). Its event-loop monitor keeps running once started, so it starts only when /metrics is read.
 */
export function processRegistry(): Registry {
  if (registry === undefined) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
