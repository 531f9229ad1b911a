/**
 * The messages between the function executor's pool (function-executor.ts, and the definition
 * check, module-check.ts) and its handler worker threads (function-worker.ts).
 */
import type { StepError } from '../../model/events.ts';
import type { StepEvent } from '../../model/workflow.ts';

/**
 * One handler invocation, sent by the pool. `timeoutMs` counts from the handler's start, after
 * its module has loaded (absent: no timeout): getRemainingTimeInMillis() counts down from it.
 */
export type WorkerRequest = {
  id: number;
  module: string;
  export: string;
  event: StepEvent;
  workflow: string;
  runId: string;
  step: string;
  attempt: number;
  item: number | undefined;
  timeoutMs: number | undefined;
  runStartedAt?: number | undefined;
  /** The pool does not know that this worker has the module: say when the handler starts ('started'), even if it was imported before. */
  announce?: true;
};

/** The single reply to a request with the same `id`. */
export type WorkerReply = ({ id: number; ok: true; output: unknown } | { id: number; ok: false; error: StepError; retriable: boolean }) & {
  /** Milliseconds in the handler itself; absent when it was never called (its module did not load). */
  handlerMs?: number;
  /** The handler's module was imported for this request (its first in this worker, or changed on disk). */
  loaded?: boolean;
};

/**
 * Whose code a callback of a handler worker is: the task of a request (its handler, and every
 * timer, promise and I/O callback it set up, even after it returned), or the top-level code of a
 * module being imported.
 */
export type Owner = { id: number; workflow: string; runId: string; step: string; attempt: number; item?: number } | { module: string };

/**
 * Told to the pool apart from replies:
 * - `ready`: the worker is ready for jobs (once, when it has started and imported the modules it
 *   was given to preload: `warm` when there were any);
 * - `loading`: request `id` did not ask to `announce` (the pool takes the worker to have its
 *   module), but the module is imported first after all: its file changed on disk since
 *   (`joinflow dev`), or its preload failed; `started` follows when the handler runs;
 * - `started`: the handler of request `id` is about to run after its module was imported for it
 *   (or the request asked, `announce`);
 * - `uncaught`: a callback threw and nothing caught it (`owner`: whose callback it was, when
 *   known; told once per owner).
 */
export type WorkerNotice =
  | { notice: 'ready'; warm: boolean }
  | { notice: 'loading'; id: number }
  | { notice: 'started'; id: number }
  | { notice: 'uncaught'; owner: Owner | undefined; error: string }
  | SpawnNotice;

/**
 * A handler started a child process (handler-spawns.ts): `pid`, `detached` when it leads a
 * process group of its own; without a pid, the worker is about to start its first synchronous
 * one (execSync...). Or a child the worker started has exited (`reaped`).
 */
export type SpawnNotice =
  | { notice: 'spawned'; pid: number; detached: boolean; owner: Owner | undefined }
  | { notice: 'spawned'; pid?: undefined; owner: Owner | undefined }
  | { notice: 'reaped'; pid: number };

/**
 * The variable that marks, in their environment, the processes a handler worker's handlers start
 * (and what they start in turn, unless they clear it): its value is {@link threadMark}.
 */
export const THREAD_MARK = 'JOINFLOW_HANDLER_THREAD';

/** The value of {@link THREAD_MARK} for the worker thread `threadId` of process `pid`. */
export function threadMark(pid: number, threadId: number): string {
  return `${pid}.${threadId}`;
}

/** The definition check (module-check.ts) asks for a handler module's function exports. */
export type DescribeRequest = { id: number; describe: string };
/** Its answer: the names, or why the module did not load. */
export type DescribeReply = { id: number; exports: string[] } | { id: number; error: string; syntax: boolean };

/** An owner in words, for messages: `step "a" (attempt 1, run r1)`, or `the top level of module m`. */
export function ownerLabel(owner: Owner): string {
  if ('module' in owner) return `the top-level code of module ${owner.module}`;
  const item = owner.item === undefined ? '' : `, item ${owner.item}`;
  return `step "${owner.step}" (attempt ${owner.attempt}${item}, run ${owner.runId})`;
}
