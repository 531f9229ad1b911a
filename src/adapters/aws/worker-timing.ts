/**
 * The timeout of a task `joinflow worker` runs, as the embedded engine's lanes time the same
 * task (lanes.ts): a container step's handler runs in the function pool, whose init (a worker
 * thread starting, the handler's module loading) is left out of its `timeoutMs`, which counts
 * from the handler's start, with INIT_LIMIT_MS beyond it for that init, as Lambda leaves out
 * its Init; a command's `timeoutMs` counts from the attempt's start.
 */
import type { Executor, StepOutcome, Task } from '../../ports.ts';
import { INIT_LIMIT_MS, initTimeout, type TimedOut } from '../local/lanes.ts';
import { setLongTimeout, type LongTimer } from '../local/long-timer.ts';

/** One attempt's timeout, armed when it is made. */
export type AttemptTimer = {
  /** When the attempt started, on the worker's clock. */
  readonly start: number;
  /** For Executor.execute's `began` (absent when the executor that runs the task has no init phase). */
  readonly began: ((started?: boolean) => void) | undefined;
  /** The attempt has ended: no timeout from now on. */
  clear(): void;
  /** How the attempt's timeout reads when it ended at `end`: for a handler, with its init, or that it never started. */
  timedOut(end: number): TimedOut;
  /** The init of an attempt that ended at `end` as `outcome`, kept within the attempt (measured on another clock). */
  initMs(outcome: StepOutcome, end: number): number | undefined;
};

/** Arms the timeout of `task`, run by `executor` (or the executor it hands the task to, Executor.runner); `expire` stops it. */
export function startAttemptTimer(executor: Executor, task: Task, now: () => number, expire: () => void): AttemptTimer {
  const initPhase = (executor.runner?.(task) ?? executor).initPhase === true;
  const timeoutMs = task.timeoutMs;
  const start = now();
  let handlerAt: number | undefined;
  let over = false;
  const fire = (): void => {
    over = true;
    expire();
  };
  let timer: LongTimer | undefined = timeoutMs === undefined ? undefined : setLongTimeout(fire, timeoutMs + (initPhase ? INIT_LIMIT_MS : 0));
  // As in the lanes: told again (the module loaded after all), counted from the last; told it had
  // not begun (loaded again), back in its init, whose limit counts from the attempt's start.
  const began = !initPhase ? undefined : (started = true): void => {
    if (over) return;
    const at = now();
    handlerAt = started ? at : undefined;
    if (timeoutMs === undefined) return;
    timer?.clear();
    timer = setLongTimeout(fire, started ? timeoutMs : Math.max(0, start + timeoutMs + INIT_LIMIT_MS - at));
  };
  return {
    start,
    began,
    clear() {
      over = true;
      timer?.clear();
    },
    timedOut(end) {
      const ms = timeoutMs ?? 0;
      return initPhase ? initTimeout(ms, start, end, handlerAt) : { status: 'timeout', timeoutMs: ms };
    },
    initMs(outcome, end) {
      if (outcome.status === 'aborted' || outcome.initMs === undefined) return undefined;
      return Math.min(outcome.initMs, Math.max(0, end - start));
    },
  };
}
