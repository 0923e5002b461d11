/**
 * Polls until `check` holds; fails after `timeoutMs`. For state that has no event to wait on (Redis
 * has no subscribe acknowledgement, another process has no fan-out to listen to). Where the server
 * in this process can say when something happened (waitForSubscribers), wait on that instead.
 */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
