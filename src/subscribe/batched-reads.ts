/**
 * Single-flight reads with a trailing batch, for history reads during a reconnect storm: thousands
 * of subscribers resume from the same cursor of the same topic at once, and one read can answer
 * them all. But a read may only answer a subscriber whose live listening was already effective
 * when the read started (else what was published in between would be in neither), so a request
 * never joins a read in flight: it waits for the next one, which starts as soon as that one ends and
 * answers every request made meanwhile. At most one read per key is in flight.
 */
export function createBatchedReads<T>(): (key: string, read: () => Promise<T>) => Promise<T> {
  interface Entry {
    inFlight: boolean;
    next: { promise: Promise<T>; start: () => void } | undefined;
  }
  const entries = new Map<string, Entry>();

  const run = (key: string, entry: Entry, read: () => Promise<T>): Promise<T> => {
    entry.inFlight = true;
    const result = read();
    const settle = (): void => {
      const next = entry.next;
      entry.next = undefined;
      entry.inFlight = false;
      if (next !== undefined) next.start();
      else if (entries.get(key) === entry) entries.delete(key);
    };
    result.then(settle, settle);
    return result;
  };

  return (key, read) => {
    let entry = entries.get(key);
    if (entry === undefined) entries.set(key, (entry = { inFlight: false, next: undefined }));
    if (!entry.inFlight) return run(key, entry, read);
    if (entry.next === undefined) {
      const own = entry;
      let start = (): void => {};
      const promise = new Promise<T>((resolve, reject) => {
        start = () => void run(key, own, read).then(resolve, reject);
      });
      entry.next = { promise, start };
    }
    return entry.next.promise;
  };
}
