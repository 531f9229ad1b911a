/**
 * Runs tasks on executors with a concurrency limit per executor kind, enforces per-step
 * timeouts, and turns outcomes into Step Started / Completed / Failed events — the local
 * "executor bridge".
 */
import type { ExecutorKind } from '../../model/workflow.ts';
import type { Executor, StepOutcome, StopSignal, Task } from '../../ports.ts';
import { setLongTimeout, type LongTimer } from './long-timer.ts';

/** How long a task's init phase (see Executor.initPhase) may take beyond its timeout: Lambda's limit on Init. */
export const INIT_LIMIT_MS = 10_000;
import { TaskQueue } from './task-queue.ts';

/**
 * A running task: its stop signal (a minimal StopSignal: an AbortController per task would be a
 * measurable cost at scale) and what the lanes need to finish it. One object per task, and the
 * only one on the path of an executor that reports by callback (`Executor.start`), which gets
 * the job back with its outcome.
 */
class Job implements StopSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: Array<() => void> | undefined = undefined;
  /** Called once the task has stopped (made only when someone waits). */
  waiters: Array<() => void> | undefined = undefined;
  timer: LongTimer | undefined = undefined;
  /** When the task started, on the lanes' clock (Executor.deferredStart: when it began to execute). */
  start = 0;
  /** Whether it has started: at once, or when its executor began it (Executor.deferredStart). */
  began = false;
  /** When the step's own code began (Executor.initPhase), on the lanes' clock. */
  handlerAt: number | undefined = undefined;
  /** Whether the executor that runs it has an init phase (Executor.initPhase, of its runner if any). */
  initPhase = false;
  readonly task: Task;
  /** The run's running jobs, this one among them. */
  readonly running: Set<Job>;

  constructor(task: Task, running: Set<Job>) {
    this.task = task;
    this.running = running;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.#listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.#listeners!.splice(i, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners ?? [];
    this.#listeners = undefined;
    for (const l of listeners) l();
  }
}

/** One execution as `--trace` records it. */
export type TraceRecord = {
  step: string;
  item?: number;
  attempt: number;
  status: 'succeeded' | 'failed' | 'cancelled';
  start: number;
  end: number;
  /** Where the attempt ran, for steps the compiler placed (`auto`): lambda, batch-cpu, batch-gpu. */
  placement?: string;
  /** Milliseconds of it before the step's code began: a worker's start, its module's load (StepOutcome). */
  initMs?: number;
};

/**
 * An attempt stopped by its timeout. For an executor with an init phase (Executor.initPhase):
 * `tookMs`, the attempt's whole time; `initMs`, the part of it before the handler started (absent
 * when it started at once); `handlerStarted: false` when it never started (the init used up the
 * timeout and INIT_LIMIT_MS).
 */
export type TimedOut = { status: 'timeout'; timeoutMs: number; tookMs?: number; initMs?: number; handlerStarted?: false };

/**
 * A timeout of an attempt with an init phase, from its start and end and when its handler began
 * (undefined: it never did), on one clock. Also `joinflow worker`'s (aws/worker-timing.ts).
 */
export function initTimeout(timeoutMs: number, start: number, end: number, handlerAt: number | undefined): TimedOut {
  const tookMs = Math.max(0, end - start);
  if (handlerAt === undefined) return { status: 'timeout', timeoutMs, tookMs, handlerStarted: false };
  const initMs = Math.min(tookMs, Math.max(0, handlerAt - start));
  return initMs === 0 ? { status: 'timeout', timeoutMs, tookMs } : { status: 'timeout', timeoutMs, tookMs, initMs };
}

/** What the lanes report back to the engine. */
export type LaneHooks = {
  started(task: Task, at: number): void;
  finished(task: Task, outcome: StepOutcome | TimedOut, record: TraceRecord): void;
  /** Whether the task's run still wants it (false once the run ended). */
  wanted(task: Task): boolean;
  /** Which waiting task starts first: the highest number (runtime/priority.ts); default 0. */
  priority?(task: Task): number;
  now(): number;
};

/** Concurrency-limited execution of tasks, per executor kind. */
export class Lanes {
  readonly #executors: Map<ExecutorKind, Executor>;
  readonly #limits: Map<ExecutorKind, number>;
  readonly #active = new Map<ExecutorKind, number>();
  readonly #queues = new Map<ExecutorKind, TaskQueue>();
  readonly #running = new Map<string, Set<Job>>();
  readonly #hooks: LaneHooks;

  constructor(executors: Map<ExecutorKind, Executor>, limits: Map<ExecutorKind, number>, hooks: LaneHooks) {
    this.#executors = executors;
    this.#limits = limits;
    this.#hooks = hooks;
  }

  /** Queues a task; it starts as soon as its kind has a free slot (if its run still wants it then). */
  submit(task: Task): void {
    if (!this.#hooks.wanted(task)) return;
    const kind = task.executor.type;
    if ((this.#active.get(kind) ?? 0) < (this.#limits.get(kind) ?? Infinity)) {
      this.#start(task);
      return;
    }
    let q = this.#queues.get(kind);
    if (!q) this.#queues.set(kind, (q = new TaskQueue()));
    q.push(task, this.#hooks.priority?.(task) ?? 0);
  }

  /**
   * Submits a burst of tasks (one batch's dispatches) highest priority first: with free slots
   * they all start at once, but the spawns themselves take turns, and the first goes first.
   */
  submitAll(tasks: readonly Task[]): void {
    const priority = this.#hooks.priority;
    if (!priority || tasks.length < 2) {
      for (const task of tasks) this.submit(task);
      return;
    }
    const ranks = tasks.map(priority);
    // A fan-out's items all rank the same: keep their order without sorting thousands of them.
    if (ranks.every((p) => p === ranks[0])) {
      for (const task of tasks) this.submit(task);
      return;
    }
    const order = tasks.map((_, i) => i).sort((a, b) => ranks[b]! - ranks[a]! || a - b);
    for (const i of order) this.submit(tasks[i]!);
  }

  /**
   * Whether a task runs inside this process: its executor is `local`, or the one it hands the task
   * to is (Executor.runner: a `container` step's handler, run in the function pool).
   */
  isLocal(task: Task): boolean {
    const executor = this.#executors.get(task.executor.type);
    return (executor?.runner?.(task) ?? executor)?.local === true;
  }

  /** Aborts a run's running tasks (they end as cancelled) and resolves, with how many there were, when they have stopped. */
  async stopRun(runId: string, reason = 'cancelled'): Promise<number> {
    const running = this.#running.get(runId);
    if (!running) return 0;
    const stopped = [...running].map((job) => new Promise<void>((resolve) => (job.waiters ??= []).push(resolve)));
    for (const job of running) job.abort(reason);
    await Promise.all(stopped);
    return stopped.length;
  }

  /** Aborts every running task (the engine is closing) and resolves when they have stopped. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((runId) => this.stopRun(runId, 'shutdown')));
  }

  /** Tasks of a run currently executing. */
  runningCount(runId: string): number {
    return this.#running.get(runId)?.size ?? 0;
  }

  #start(task: Task): void {
    const kind = task.executor.type;
    const executor = this.#executors.get(kind);
    if (!executor) throw new Error(`no executor for kind "${kind}"`);
    this.#active.set(kind, (this.#active.get(kind) ?? 0) + 1);
    let running = this.#running.get(task.runId);
    if (!running) this.#running.set(task.runId, (running = new Set()));
    const job = new Job(task, running);
    running.add(job);
    this.#execute(executor, job);
  }

  /**
   * Runs one task. An executor that reports by callback (`start`) is called without a promise,
   * and with the lanes' one callback (this is once per task on the hot path); others through
   * `execute`'s promise.
   */
  #execute(executor: Executor, job: Job): void {
    const task = job.task;
    // A task that another executor runs for this one is timed as that executor's (a container handler as a function's).
    const runner = executor.runner?.(task) ?? executor;
    const deferred = runner.deferredStart === true;
    job.initPhase = runner.initPhase === true;
    if (!deferred) this.#begin(job, true);
    const timeoutMs = task.timeoutMs;
    if (executor.start) {
      try {
        if (deferred) executor.start(task, job, this.#done, this.#onBegin);
        else executor.start(task, job, this.#done);
      } catch (error) {
        job.timer?.clear();
        // An executor bug must fail the step, not wedge the run.
        const failed: StepOutcome = { status: 'failed', error: { type: 'ExecutorError', message: String((error as Error)?.message ?? error) }, retriable: true };
        queueMicrotask(() => this.#done(failed, job));
      }
      return;
    }
    // Told again when a handler is told twice (its module loaded after all): counted from the last.
    // Told it had not begun (its module loads again, changed on disk): back in its init, whose
    // limit counts from the attempt's start as before the handler was first told begun.
    const began = !job.initPhase ? undefined : (started = true) => {
      if (!job.began || job.aborted) return;
      const now = this.#hooks.now();
      job.handlerAt = started ? now : undefined;
      if (timeoutMs === undefined) return;
      job.timer?.clear();
      const left = started ? timeoutMs : Math.max(0, job.start + timeoutMs + INIT_LIMIT_MS - now);
      job.timer = setLongTimeout(() => job.abort('timeout'), left);
    };
    let running: Promise<StepOutcome>;
    try {
      running = deferred ? executor.execute(task, job, began, this.#onBegin) : began === undefined ? executor.execute(task, job) : executor.execute(task, job, began);
    } catch (error) {
      running = Promise.reject(error as Error);
    }
    running.then(
      (outcome) => this.#finish(job, outcome),
      // An executor bug must fail the step, not wedge the run.
      (error: unknown) => this.#finish(job, { status: 'failed', error: { type: 'ExecutorError', message: String((error as Error)?.message ?? error) }, retriable: true }),
    );
  }

  /**
   * The task starts: its start is taken, Step Started goes out, and its timeout counts from now
   * (armed when `timed`; not for a task that ends as it starts). An executor with an init phase
   * (function handlers) says when the handler begins: the timeout counts from then, as Lambda's
   * leaves out the Init; until then it has INIT_LIMIT_MS more.
   */
  #begin(job: Job, timed: boolean): void {
    job.began = true;
    const start = (job.start = this.#hooks.now());
    this.#hooks.started(job.task, start);
    const timeoutMs = job.task.timeoutMs;
    if (timed && timeoutMs !== undefined) job.timer = setLongTimeout(() => job.abort('timeout'), timeoutMs + (job.initPhase ? INIT_LIMIT_MS : 0));
  }

  /** The `begin` of executors with a deferred start (Executor.deferredStart): once per task, and not once it was stopped. */
  readonly #onBegin = (signal: StopSignal): void => {
    const job = signal as Job;
    if (!job.began && !job.aborted) this.#begin(job, true);
  };

  /**
   * The callback of executors that report by callback: what the report throws is raised as from
   * a promise's callback, not into the executor (its other tasks' callbacks still run).
   */
  readonly #done = (outcome: StepOutcome, signal: StopSignal): void => {
    try {
      this.#finish(signal as Job, outcome);
    } catch (error) {
      void Promise.reject(error as Error);
    }
  };

  #finish(job: Job, outcome: StepOutcome): void {
    // A deferred start (Executor.deferredStart) never begun: the task took no time, or, stopped, never started (the
    // run's end records it as cancelled, as a task that waited for a free slot).
    const instant = !job.began && outcome.status !== 'aborted';
    if (instant) this.#begin(job, false);
    job.timer?.clear();
    const task = job.task;
    try {
      // The hook runs while the task still holds its slot (the engine counts on it).
      if (job.began) this.#report(task, job, outcome, job.start, instant ? job.start : this.#hooks.now());
    } finally {
      const running = job.running;
      running.delete(job);
      if (running.size === 0) this.#running.delete(task.runId);
      const kind = task.executor.type;
      this.#active.set(kind, this.#active.get(kind)! - 1);
      this.#pump(kind);
      if (job.waiters) for (const w of job.waiters) w();
    }
  }

  #report(task: Task, controller: Job, outcome: StepOutcome, start: number, end: number): void {
    const status = outcome.status === 'aborted' ? (controller.reason === 'timeout' ? 'failed' : 'cancelled') : outcome.status;
    const record: TraceRecord = task.item === undefined
      ? { step: task.step, attempt: task.attempt, status, start, end }
      : { step: task.step, item: task.item, attempt: task.attempt, status, start, end };
    if (task.placement !== undefined) record.placement = task.placement;
    // Measured on the executor's clock: kept within the attempt as the engine's clock saw it.
    if (outcome.status !== 'aborted' && outcome.initMs !== undefined) record.initMs = Math.min(outcome.initMs, Math.max(0, end - start));
    if (outcome.status === 'aborted' && controller.reason === 'timeout') this.#hooks.finished(task, this.#timedOut(controller, record), record);
    else this.#hooks.finished(task, outcome, record);
  }

  /**
   * A timeout as the engine reports it: for an executor with an init phase, with the time before
   * the handler started (also the record's initMs), since the timeout leaves it out.
   */
  #timedOut(job: Job, record: TraceRecord): TimedOut {
    const timeoutMs = job.task.timeoutMs!;
    if (!job.initPhase) return { status: 'timeout', timeoutMs };
    const timedOut = initTimeout(timeoutMs, record.start, record.end, job.handlerAt);
    if (timedOut.handlerStarted === false) record.initMs = timedOut.tookMs;
    else if (timedOut.initMs !== undefined) record.initMs = timedOut.initMs;
    return timedOut;
  }

  #pump(kind: ExecutorKind): void {
    const q = this.#queues.get(kind);
    if (!q) return;
    while (q.size > 0 && (this.#active.get(kind) ?? 0) < (this.#limits.get(kind) ?? Infinity)) {
      const task = q.pop()!;
      if (this.#hooks.wanted(task)) this.#start(task);
    }
  }
}
