/** Reading runs of the embedded engine's state dir for `list`, `status` and `logs`. */
import type { TaskEntry } from '../adapters/local/durable-log.ts';
import type { RunRecord } from '../ports.ts';

/** A run record as the read commands print it: everything but the input. */
export type RunSummary = Omit<RunRecord, 'input'>;

/** One step (or forEach item) of a run, folded over its attempts. */
export type StepSummary = {
  step: string;
  item?: number;
  /** The state of the latest attempt. */
  state: TaskEntry['status'];
  attempts: number;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  error?: { type: string; message: string };
};

/** Drops the (possibly large) input of a run record. */
export function summarizeRun(run: RunRecord): RunSummary {
  const { input: _input, ...rest } = run;
  return rest;
}

/** Folds a run's tasks (in dispatch order) into one entry per step/item. */
export function summarizeSteps(run: RunRecord, tasks: readonly TaskEntry[]): StepSummary[] {
  const byKey = new Map<string, StepSummary>();
  for (const t of tasks) {
    const key = t.task.item === undefined ? t.task.step : `${t.task.step}[${t.task.item}]`;
    const prev = byKey.get(key);
    const s: StepSummary = {
      step: t.task.step,
      ...(t.task.item === undefined ? {} : { item: t.task.item }),
      state: t.status,
      attempts: Math.max(prev?.attempts ?? 0, t.task.attempt),
    };
    const startedAt = prev?.startedAt ?? t.startedAt;
    if (startedAt !== undefined) s.startedAt = startedAt;
    if (t.finishedAt !== undefined) s.finishedAt = t.finishedAt;
    if (s.startedAt !== undefined && s.finishedAt !== undefined) s.durationMs = s.finishedAt - s.startedAt;
    byKey.set(key, s);
  }
  const steps = [...byKey.values()];
  // The log keeps no per-task error; the run's error names the step that failed it.
  if (run.error?.step !== undefined) {
    for (const s of steps) {
      if (s.step === run.error.step && s.state === 'failed') s.error = { type: run.error.type, message: run.error.message };
    }
  }
  return steps;
}

/** `1234 ms`, `3.2 s`, `2m 05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** A run's duration, or `running`. */
export function runDuration(run: RunSummary): string {
  return run.finishedAt === undefined ? 'running' : formatDuration(run.finishedAt - run.startedAt);
}
