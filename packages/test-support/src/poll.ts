export interface WaitOptions {
  /** What is awaited, for the timeout's message: "redis-server on port 6380 to answer". */
  what: string;
  /** The ceiling; the default leaves room for a loaded 2-core machine where a process takes seconds to start. */
  timeoutMs?: number;
  intervalMs?: number;
  /** More to say when it times out (a process's output, say), read only then. */
  detail?: () => string;
}

/**
 * Polls `check` until it holds: never a fixed sleep, only the time the state takes to come. `check`
 * may throw to give up at once (a process that exited cannot become ready).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  { what, timeoutMs = 60_000, intervalMs = 50, detail }: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const more = detail?.();
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${more ? `:\n${more}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
