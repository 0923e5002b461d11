import { PerformanceObserver } from 'node:perf_hooks';
import { gcReport } from '../protocol.js';

/**
 * How the harness talks to a server child process (over IPC): the child reports its port; the
 * harness asks it to collect garbage before a memory reading, to count GC pauses while each measured
 * slice runs (and not between them, while another server's slice does), to report them, and to exit.
 */
export function serveBenchControl(port: number): void {
  const pauses: number[] = [];
  let counting = false;
  // GC pauses stop the event loop: the first suspect for a latency tail, so the table shows them.
  new PerformanceObserver((list) => {
    if (counting) for (const entry of list.getEntries()) pauses.push(entry.duration);
  }).observe({ entryTypes: ['gc'] });

  process.on('message', (message: { type: string }) => {
    if (message.type === 'gc') {
      globalThis.gc?.();
      process.send?.({ type: 'gc-done' });
    } else if (message.type === 'count-gc') {
      counting = true;
    } else if (message.type === 'stop-gc') {
      counting = false;
    } else if (message.type === 'gc-report') {
      counting = false;
      process.send?.({ type: 'gc-report', report: gcReport(pauses) });
    } else if (message.type === 'exit') {
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready', port });
}
