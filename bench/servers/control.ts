/**
 * How the harness talks to a server child process (over IPC): the child reports its port; the
 * harness asks it to collect garbage before a memory reading, and to exit.
 */
export function serveBenchControl(port: number): void {
  process.on('message', (message: { type: string }) => {
    if (message.type === 'gc') {
      globalThis.gc?.();
      process.send?.({ type: 'gc-done' });
    } else if (message.type === 'exit') {
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready', port });
}
