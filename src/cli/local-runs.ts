/** Reading runs of the embedded engine's state dir for `list`, `status` and `logs`. */
import type { TaskEntry } from '../adapters/local/durable-log.ts';
import { DetailType, type EventEnvelope } from '../model/events.ts';
import type { TriggerPlan } from '../model/plan.ts';
import type { RunRecord, TriggerStore } from '../ports.ts';
import { alive } from '../adapters/local/process-identity.ts';

/**
 * A run record as the read commands print it: everything but the input. `interrupted`: the run is
 * still `running` on file, but the engine process that ran it is gone (`joinflow resume` continues it).
 * `stopping`: the run has ended (its status is final) but has no `finishedAt` yet: its engine is
 * stopping the steps it still ran, and records the run's end once they are gone.
 */
export type RunSummary = Omit<RunRecord, 'input'> & { interrupted?: true; stopping?: true };
// A run `stopping` whose engine process is gone is `interrupted` too: the engine died before the
// steps it stopped were gone, and `joinflow resume` records the run's end (settleAbandonedStops).


/** Whether a run has ended but not been given its end yet: the steps it stops are still going (see RunSummary). */
export function stopping(run: Pick<RunRecord, 'status' | 'finishedAt'>): boolean {
  return run.status !== 'running' && run.finishedAt === undefined;
}

/**
 * Whether a `running` (or `stopping`) run was left behind by an engine process that is gone: its
 * run options (saved by every durable engine, the CLI's and a library's) name a process that is
 * not alive. Runs saved without a pid (by a library engine before it saved one) are not judged.
 */
export function interrupted(run: Pick<RunRecord, 'status' | 'finishedAt'>, options: Record<string, unknown> | undefined): boolean {
  const pid = options?.['pid'];
  return (run.status === 'running' || stopping(run)) && typeof pid === 'number' && !alive(pid, options?.['pidStart']);
}

/**
 * The step's latest attempt when it has not started (a retry, or a first attempt): `scheduled`,
 * a retry waiting for its backoff, due at `dueAt`; `dispatched`, handed to its executor and
 * waiting for a free slot or worker; `cancelled`, it never will: the run ended first.
 */
/** `interrupted` (a scheduled retry of a run whose engine is gone): its timer runs once `joinflow resume` continues the run. */
export type UnstartedAttempt = { attempt: number; state: 'scheduled' | 'dispatched' | 'cancelled'; dueAt?: number; interrupted?: true };

/** One step (or forEach item) of a run, folded over its attempts. */
export type StepSummary = {
  step: string;
  item?: number;
  /**
   * The state of the latest attempt on the log (one that never started too: see `unstarted`);
   * `waiting`: the step has no attempt on the log yet, its `delayMs` runs until `delay.dueAt`.
   */
  state: TaskEntry['status'] | 'waiting';
  /** The attempts that started: a retry dispatched or scheduled but not (yet) started is not one. */
  attempts: number;
  /** From the first attempt's start to the end of the last attempt that started. */
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  error?: { type: string; message: string };
  unstarted?: UnstartedAttempt;
  /**
   * A step (or item) waiting for its `delayMs` before its first attempt: when its timer is due.
   * `interrupted`: the run's engine is gone, and its timer with it: `joinflow resume` sets it again
   * (firing at once when `dueAt` has passed).
   */
  delay?: { dueAt: number; interrupted?: true };
  /** A forEach step whose array was empty: it completed with no items (and no attempt). */
  items?: 0;
};

/** A timer of the log (a retry's backoff, or a step's delayMs): the task it starts when due (DurableLog.timers). */
export type RetryTimer = { dueAt: number; task: Pick<TaskEntry['task'], 'step' | 'item' | 'attempt'> };

/** Drops the (possibly large) input of a run record; marks it interrupted when its engine is gone. */
export function summarizeRun(run: RunRecord, options?: Record<string, unknown>): RunSummary {
  const { input: _input, ...rest } = run;
  const gone = interrupted(run, options);
  if (stopping(run)) return gone ? { ...rest, stopping: true, interrupted: true } : { ...rest, stopping: true };
  return gone ? { ...rest, interrupted: true } : rest;
}

/**
 * Folds a run's tasks (in dispatch order) into one entry per step/item. `events`: the run's logged
 * events, whose Step Failed give the error of a failed step that did not fail the run (caught,
 * or one a step waiting for some of its needs could do without). `timers`: the run's timers, whose
 * retries (of steps with an attempt on the log) are shown as scheduled, and whose first attempts
 * (of steps with none: a `delayMs`) as `waiting`. `emptyForEach`: steps without a task that
 * completed over an empty array (see {@link emptyForEachSteps}) and what they wait for, shown as succeeded with 0 items.
 */
export function summarizeSteps(
  run: RunRecord,
  tasks: readonly TaskEntry[],
  events: readonly EventEnvelope[] = [],
  timers: readonly RetryTimer[] = [],
  emptyForEach: Iterable<{ step: string; needs: readonly string[] }> = [],
): StepSummary[] {
  const byKey = new Map<string, StepSummary>();
  // The latest attempt's number, started or not: a cancelled step shows the failure it was to retry.
  const latest = new Map<StepSummary, number>();
  for (const t of tasks) {
    const key = t.task.item === undefined ? t.task.step : `${t.task.step}[${t.task.item}]`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { step: t.task.step, ...(t.task.item === undefined ? {} : { item: t.task.item }), state: t.status, attempts: 0 }));
    s.state = t.status;
    latest.set(s, t.task.attempt);
    delete s.unstarted;
    if (t.startedAt === undefined) {
      // An attempt 0 is no attempt: the step never ran (skipped, or its needs failed).
      if (t.task.attempt > 0 && (t.status === 'dispatched' || t.status === 'cancelled')) s.unstarted = { attempt: t.task.attempt, state: t.status };
      continue;
    }
    s.attempts++;
    s.startedAt ??= t.startedAt;
    if (t.finishedAt === undefined) delete s.finishedAt;
    else s.finishedAt = t.finishedAt;
  }
  for (const t of timers) {
    const key = t.task.item === undefined ? t.task.step : `${t.task.step}[${t.task.item}]`;
    const s = byKey.get(key);
    // A timer of a step with no attempt on the log is its delayMs: its first attempt is recorded when it fires.
    if (!s) byKey.set(key, { step: t.task.step, ...(t.task.item === undefined ? {} : { item: t.task.item }), state: 'waiting', attempts: 0, delay: { dueAt: t.dueAt } });
    else if (t.task.attempt > (latest.get(s) ?? 0)) s.unstarted = { attempt: t.task.attempt, state: 'scheduled', dueAt: t.dueAt };
  }
  const steps = [...byKey.values()];
  for (const { step, needs } of emptyForEach) {
    if (byKey.has(step)) continue;
    // It completed with the last of its needs: it goes after them, in dispatch order.
    const after = steps.findLastIndex((s) => needs.includes(s.step));
    steps.splice(after + 1, 0, { step, state: 'succeeded', attempts: 0, items: 0 });
  }
  for (const s of steps) {
    if (s.startedAt !== undefined && s.finishedAt !== undefined) s.durationMs = s.finishedAt - s.startedAt;
  }
  // The log keeps no per-task error: the error of a failed attempt is in its Step Failed event.
  const failures = new Map<string, { type: string; message: string }>();
  for (const e of events) {
    if (e['detail-type'] !== DetailType.StepFailed) continue;
    const d = e.detail as { step?: unknown; item?: unknown; attempt?: unknown; error?: { type?: unknown; message?: unknown } };
    if (typeof d.error?.type !== 'string' || typeof d.error.message !== 'string') continue;
    failures.set(`${String(d.step)}|${String(d.item ?? '')}|${String(d.attempt)}`, { type: d.error.type, message: d.error.message });
  }
  for (const s of steps) {
    // A step whose retry has not started (or never did: the run ended meanwhile), or whose retry
    // was cancelled, shows the failure it was to retry.
    const last = latest.get(s) ?? 0;
    const attempt = s.unstarted ? s.unstarted.attempt - 1 : s.state === 'failed' ? last : s.state === 'cancelled' ? last - 1 : 0;
    const error = attempt > 0 ? failures.get(`${s.step}|${s.item ?? ''}|${attempt}`) : undefined;
    if (error) s.error = error;
  }
  // The run's error names the step (and item) that failed it: it is the one shown for that step.
  // A record from before errors named their item names only the step: its error goes to that
  // step's failed entry only when there is one, not to every failed item of a forEach step.
  const error = run.error;
  if (error?.step !== undefined) {
    const failed = steps.filter((s) => s.step === error.step && s.state === 'failed');
    const owner = error.item === undefined ? (failed.length === 1 ? failed[0] : undefined) : failed.find((s) => s.item === error.item);
    if (owner) owner.error = { type: error.type, message: error.message };
    // A step that failed the run before any attempt (a forEach over something that is not an
    // array) has no task: it is shown all the same, as the run's counts count it.
    else if (!steps.some((s) => s.step === error.step)) {
      steps.push({ step: error.step, ...(error.item === undefined ? {} : { item: error.item }), state: 'failed', attempts: 0, error: { type: error.type, message: error.message } });
    }
  }
  return steps;
}

/**
 * The steps of a run's plan that have no task on the log but a saved result: a forEach over an
 * empty array completes with the result [] and runs nothing. `status` lists them; `timeline` notes them.
 */
export async function emptyForEachSteps(store: Pick<TriggerStore, 'savedKeys'>, runId: string, tasks: readonly TaskEntry[], plan: TriggerPlan | undefined): Promise<Set<string>> {
  const logged = new Set(tasks.map((e) => e.task.step));
  const unlogged = plan ? Object.entries(plan.steps).filter(([s, spec]) => spec.forEach !== undefined && !logged.has(s)).map(([s]) => s) : [];
  return unlogged.length > 0 ? await store.savedKeys(runId, unlogged) : new Set();
}

/** The line that says why a run failed: `error in step "s" (item 2): Type: message`. */
export function runErrorLine(error: NonNullable<RunRecord['error']>): string {
  const where = error.step === undefined ? 'error' : `error in step "${error.step}"${error.item === undefined ? '' : ` (item ${error.item})`}`;
  return `${where}: ${error.type}: ${error.message}`;
}

/**
 * When a timer of a step is due, for its line: `what` (`delay`, `retry 2`) `due at <time>`; of an
 * interrupted run, whose timers run only once `joinflow resume` has continued it, `... was due at
 * <time>; ...` once that time has passed (`now`), and `... due at <time>, if ...` before; `resume`
 * is the command that continues the run (stateCommand: with its --state).
 */
export function dueText(what: string, due: { dueAt: number; interrupted?: true }, now: number, resume = 'joinflow resume', separator = ' '): string {
  const at = new Date(due.dueAt).toISOString();
  if (!due.interrupted) return `${what}${separator}due at ${at}`;
  return due.dueAt <= now
    ? `${what}${separator}was due at ${at}; runs once '${resume}' continues the run`
    : `${what}${separator}due at ${at}, if '${resume}' has continued the run by then (else once it does)`;
}

/** How a waiting step's line ends: `delay, due at <time>` (see {@link dueText}). */
export function delayText(delay: NonNullable<StepSummary['delay']>, now: number, resume?: string): string {
  return dueText('delay', delay, now, resume, ', ');
}

/** `1234 ms`, `3.2 s`, `2m 05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** A run's duration, or `running` (`interrupted` when its engine process is gone), or `stopping` (see RunSummary). */
export function runDuration(run: RunSummary): string {
  if (run.finishedAt !== undefined) return formatDuration(run.finishedAt - run.startedAt);
  if (run.interrupted) return 'interrupted';
  return run.stopping ? 'stopping' : 'running';
}

/**
 * The first line of `joinflow status`: `run <id> (<workflow>): <status>, started <time>, <duration>`,
 * where a run still going says how long it has run so far (`running` again would only repeat its status).
 */
export function runHeadline(run: Pick<RunSummary, 'runId' | 'workflow' | 'status' | 'startedAt' | 'finishedAt' | 'interrupted' | 'stopping'>, now: number): string {
  const took = run.finishedAt === undefined && !run.interrupted && !run.stopping ? `${formatDuration(Math.max(0, now - run.startedAt))} so far` : runDuration(run as RunSummary);
  return `run ${run.runId} (${run.workflow}): ${run.status}, started ${new Date(run.startedAt).toISOString()}, ${took}`;
}
