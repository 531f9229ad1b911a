/**
 * Reaps the children that handler worker threads started and that exit after their thread has
 * ended. A child started with child_process is reaped (its exit status collected) by the event
 * loop of the thread that started it; once that thread has ended, nothing does, and the child
 * stays a zombie until the engine exits. On Linux the pool (worker-processes.ts) notes each
 * child's start time when it is told of it, and once the thread has gone this module collects
 * those that have exited, through the native/spawn addon's reapExited (waitpid): only a zombie
 * whose parent is this process and whose start time is the one noted, so never a process that
 * has since got the same pid, nor one that another thread's loop is about to reap. Elsewhere,
 * or without the addon, such children stay zombies until the engine exits.
 */
import { createRequire } from 'node:module';
import { NATIVE_SPAWN_ADDON } from './native-launcher.ts';
import { processStatus } from './process-identity.ts';

/** How often the children left are looked at, while they are being stopped. */
const POLL_MS = 50;

let reap: ((pid: number) => boolean) | null | undefined;

/** The addon's reapExited, or null where there is none (not Linux, not built, built before it). */
function reaper(): ((pid: number) => boolean) | null {
  if (reap !== undefined) return reap;
  reap = null;
  if (process.platform !== 'linux') return reap;
  try {
    const addon = createRequire(import.meta.url)(NATIVE_SPAWN_ADDON) as { reapExited?: (pid: number) => boolean };
    if (typeof addon.reapExited === 'function') reap = addon.reapExited.bind(addon);
  } catch {
    // Not built: the children stay zombies, as before the addon had reapExited.
  }
  return reap;
}

/**
 * What tells the child `pid` of this process apart from a process that gets its pid later: its
 * start time. Undefined where it could not be reaped anyway (see the module's comment), or when
 * it is no longer this process's child (already reaped).
 */
export function childStart(pid: number): string | undefined {
  if (reaper() === null) return undefined;
  const status = processStatus(pid);
  return status?.ppid === process.pid ? status.start : undefined;
}

/**
 * Reaps `children` (pid → {@link childStart}) as each exits, looking every POLL_MS for up to
 * `withinMs` (they are being stopped: SIGTERM, then SIGKILL after the grace). For the children of
 * a thread that has ended.
 */
export function reapWhenExited(children: ReadonlyMap<number, string>, withinMs: number): void {
  const reapExited = reaper();
  if (reapExited === null || children.size === 0) return;
  const left = new Map(children);
  const until = Date.now() + withinMs;
  const look = (): void => {
    for (const [pid, start] of left) {
      const status = processStatus(pid);
      // Gone (someone reaped it), or the pid is another process's now: nothing to do.
      if (status === undefined || status.ppid !== process.pid || status.start !== start) left.delete(pid);
      else if (status.state === 'Z' && reapExited(pid)) left.delete(pid);
    }
    // A timer that does not keep the engine alive: at its exit the children are reaped anyway.
    if (left.size > 0 && Date.now() < until) setTimeout(look, POLL_MS).unref();
  };
  look();
}
