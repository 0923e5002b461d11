/**
 * Settles like `work`, or rejects with `onTimeout()` when `work` is still pending `timeoutMs` after
 * the call and one event-loop turn later. The timer fires in the timers phase; the verdict waits for
 * setImmediate, after the poll phase has read whatever arrived meanwhile.
 *
 * Why the extra turn: a plain timer (ioredis's commandTimeout) counts event-loop lag as Redis's
 * silence. Under a fan-out burst that keeps the loop busy for longer than the timeout (measured:
 * 10k sockets at max rate on a slow machine), Redis's reply sits unread in the socket while the
 * timer fires first, and a message Redis took was answered UNAVAILABLE, inviting a duplicate retry.
 */
export function withLagAwareTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  let pending = true;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (pending) reject(onTimeout());
      });
    }, timeoutMs);
    work.then(
      (value) => {
        pending = false;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        pending = false;
        clearTimeout(timer);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes work's own rejection on unchanged
        reject(error);
      },
    );
  });
}
