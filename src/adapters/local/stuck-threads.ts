/**
 * Worker threads that were told to stop and have not: blocked in a native call that terminate()
 * cannot interrupt (a synchronous read that never returns, an addon's call). Node's exit, even
 * process.exit(), first waits for every thread to end, so one of them keeps the process alive
 * until that call returns, if ever: a command that has finished its work asks here, and then
 * exits without waiting (native-exit.ts).
 */
import type { Worker } from 'node:worker_threads';

const stuck = new Map<Worker, string>();

/**
 * Terminates `worker`; resolves true once it has stopped, or false after `graceMs` if it has not
 * (it is then listed by {@link stuckThreads} as `what`, until it does stop).
 */
export function terminateWithin(worker: Worker, graceMs: number, what: string): Promise<boolean> {
  return new Promise((resolve) => {
    const grace = setTimeout(() => {
      stuck.set(worker, what);
      void stopped.then(() => stuck.delete(worker));
      resolve(false);
    }, graceMs);
    const stopped = worker.terminate().then(() => {
      clearTimeout(grace);
      resolve(true);
    });
  });
}

/** What the threads that did not stop when told were running (`a handler of step "s" (...)`). */
export function stuckThreads(): string[] {
  return [...stuck.values()];
}
