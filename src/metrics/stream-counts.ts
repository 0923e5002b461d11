import type { Metrics } from './metrics.js';
import type { Tally } from './tally.js';

/** SSE's per-subscriber streams: how many are open, what they delivered, how each ended. */
export class StreamCounts {
  open = 0;
  readonly delivered: Tally;

  constructor(private readonly metrics: Pick<Metrics, 'delivered' | 'closed'>) {
    this.delivered = metrics.delivered.sse;
  }

  opened(): void {
    this.open++;
  }

  /** `code`: the error code said as the stream's last event, `client` (it went away) or `shutdown`. */
  ended(code: string): void {
    this.open--;
    this.metrics.closed('sse', code);
  }
}
