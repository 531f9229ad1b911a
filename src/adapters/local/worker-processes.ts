/**
 * The processes a handler worker's handlers started (told by handler-spawns.ts), on the pool's
 * side (function-executor.ts): stopped when the worker ends, since nothing else would. A worker
 * ends when the step running on it times out or is cancelled, when the engine closes, when it is
 * replaced (a reload, a crash). The children it reported are signalled by pid; on Linux what they
 * started in turn is found by the mark in its environment (orphans.ts), a detached child's
 * process group included, unless it cleared its environment. Elsewhere, a detached child's
 * process group is signalled as a whole, other grandchildren are not found. The children that
 * exit after the worker has ended are reaped here (child-reaper.ts), on Linux.
 */
import type { Worker } from 'node:worker_threads';
import { childStart, reapWhenExited } from './child-reaper.ts';
import { ownerLabel, THREAD_MARK, threadMark, type Owner, type SpawnNotice } from './function-protocol.ts';
import { findProcesses, stopProcesses } from './orphans.ts';

/** The processes of one worker. */
export type WorkerProcesses = {
  /** A notice of the worker about its children. */
  note(notice: SpawnNotice): void;
  /**
   * Stops whatever the worker's handlers started that is still there (SIGTERM, then SIGKILL after
   * the grace); called again once the worker has stopped, it stops what came meanwhile. Resolves
   * when all that was signalled is gone.
   */
  stop(): Promise<void>;
};

/** How long after a worker has ended, beyond the grace of its children's stop, they are waited for to reap them. */
const REAP_MARGIN_MS = 10_000;

/** Live trackers, for {@link stopHandlerProcesses}. */
const live = new Set<{ signal(): void }>();

/**
 * Tracks the processes of `worker`; `graceMs` between SIGTERM and SIGKILL; `warn` says which
 * processes are stopped and whose they were.
 */
export function workerProcesses(worker: Worker, graceMs: number, warn: (line: string) => void): WorkerProcesses {
  const mark = threadMark(process.pid, worker.threadId);
  const children = new Map<number, { detached: boolean; owner: Owner | undefined; start: string | undefined }>();
  const signalled = new Set<number>();
  const stopping: Promise<unknown>[] = [];
  let spawned = false;

  /** What is to be stopped now: the children told of, and on Linux the processes with the mark. */
  function targets(): number[] {
    const pids = new Set<number>();
    for (const [pid, child] of children) {
      pids.add(pid);
      // Its process group: what it started, where there is no /proc to find it by.
      if (child.detached && process.platform !== 'linux') pids.add(-pid);
    }
    if (spawned) for (const pid of findProcesses({ [THREAD_MARK]: mark })) pids.add(pid);
    return [...pids].filter((pid) => !signalled.has(pid));
  }

  /** Says which processes are stopped, whose they were, and why. */
  const say = (pids: readonly number[], why: string): void =>
    warn(`joinflow: stopping ${pids.length === 1 ? 'a process' : `${pids.length} processes`} that function handlers started${why}: ${describe(pids, children)}\n`);

  const tracker = {
    signal(): void {
      const pids = targets();
      // Said as when the thread ends: the command ends by the signal right after.
      if (pids.length > 0) say(pids, ', as the command is interrupted');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Gone already.
        }
      }
    },
  };
  live.add(tracker);
  worker.once('exit', () => {
    live.delete(tracker);
    // Its children not yet reaped are nobody's to reap now: they are being stopped (stop()).
    const left = new Map<number, string>();
    for (const [pid, child] of children) if (child.start !== undefined) left.set(pid, child.start);
    reapWhenExited(left, graceMs + REAP_MARGIN_MS);
  });

  return {
    note(notice): void {
      if (notice.notice === 'reaped') {
        children.delete(notice.pid);
        return;
      }
      spawned = true;
      if (notice.pid !== undefined) children.set(notice.pid, { detached: notice.detached, owner: notice.owner, start: childStart(notice.pid) });
    },
    stop(): Promise<void> {
      const pids = targets();
      if (pids.length > 0) {
        for (const pid of pids) signalled.add(pid);
        say(pids, ' and left running, as their worker thread ends');
        stopping.push(stopProcesses(pids, graceMs));
      }
      return Promise.all(stopping).then(() => undefined);
    },
  };
}

/** The pids, grouped by who started them: `pids 1, 2 (started by the handler of step "a" (...)); pid 3`. */
function describe(pids: readonly number[], children: ReadonlyMap<number, { owner: Owner | undefined }>): string {
  const groups = new Map<string, number[]>();
  for (const pid of pids) {
    const owner = children.get(Math.abs(pid))?.owner;
    const who = owner === undefined ? '' : ` (started by ${'id' in owner ? `the handler of ${ownerLabel(owner)}` : ownerLabel(owner)})`;
    groups.set(who, [...(groups.get(who) ?? []), pid]);
  }
  const name = (pid: number) => (pid < 0 ? `the process group of ${-pid}` : String(pid));
  return [...groups].map(([who, list]) => `${list.length === 1 ? 'pid' : 'pids'} ${list.map(name).join(', ')}${who}`).join('; ');
}

/**
 * SIGTERM, at once, to the processes that the handlers of every live worker started: for a
 * command that ends on a signal (Ctrl-C, SIGTERM) without closing its engine.
 */
export function stopHandlerProcesses(): void {
  for (const tracker of live) tracker.signal();
}
