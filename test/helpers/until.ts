/** Polling for what a test waits on (a file, a process's output, a row): until it holds, or a time limit. */

/**
 * Calls `probe` every `everyMs` until it gives a value other than false or undefined (a check's
 * true), and resolves with that value; throws, naming `what`, after `timeoutMs`.
 */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs / 1000} s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
