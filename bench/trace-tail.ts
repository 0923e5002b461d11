/**
 * `node --import tsx bench/trace-tail.ts bench/results/traces/<file>.json [...]`: where a run's
 * latency tail comes from, read from its `--trace` file. It prints the percentiles, then how the
 * slowest 1% of deliveries spread over the run in 100 ms windows. Spread thin means steady queueing,
 * the server's own cost. A few full windows mean stalls: then look at those windows' send times
 * (the client stopped sending too?) before blaming either server.
 */
import { readFileSync } from 'node:fs';
import { percentile, type DeliveryTrace } from './protocol.js';

const WINDOW_MS = 100;
const FULLEST_SHOWN = 5;

for (const file of process.argv.slice(2)) {
  const { scenario, kind, deliveries } = JSON.parse(readFileSync(file, 'utf8')) as DeliveryTrace;
  const count = deliveries.length / 4;
  if (count === 0) {
    process.stdout.write(`${scenario.name} ${kind}: no deliveries\n`);
    continue;
  }
  const latencies: number[] = [];
  let firstSend = Infinity;
  let lastSend = -Infinity;
  for (let i = 0; i < deliveries.length; i += 4) {
    latencies.push(deliveries[i + 2]! - deliveries[i + 1]!);
    firstSend = Math.min(firstSend, deliveries[i + 1]!);
    lastSend = Math.max(lastSend, deliveries[i + 1]!);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const p99 = percentile(sorted, 0.99);

  const windows = new Map<number, number>();
  let slowest = 0;
  for (let i = 0; i < count; i++) {
    if (latencies[i]! < p99) continue;
    slowest++;
    const window = Math.floor((deliveries[i * 4 + 1]! - firstSend) / WINDOW_MS);
    windows.set(window, (windows.get(window) ?? 0) + 1);
  }
  const lastWindow = Math.floor((lastSend - firstSend) / WINDOW_MS);
  const fullest = [...windows].sort((a, b) => b[1] - a[1]).slice(0, FULLEST_SHOWN);
  process.stdout.write(
    `${scenario.name} ${kind}: ${count} deliveries, p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${sorted[count - 1]!.toFixed(1)} ms\n` +
      `  the slowest 1% (${slowest}, ≥ p99) were sent in ${windows.size} of ${lastWindow + 1} windows of ${WINDOW_MS} ms; the fullest: ` +
      `${fullest.map(([window, n]) => `${((window * WINDOW_MS) / 1000).toFixed(1)} s (${n})`).join(', ')}\n`,
  );
}
