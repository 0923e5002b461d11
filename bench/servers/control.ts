import { PerformanceObserver } from 'node:perf_hooks';
import { gcReport } from '../protocol.js';

/** A server that is not this Node process (nginx for nchan): the harness measures that process instead. */
export interface ForeignServer {
  /** The process whose CPU time and RSS stand for the server's (nginx's worker). */
  readonly pid: number;
  /** Stops it before this process exits. */
  readonly stop: () => Promise<void>;
}

/**
 * How the harness talks to a server child process (over IPC): the child reports its port; the
 * harness asks it to collect garbage before a memory reading, to count GC pauses while each measured
 * slice runs (and not between them, while another server's slice does), to report them, and to exit.
 * With `foreign`, this process only wraps the real server: it reports that server's pid for the
 * harness to measure, has no GC to count (no report: the table prints n/a), and stops it on exit.
 */
export function serveBenchControl(port: number, foreign?: ForeignServer): void {
  const pauses: number[] = [];
  let counting = false;
  // GC pauses stop the event loop: the first suspect for a latency tail, so the table shows them.
  new PerformanceObserver((list) => {
    if (counting) for (const entry of list.getEntries()) pauses.push(entry.duration);
  }).observe({ entryTypes: ['gc'] });

  const exit = async (): Promise<never> => {
    await foreign?.stop();
    process.exit(0);
  };
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
      // No report for a foreign server (IPC's JSON would turn NaN into null, read as 0).
      process.send?.({ type: 'gc-report', report: foreign === undefined ? gcReport(pauses) : undefined });
    } else if (message.type === 'exit') {
      void exit();
    }
  });
  // The harness gone (killed, crashed): a foreign server must not outlive it.
  if (foreign !== undefined) process.on('disconnect', () => void exit());
  process.send?.({ type: 'ready', port, pid: foreign?.pid });
}
