import type { Client, ExecutionResult } from 'graphql-ws';

/**
 * A graphql-ws subscription as a queue the test pulls from: `next()` resolves with the next result,
 * `ended` resolves when the server completes or errors the operation.
 */
export interface Subscription<T> {
  next(): Promise<ExecutionResult<T>>;
  readonly received: ExecutionResult<T>[];
  readonly ended: Promise<{ error?: unknown }>;
  dispose(): void;
}

export function subscribe<T = Record<string, any>>(client: Client, query: string, variables?: Record<string, unknown>): Subscription<T> {
  const received: ExecutionResult<T>[] = [];
  const waiting: Array<(result: ExecutionResult<T>) => void> = [];
  let pulled = 0;
  let endedWith: (value: { error?: unknown }) => void = () => {};
  const ended = new Promise<{ error?: unknown }>((resolve) => (endedWith = resolve));
  const dispose = client.subscribe<T>(
    { query, ...(variables !== undefined && { variables }) },
    {
      next: (result) => {
        received.push(result as ExecutionResult<T>);
        waiting.shift()?.(result as ExecutionResult<T>);
      },
      error: (error) => endedWith({ error }),
      complete: () => endedWith({}),
    },
  );
  return {
    next() {
      const index = pulled++;
      if (index < received.length) return Promise.resolve(received[index]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
    received,
    ended,
    dispose,
  };
}
