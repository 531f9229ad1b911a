/**
 * Exits the process without waiting for its threads, through the native/spawn addon's exitNow
 * (_exit): Node's own exit joins every worker thread first, and one blocked in a native call that
 * never returns (stuck-threads.ts) is never joined, so the process would never end. Only for a
 * command that has written and closed everything: nothing else runs after it, no 'exit' event.
 */
import { createRequire } from 'node:module';
import { NATIVE_SPAWN_ADDON } from './native-launcher.ts';

/**
 * Ends the process now with `code`, once what was written to stdout and stderr has been handed to
 * the system. Resolves (false) only where the addon cannot do it (not built, not Linux, a build
 * that predates exitNow).
 */
export async function exitWithoutThreads(code: number): Promise<boolean> {
  let exitNow: ((code: number) => never) | undefined;
  try {
    exitNow = (createRequire(import.meta.url)(NATIVE_SPAWN_ADDON) as { exitNow?: (code: number) => never }).exitNow;
  } catch {
    return false;
  }
  if (typeof exitNow !== 'function') return false;
  // Written to a pipe or a file, stdio is synchronous on Linux (the only place with the addon);
  // whatever waits in the streams' buffers anyway is waited for.
  await Promise.all([process.stdout, process.stderr].map((stream) => (stream.writableLength === 0 || !stream.writable ? undefined : new Promise((resolve) => stream.write('', resolve)))));
  return exitNow(code);
}
