/** A count a hot path adds to with one addition; Prometheus reads it at scrape time (metrics.ts). */
export class Tally {
  value = 0;

  add(count: number): void {
    this.value += count;
  }
}
