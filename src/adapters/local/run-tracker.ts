/** Per-run bookkeeping of the embedded engine: counts, trace, timers, and the waiters of a run. */
import { DetailType, type EventEnvelope, NEEDS_FAILED, type StepError, type StepFailed, type StepSkipped } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord, RunStatus, Task } from '../../ports.ts';
import type { DurableLog, TaskAttempt } from './durable-log.ts';
import type { TraceRecord } from './lanes.ts';
import { setLongTimeout, type LongTimer } from './long-timer.ts';
import { countUnits, traceRecord, unitKey, withFailingStep, withSkipped } from './run-counts.ts';

export { traceRecord } from './run-counts.ts';

/** What `joinflow run --json` prints (DESIGN.md, "Command line"). */
export type RunResult = {
  runId: string;
  workflow: string;
  status: Exclude<RunStatus, 'running'>;
  output: unknown;
  error?: StepError & { step?: string; item?: number };
  durationMs: number;
  /**
   * Units of work: a step, or one item of a forEach step. A unit succeeded when one of its
   * attempts did; otherwise its latest attempt says whether it failed or was cancelled (as
   * `joinflow status` shows it). `retried` counts extra attempts. `skipped`, for workflows with
   * choices (`when`) or catch steps: the steps that did not run because of one (not units of
   * work). A run reported again from its record alone has it only when it skipped some.
   */
  steps: { total: number; succeeded: number; failed: number; cancelled: number; retried: number; skipped?: number };
  /** Events on the bus that belonged to this run. */
  events: number;
  /** For workflows of simulated steps: the critical path, scaled like the durations. */
  criticalPathMs?: number;
};

/** Live counts for progress displays. `total` grows as fan-outs learn their width. */
export type Progress = { done: number; total: number; running: number; failed: number };

/** A task waiting for its timer, and the timer's id in the durable log. */
export type Waiting = { task: Task; timerId?: number };


/** How a unit of work stands: waiting for (or running) an attempt, or how its latest attempt ended. */
const enum UnitState {
  Pending,
  Succeeded,
  Failed,
  Cancelled,
}

/** What the counts need of a plan: its steps, forEach steps, and whether it has choices or catch steps. */
type Shape = { steps: number; fanSteps: number; choices: boolean };
/** Shapes by plan: runs of one workflow share one plan object. */
const shapes = new WeakMap<TriggerPlan, Shape>();

/** Tracks one run in the engine. */
export class RunTracker {
  ended = false;
  /** A failure for good was reported and its event is not handled yet (see failedAttempt). */
  failing = false;
  /** Tasks held back while `failing`. */
  readonly parked: Task[] = [];
  readonly trace: TraceRecord[] = [];
  readonly result: Promise<RunResult>;
  readonly #runId: string;
  readonly #plan: TriggerPlan;
  readonly #startedAt: number;
  readonly #timeScale: number;
  readonly #keepTrace: boolean;
  /** Each unit of work and how it stands: its latest attempt's end, or pending (see UnitState). */
  readonly #units = new Map<string, UnitState>();
  readonly #fanned = new Set<string>();
  readonly #fannedSteps = new Set<string>();
  /** Timers of the run, each with the task it starts when it waits for one (a delay, a retry's backoff). */
  readonly #timers = new Map<LongTimer, Waiting | undefined>();
  #fannedItems = 0;
  /** Steps a choice skipped. */
  #skipped: Set<string> | undefined;
  #succeeded = 0;
  #failed = 0;
  #retried = 0;
  #events = 0;
  #resolve!: (r: RunResult) => void;
  #reject!: (error: Error) => void;
  readonly #log: DurableLog | undefined;
  #logged: TaskAttempt[] | undefined;
  /** Whether the run's end reads its attempts from the log (see {@link startsHere}). */
  #fromLog = true;
  /** Recovered or resumed: it may have begun in another process, whose events the log has. */
  #resumed = true;

  constructor(runId: string, plan: TriggerPlan, startedAt: number, timeScale: number, keepTrace: boolean, log?: DurableLog) {
    this.#log = log;
    this.#runId = runId;
    this.#plan = plan;
    this.#startedAt = startedAt;
    this.#timeScale = timeScale;
    this.#keepTrace = keepTrace;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A run nobody waits for must not make its abandonment an unhandled rejection.
    this.result.catch(() => {});
  }

  /** The engine stopped (its state could not be written): whoever waits for the run gets `error`. */
  abandon(error: Error): void {
    this.ended = true;
    this.clearTimers();
    this.#reject(error);
  }

  get runId(): string {
    return this.#runId;
  }

  /** The workflow the run executes. */
  get workflow(): string {
    return this.#plan.workflow;
  }

  /**
   * A result for a run that ended before this process knew it: its units of work from the log's
   * attempts and its events from the log's events (when there is a log that still has them; 0
   * events without one).
   */
  static fromRecord(record: RunRecord, log?: DurableLog): RunResult {
    const attempts = log?.attempts(record.runId) ?? [];
    // As when it ended: the critical path of its plan, at the run's time scale.
    const cp = log?.runPlan(record.runId)?.stats.criticalPathMs ?? null;
    const scale = log?.runOptions(record.runId)?.['timeScale'];
    return {
      runId: record.runId,
      workflow: record.workflow,
      status: record.status as RunResult['status'],
      output: record.output ?? null,
      ...(record.error ? { error: record.error } : {}),
      durationMs: (record.finishedAt ?? record.startedAt) - record.startedAt,
      steps: withSkipped(countUnits(attempts, record), attempts.filter((e) => e.status === 'skipped').length, false),
      events: log?.eventCount?.(record.runId) ?? 0,
      ...(cp === null ? {} : { criticalPathMs: cp * (typeof scale === 'number' ? scale : 1) }),
    };
  }

  /**
   * This process starts the run and sees all of it: its counts here are those of its log, which
   * the run's end then need not read back (every attempt of the run). Not so for a run recovered
   * or resumed (it may span processes), nor when a trace is kept (it comes from the log).
   */
  startsHere(): void {
    this.#fromLog = this.#keepTrace;
    this.#resumed = false;
  }

  /** Counts one of the run's events; notes the steps that never ran (see {@link #neverRan}). */
  countEvent(e: EventEnvelope): void {
    this.#events++;
    const type = e['detail-type'];
    if (type === DetailType.StepFailed && (e.detail as StepFailed).error.type === NEEDS_FAILED) this.#neverRan(e, 'failed');
    else if (type === DetailType.StepSkipped) this.#neverRan(e, 'skipped');
  }

  /**
   * A step that never ran: it can never run (its needs failed), a failed unit of the run's
   * counts; or a choice skipped it, not a unit of work. On the log it is a task of attempt 0 that
   * ended without starting, so that `status` and the counts of a run read back from the log have
   * it too (no trace record: it never ran). A repeated event (redelivery) changes nothing.
   */
  #neverRan(e: EventEnvelope, status: 'failed' | 'skipped'): void {
    const { step } = e.detail as StepFailed | StepSkipped;
    const spec = this.#plan.steps[step];
    if (!spec) return;
    if (status === 'skipped') {
      this.#skipped ??= new Set();
      if (this.#skipped.has(step)) return;
      this.#skipped.add(step);
    } else {
      if (this.#units.get(step) === UnitState.Failed) return;
      if (this.#units.get(step) !== UnitState.Succeeded) {
        this.#units.set(step, UnitState.Failed);
        this.#failed++;
      }
    }
    if (!this.#log) return;
    const task: Task = {
      workflow: this.#plan.workflow, runId: this.#runId, step, attempt: 0, maxAttempts: spec.retry.maxAttempts,
      executor: spec.executor, event: { input: null, results: {} },
    };
    this.#log.recordTask(task);
    this.#log.taskFinished(task, status, Date.parse(e.time));
  }

  /** A task was dispatched (or a retry submitted): its unit waits for this attempt. */
  dispatched(task: Task): void {
    const key = unitKey(task);
    if (this.#units.get(key) !== UnitState.Succeeded) this.#units.set(key, UnitState.Pending);
    if (task.item !== undefined && !this.#fanned.has(key)) {
      this.#fanned.add(key);
      this.#fannedSteps.add(task.step);
      this.#fannedItems++;
    }
  }

  started(task: Task): void {
    if (task.attempt > 1) this.#retried++;
  }

  /**
   * An attempt failed; for good unless `retrying`. Returns true when this failure begins to end
   * the run: from then on its tasks are held back (see wants) until the engine has handled it.
   */
  failedAttempt(_task: Task, retrying: boolean): boolean {
    if (retrying) return false;
    this.#failed++;
    if (this.failing) return false;
    this.failing = true;
    return true;
  }

  /**
   * Whether a task of this run may start now: not once the run has ended, nor while a failure
   * for good is being handled (it ends the run); a task asked for meanwhile is kept in `parked`.
   */
  wants(task: Task): boolean {
    if (this.ended) return false;
    if (!this.failing) return true;
    this.parked.push(task);
    return false;
  }

  record(record: TraceRecord, succeeded: boolean): void {
    const key = unitKey(record);
    if (succeeded) {
      this.#succeeded++;
      this.#units.set(key, UnitState.Succeeded);
    } else if (this.#units.get(key) !== UnitState.Succeeded) {
      this.#units.set(key, record.status === 'failed' ? UnitState.Failed : UnitState.Cancelled);
    }
    if (this.#keepTrace) this.trace.push(record);
  }

  /** Runs `fn` after `delayMs`, unless the run ends first; `waiting`: the task it starts, and its timer's id in the log. */
  schedule(delayMs: number, fn: () => void, waiting?: Waiting): void {
    const timer = setLongTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, delayMs);
    this.#timers.set(timer, waiting);
  }

  /** Stops the run's timers; returns the tasks they would have started. */
  clearTimers(): Waiting[] {
    const left: Waiting[] = [];
    for (const [t, waiting] of this.#timers) {
      t.clear();
      if (waiting) left.push(waiting);
    }
    this.#timers.clear();
    return left;
  }

  /**
   * The run ended while `task` waited for its timer: it never starts. It ends as cancelled, as a
   * task queued behind a concurrency limit does (in the log with no start, so no trace record).
   */
  cancelWaiting({ task, timerId }: Waiting, now: number): void {
    const key = unitKey(task);
    if (this.#units.get(key) !== UnitState.Succeeded) this.#units.set(key, UnitState.Cancelled);
    if (!this.#log) return;
    if (timerId !== undefined) this.#log.removeTimer(timerId);
    this.#log.recordTask(task);
    this.#log.taskFinished(task, 'cancelled', now);
  }

  progress(running: number): Progress {
    const { steps, fanSteps } = this.#shape;
    return {
      done: this.#succeeded + this.#failed,
      total: steps - fanSteps + this.#fannedItems + (fanSteps - this.#fannedSteps.size) - (this.#skipped?.size ?? 0),
      running,
      failed: this.#failed,
    };
  }

  /** The units of work from what this process saw (no log); one still pending ended with the run. */
  #counted(): RunResult['steps'] {
    let succeeded = 0;
    let failed = 0;
    for (const state of this.#units.values()) {
      if (state === UnitState.Succeeded) succeeded++;
      else if (state === UnitState.Failed) failed++;
    }
    return { total: this.#units.size, succeeded, failed, cancelled: this.#units.size - succeeded - failed, retried: this.#retried };
  }

  get #shape(): Shape {
    let shape = shapes.get(this.#plan);
    if (!shape) {
      const steps = Object.values(this.#plan.steps);
      shape = { steps: steps.length, fanSteps: steps.filter((s) => s.forEach).length, choices: steps.some((s) => s.when !== undefined || s.catch !== undefined) };
      shapes.set(this.#plan, shape);
    }
    return shape;
  }

  /**
   * Reads the run's attempts from the durable log: a durable run may span several processes
   * (crash, resume), and its log tells the whole story. Call it once the run's tasks are all
   * finished; finish() reads them itself if this was not called.
   */
  readLog(): void {
    if (this.#fromLog) this.#logged = this.#log?.attempts(this.#runId);
  }

  finish(record: RunRecord, now: number): void {
    const cp = this.#plan.stats.criticalPathMs;
    const logged = this.#logged ?? (this.#fromLog ? this.#log?.attempts(this.#runId) : undefined);
    if (logged) {
      // The log does not keep initMs: the attempts this process ran keep theirs from its own trace.
      const init = new Map(this.trace.filter((r) => r.initMs !== undefined).map((r) => [`${r.step}\0${r.item ?? ''}\0${r.attempt}`, r.initMs]));
      this.trace.length = 0;
      if (this.#keepTrace) {
        for (const r of logged.flatMap(traceRecord)) {
          const initMs = init.get(`${r.step}\0${r.item ?? ''}\0${r.attempt}`);
          this.trace.push(initMs === undefined ? r : { ...r, initMs });
        }
      }
    }
    this.#resolve({
      runId: this.#runId,
      workflow: this.#plan.workflow,
      status: record.status as RunResult['status'],
      output: record.status === 'succeeded' ? (record.output ?? null) : null,
      ...(record.error ? { error: record.error } : {}),
      // The engine's clock: the processor's may run ahead after a simulated crash (--chaos crash-at).
      durationMs: now - this.#startedAt,
      steps: withSkipped(
        logged ? countUnits(logged, record) : withFailingStep(this.#counted(), record, this.#units.keys()),
        logged ? logged.filter((e) => e.status === 'skipped').length : (this.#skipped?.size ?? 0),
        this.#shape.choices,
      ),
      // A resumed run counts the events of the processes before this one too, as its report does later (fromRecord).
      events: (this.#resumed ? this.#log?.eventCount?.(this.#runId) : undefined) ?? this.#events,
      ...(cp === null ? {} : { criticalPathMs: cp * this.#timeScale }),
    });
  }
}
