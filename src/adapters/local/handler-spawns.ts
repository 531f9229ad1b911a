/**
 * The child processes that handlers start, in a handler worker (function-worker.ts). Each gets
 * the worker's mark in its environment (so do the processes it starts, unless it clears it), and
 * the pool is told of it and of its exit: what a handler started is stopped when its worker ends
 * (a timeout or cancel of the step running there, the engine closing), instead of outliving the
 * run (worker-processes.ts). Every thread has module objects of its own, node:child_process
 * included: patching this worker's touches neither the main thread's nor another worker's.
 */
import childProcess, { ChildProcess } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { threadId, type MessagePort } from 'node:worker_threads';
import { THREAD_MARK, threadMark, type WorkerNotice } from './function-protocol.ts';
import { owners } from './handler-leftovers.ts';

/** What ChildProcess.prototype.spawn is given: spawn, exec, execFile and fork all end there. */
type SpawnArgs = { envPairs?: unknown; detached?: unknown };

/** Marks and reports the processes this worker's handlers start, from now on. */
export function trackSpawns(port: MessagePort): void {
  const mark = threadMark(process.pid, threadId);
  const entry = `${THREAD_MARK}=${mark}`;
  // A worker's process.env is its own copy: children that inherit it carry the mark.
  process.env[THREAD_MARK] = mark;
  const proto = ChildProcess.prototype as unknown as { spawn(this: ChildProcess, options: SpawnArgs): unknown };
  const spawn = proto.spawn;
  proto.spawn = function (this: ChildProcess, options: SpawnArgs) {
    // An environment given in full (`env: {PATH}`) gets the mark too.
    if (Array.isArray(options?.envPairs)) {
      const pairs = options.envPairs.filter((pair) => typeof pair !== 'string' || !pair.startsWith(`${THREAD_MARK}=`));
      pairs.push(entry);
      options.envPairs = pairs;
    }
    const result = spawn.call(this, options);
    const pid = this.pid;
    if (pid !== undefined) {
      port.postMessage({ notice: 'spawned', pid, detached: options.detached === true, owner: owners.getStore() } satisfies WorkerNotice);
      // Exited and reaped by this thread: its pid may go to another process, which must not be signalled.
      this.once('exit', () => port.postMessage({ notice: 'reaped', pid } satisfies WorkerNotice));
    }
    return result;
  };
  trackSyncSpawns(port, mark);
}

/** The synchronous forms, and where their options are: `(command, options)`, or `(file, args?, options?)`. */
const SYNC = { execSync: () => 1, execFileSync: optionsAfterArgs, spawnSync: optionsAfterArgs } as const;
function optionsAfterArgs(args: unknown[]): number {
  return Array.isArray(args[1]) || args[1] == null ? 2 : 1;
}

/**
 * A synchronous child (execSync...) blocks its thread until it exits, and terminate() cannot
 * stop the thread meanwhile: the pool is told (once) that there may be such a child, finds it by
 * its mark, and stops it when the worker is to end, which lets the call return and the thread
 * stop. Its pid is never known here: the call returns only once the child has gone.
 */
function trackSyncSpawns(port: MessagePort, mark: string): void {
  const module = childProcess as unknown as Record<keyof typeof SYNC, (...args: unknown[]) => unknown>;
  let told = false;
  for (const key of Object.keys(SYNC) as Array<keyof typeof SYNC>) {
    const original = module[key];
    module[key] = function (this: unknown, ...args: unknown[]) {
      if (!told) port.postMessage({ notice: 'spawned', owner: owners.getStore() } satisfies WorkerNotice);
      told = true;
      const at = SYNC[key](args);
      const options = args[at] as { env?: Record<string, string | undefined> } | undefined;
      if (options !== null && typeof options === 'object' && options.env != null) args[at] = { ...options, env: { ...options.env, [THREAD_MARK]: mark } };
      return original.apply(this, args);
    };
  }
  // Imports of the named exports (`import { execSync } from 'node:child_process'`) see them too.
  syncBuiltinESMExports();
}
