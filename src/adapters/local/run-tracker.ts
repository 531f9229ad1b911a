/** Per-run bookkeeping of the embedded engine: counts, trace, timers, and the waiters of a run. */
import type { StepError } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord, RunStatus, Task } from '../../ports.ts';
import type { DurableLog, TaskAttempt } from './durable-log.ts';
import type { TraceRecord } from './lanes.ts';

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
   * `joinflow status` shows it). `retried` counts extra attempts.
   */
  steps: { total: number; succeeded: number; failed: number; cancelled: number; retried: number };
  /** Events on the bus that belonged to this run. */
  events: number;
  /** For workflows of simulated steps: the critical path, scaled like the durations. */
  criticalPathMs?: number;
};

/** Live counts for progress displays. `total` grows as fan-outs learn their width. */
export type Progress = { done: number; total: number; running: number; failed: number };

const unitKey = (t: { step: string; item?: number }) => (t.item === undefined ? t.step : `${t.step}#${t.item}`);

/** Tracks one run in the engine. */
export class RunTracker {
  ended = false;
  readonly trace: TraceRecord[] = [];
  readonly result: Promise<RunResult>;
  readonly #runId: string;
  readonly #plan: TriggerPlan;
  readonly #startedAt: number;
  readonly #timeScale: number;
  readonly #keepTrace: boolean;
  readonly #units = new Set<string>();
  readonly #fanned = new Set<string>();
  readonly #fannedSteps = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #fannedItems = 0;
  #shapeCache: { steps: number; fanSteps: number } | undefined;
  #succeeded = 0;
  #failed = 0;
  #retried = 0;
  /** Units whose latest attempt ended failed or cancelled (without a log to read them from). */
  readonly #unsettled = new Map<string, 'failed' | 'cancelled'>();
  #events = 0;
  #resolve!: (r: RunResult) => void;
  readonly #log: DurableLog | undefined;
  #logged: TaskAttempt[] | undefined;

  constructor(runId: string, plan: TriggerPlan, startedAt: number, timeScale: number, keepTrace: boolean, log?: DurableLog) {
    this.#log = log;
    this.#runId = runId;
    this.#plan = plan;
    this.#startedAt = startedAt;
    this.#timeScale = timeScale;
    this.#keepTrace = keepTrace;
    this.result = new Promise((resolve) => (this.#resolve = resolve));
  }

  /** The workflow the run executes. */
  get workflow(): string {
    return this.#plan.workflow;
  }

  /**
   * A result for a run that ended before this process knew it: its units of work from the log's
   * attempts (when there is a log that still has them); its events are not counted again (0).
   */
  static fromRecord(record: RunRecord, log?: DurableLog): RunResult {
    const attempts = log?.attempts(record.runId) ?? [];
    return {
      runId: record.runId,
      workflow: record.workflow,
      status: record.status as RunResult['status'],
      output: record.output ?? null,
      ...(record.error ? { error: record.error } : {}),
      durationMs: (record.finishedAt ?? record.startedAt) - record.startedAt,
      steps: countUnits(attempts, record),
      events: 0,
    };
  }

  countEvent(): void {
    this.#events++;
  }

  dispatched(task: Task): void {
    if (task.item !== undefined && !this.#fanned.has(unitKey(task))) {
      this.#fanned.add(unitKey(task));
      this.#fannedSteps.add(task.step);
      this.#fannedItems++;
    }
  }

  started(task: Task): void {
    this.#units.add(unitKey(task));
  }

  failedAttempt(_task: Task, retrying: boolean): void {
    if (retrying) this.#retried++;
    else this.#failed++;
  }

  record(record: TraceRecord, succeeded: boolean): void {
    if (succeeded) {
      this.#succeeded++;
      if (this.#unsettled.size > 0) this.#unsettled.delete(unitKey(record));
    } else if (record.status === 'failed' || record.status === 'cancelled') {
      this.#unsettled.set(unitKey(record), record.status);
    }
    if (this.#keepTrace) this.trace.push(record);
  }

  schedule(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, delayMs);
    this.#timers.add(timer);
  }

  clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  progress(running: number): Progress {
    const { steps, fanSteps } = this.#shape;
    return {
      done: this.#succeeded + this.#failed,
      total: steps - fanSteps + this.#fannedItems + (fanSteps - this.#fannedSteps.size),
      running,
      failed: this.#failed,
    };
  }

  /** The units of work from what this process saw (no log). */
  #counted(): RunResult['steps'] {
    let failed = 0;
    let cancelled = 0;
    for (const status of this.#unsettled.values()) {
      if (status === 'failed') failed++;
      else cancelled++;
    }
    return { total: this.#units.size, succeeded: this.#succeeded, failed, cancelled, retried: this.#retried };
  }

  get #shape(): { steps: number; fanSteps: number } {
    if (!this.#shapeCache) {
      const steps = Object.values(this.#plan.steps);
      this.#shapeCache = { steps: steps.length, fanSteps: steps.filter((s) => s.forEach).length };
    }
    return this.#shapeCache;
  }

  /**
   * Reads the run's attempts from the durable log: a durable run may span several processes
   * (crash, resume), and its log tells the whole story. Call it once the run's tasks are all
   * finished; finish() reads them itself if this was not called.
   */
  readLog(): void {
    this.#logged = this.#log?.attempts(this.#runId);
  }

  finish(record: RunRecord, now: number): void {
    const cp = this.#plan.stats.criticalPathMs;
    const logged = this.#logged ?? this.#log?.attempts(this.#runId);
    if (logged) {
      this.trace.length = 0;
      if (this.#keepTrace) for (const r of logged.flatMap(traceRecord)) this.trace.push(r);
    }
    this.#resolve({
      runId: this.#runId,
      workflow: this.#plan.workflow,
      status: record.status as RunResult['status'],
      output: record.status === 'succeeded' ? (record.output ?? null) : null,
      ...(record.error ? { error: record.error } : {}),
      // The engine's clock: the processor's may run ahead after a simulated crash (--chaos crash-at).
      durationMs: now - this.#startedAt,
      steps: logged
        ? countUnits(logged, record)
        : withFailingStep(this.#counted(), record, this.#units),
      events: this.#events,
      ...(cp === null ? {} : { criticalPathMs: cp * this.#timeScale }),
    });
  }
}

/** A logged attempt as a trace record (attempts that never started have none). */
export function traceRecord(e: TaskAttempt): TraceRecord[] {
  if (e.startedAt === undefined || e.finishedAt === undefined) return [];
  const status = e.status === 'succeeded' || e.status === 'failed' || e.status === 'cancelled' ? e.status : 'cancelled';
  return [{
    step: e.step,
    ...(e.item === undefined ? {} : { item: e.item }),
    attempt: e.attempt,
    status,
    start: e.startedAt,
    end: e.finishedAt,
    ...(e.placement === undefined ? {} : { placement: e.placement }),
  }];
}

/**
 * Units of work and their outcomes from the log: a unit succeeded if any attempt did. The step
 * that failed the run counts as a failed unit even when it had no attempt (see {@link withFailingStep}).
 */
function countUnits(entries: readonly TaskAttempt[], record: RunRecord): RunResult['steps'] {
  // Per unit: whether an attempt succeeded, and the latest attempt's status.
  const units = new Map<string, { succeeded: boolean; attempt: number; status: string }>();
  let attempts = 0;
  for (const e of entries) {
    if (e.startedAt === undefined) continue;
    attempts++;
    const k = unitKey(e);
    const unit = units.get(k);
    if (!unit) units.set(k, { succeeded: e.status === 'succeeded', attempt: e.attempt, status: e.status });
    else {
      if (e.status === 'succeeded') unit.succeeded = true;
      if (e.attempt >= unit.attempt) {
        unit.attempt = e.attempt;
        unit.status = e.status;
      }
    }
  }
  let succeeded = 0;
  let failed = 0;
  let cancelled = 0;
  for (const unit of units.values()) {
    if (unit.succeeded) succeeded++;
    else if (unit.status === 'failed') failed++;
    else if (unit.status === 'cancelled') cancelled++;
  }
  return withFailingStep({ total: units.size, succeeded, failed, cancelled, retried: attempts - units.size }, record, units.keys());
}

/**
 * A step can fail the run without any attempt of its own (a forEach over something that is not
 * an array fails at dispatch): it still counts as a failed unit.
 */
function withFailingStep(steps: RunResult['steps'], record: RunRecord, units: Iterable<string>): RunResult['steps'] {
  const step = record.status === 'failed' ? record.error?.step : undefined;
  if (step === undefined) return steps;
  for (const k of units) if (k === step || k.startsWith(`${step}#`)) return steps;
  return { ...steps, total: steps.total + 1, failed: steps.failed + 1 };
}
