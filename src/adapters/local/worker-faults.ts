/**
 * What the function executor's pool (function-executor.ts) says when something goes wrong in a
 * handler worker: it exits, or a callback throws with nothing to catch it. A callback is told as
 * its owner's (handler-leftovers.ts): the task running then fails only for its own.
 */
import { getHeapStatistics } from 'node:v8';
import type { StepError } from '../../model/events.ts';
import type { StepOutcome } from '../../ports.ts';
import { ownerLabel, type Owner, type WorkerRequest } from './function-protocol.ts';

/** A failed outcome. */
export function failed(type: string, message: string, retriable: boolean): StepOutcome {
  const error: StepError = { type, message };
  return { status: 'failed', error, retriable };
}

/** The handler (`module#export`) and the step of a request. */
function running(req: WorkerRequest): string {
  return `${req.module}#${req.export} for step '${req.step}'`;
}

/** Its worker exited under the task of `req`: before it was ready (`starting`), or while it ran. */
export function workerExited(req: WorkerRequest, starting: boolean, why: string): StepOutcome {
  const what = starting ? `the worker starting for ${req.module}#${req.export} (step '${req.step}') exited before it was ready` : `worker running ${running(req)} crashed`;
  return failed('WorkerCrashed', `${what} (${why})`, true);
}

/**
 * Its worker ran out of heap under the task of `req` (ERR_WORKER_OUT_OF_MEMORY): past its cap,
 * `memoryMb` (the step's), or without one past V8's limit, which every thread of the process has.
 * `starting`: before it was ready, importing the modules it preloads.
 */
export function outOfMemory(req: WorkerRequest, memoryMb: number | undefined, starting: boolean): StepOutcome {
  const which = `step '${req.step}' (attempt ${req.attempt}, run ${req.runId})`;
  const what = starting ? `the worker thread starting for the handler ${req.module}#${req.export} of ${which} ran out of memory before it was ready` : `the handler ${req.module}#${req.export} of ${which} ran out of memory`;
  const limit = memoryMb === undefined
    ? `V8's heap limit of about ${Math.round(getHeapStatistics().heap_size_limit / 2 ** 20)} MB (the step gives no resources.memoryMb; node's --max-old-space-size sets that limit)`
    : `the step's limit of ${memoryMb} MB (resources.memoryMb)`;
  return failed('OutOfMemory', `${what}: its worker thread's heap reached ${limit}; the thread was ended, and another takes its place`, true);
}

/**
 * Whether an uncaught error whose owner is `owner` is the running task's own: its handler's
 * callback, or one of the top-level code of its module; or no owner could be told (a callback
 * that lost its context), which may be its own too.
 */
export function ownFault(req: WorkerRequest, owner: Owner | undefined): boolean {
  return owner === undefined || ('id' in owner ? owner.id === req.id : owner.module === req.module);
}

/** The running task's failure for an uncaught error that is its own (see {@link ownFault}). */
export function uncaughtOwn(req: WorkerRequest, owner: Owner | undefined, error: string): StepOutcome {
  const what =
    owner === undefined
      ? `worker running ${running(req)} crashed: a callback threw and nothing caught it (${error}), and whose it was is not known: this step's, or one a step before it on this worker left behind`
      : 'id' in owner
        ? `the handler ${running(req)} threw from a callback and nothing caught it (${error})`
        : `a callback of the top-level code of module ${req.module} (for step '${req.step}') threw and nothing caught it (${error})`;
  return failed('WorkerCrashed', `${what}; its worker thread was replaced`, true);
}

/**
 * What is said (on stderr) of an uncaught error that is not the running task's: a callback a
 * finished task left behind, or a module's top-level timer. `req`: the task running on that
 * worker, which goes on unaffected.
 */
export function uncaughtLeftover(owner: Owner | undefined, error: string, req: WorkerRequest | undefined): string {
  const whose =
    owner === undefined
      ? 'a callback in an idle handler worker thread threw and nothing caught it'
      : 'id' in owner
        ? `a callback that the handler of ${ownerLabel(owner)} left behind threw after that step had ended, and nothing caught it`
        : `a callback of ${ownerLabel(owner)} threw and nothing caught it`;
  const then = 'id' in (owner ?? {}) ? " (that step's outcome stands)" : '';
  const after = req === undefined ? '' : ` once step '${req.step}', which runs on it unaffected, ends`;
  return `joinflow: ${whose}: ${error}${then}. Its worker thread is replaced${after}.\n`;
}
