/**
 * The `simulate` executor: waits a step's `durationMs` (scaled) and returns its canned output.
 * Used for traces and benchmarks, so the zero-duration path is kept as cheap as possible.
 * A step of no duration executes on the executor's next turn of the loop, not when it is handed
 * over (Executor.deferredStart): the wait for that turn, behind every step handed over before it
 * (all the items of a wide fan-out), is not the step's own time.
 */
import type { Executor, StepOutcome, Task, StopSignal } from '../../ports.ts';
import { setLongTimeout } from './long-timer.ts';

/** Options of {@link createSimulateExecutor}. */
export type SimulateExecutorOptions = {
  /** Multiplies every duration: 0 runs everything instantly, 0.01 replays a trace 100x faster. */
  timeScale?: number;
};

const ABORTED: StepOutcome = Object.freeze({ status: 'aborted' });
/** How many instant steps end in one turn of the loop. */
export const INSTANT_PER_TURN = 10_000;

/** Creates the `simulate` executor. */
export function createSimulateExecutor(options: SimulateExecutorOptions = {}): Executor {
  const timeScale = options.timeScale ?? 1;
  if (!Number.isFinite(timeScale) || timeScale < 0) {
    throw new RangeError(`timeScale must be a finite number >= 0, got ${timeScale}`);
  }

  type Done = (outcome: StepOutcome, signal: StopSignal) => void;
  /** Instant steps waiting for the next turn: callback, outcome, signal, callback, outcome, signal, ... */
  let instant: unknown[] = [];
  const finishInstant = (): void => {
    let due = instant;
    instant = [];
    if (due.length > INSTANT_PER_TURN * 3) {
      // The rest on a later turn (before the steps started meanwhile): a wide fan-out's outcomes
      // in one turn would be one batch, holding off commits, timers and Ctrl-C until all are in.
      instant = due.slice(INSTANT_PER_TURN * 3);
      due = due.slice(0, INSTANT_PER_TURN * 3);
      setImmediate(finishInstant);
    }
    for (let i = 0; i < due.length; i += 3) {
      const signal = due[i + 2] as StopSignal;
      // A step stopped (cancel, Ctrl-C) before its turn came ends as stopped.
      (due[i] as Done)(signal.aborted ? ABORTED : (due[i + 1] as StepOutcome), signal);
    }
  };

  /** Reports an outcome on the next turn of the loop. */
  const later = (done: Done, outcome: StepOutcome, signal: StopSignal): void => {
    // On the next turn rather than at once: a 10,000-step chain of instant steps must still let
    // I/O and timers (timeouts, Ctrl-C) run between steps. One setImmediate serves every
    // instant step started in the same turn.
    if (instant.length === 0) setImmediate(finishInstant);
    instant.push(done, outcome, signal);
  };

  function start(task: Task, signal: StopSignal, done: Done, begin?: (signal: StopSignal) => void): void {
    const spec = task.executor;
    if (spec.type !== 'simulate') {
      later(done, { status: 'failed', error: { type: 'ExecutorMismatch', message: `simulate executor got a '${spec.type}' task` }, retriable: false }, signal);
      return;
    }
    if (signal.aborted) {
      later(done, ABORTED, signal);
      return;
    }
    const outcome: StepOutcome = { status: 'succeeded', output: spec.output === undefined ? null : spec.output };
    const ms = spec.durationMs * timeScale;
    if (!(ms > 0)) {
      later(done, outcome, signal);
      return;
    }
    // A timed step's time runs from its hand-over: its timer starts now.
    begin?.(signal);
    const onAbort = (): void => {
      timer.clear();
      done(ABORTED, signal);
    };
    const timer = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      done(outcome, signal);
      // Timers have whole-millisecond resolution and may truncate: round up so that a
      // simulated step never ends before its duration (makespan >= critical path).
    }, Math.ceil(ms));
    signal.addEventListener('abort', onAbort, { once: true });
  }

  return {
    kind: 'simulate',
    local: true,
    // An instant step is not begun: it starts as it ends, on its turn (see later()).
    deferredStart: true,
    start,

    execute(task: Task, signal: StopSignal): Promise<StepOutcome> {
      return new Promise((resolve) => start(task, signal, resolve));
    },

    async close(): Promise<void> {
      // Nothing to release: pending timers belong to runs the caller aborts.
    },
  };
}
