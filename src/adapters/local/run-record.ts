/** Run records of the embedded engine's stores (memory and SQLite). */
import type { RunRecord, RunStatus } from '../../ports.ts';

/**
 * A run record built field by field, always in the same order. Records made with spreads got a
 * hidden class that V8 later replaced (after about ten runs of a workflow), and every optimized
 * function of the processor that reads a run deoptimized on it: the time per task doubled for a
 * few runs, again and again.
 */
export function runRecord(
  fields: Pick<RunRecord, 'runId' | 'workflow' | 'input' | 'startedAt' | 'finishedAt' | 'output' | 'error'>,
  status: RunStatus,
): RunRecord {
  const r: RunRecord = { runId: fields.runId, workflow: fields.workflow, status, input: fields.input, startedAt: fields.startedAt };
  if (fields.finishedAt !== undefined) r.finishedAt = fields.finishedAt;
  if (fields.output !== undefined) r.output = fields.output;
  if (fields.error !== undefined) r.error = fields.error;
  return r;
}

/** A running run's record once finished with `update` (fields the update leaves out are kept). */
export function finishedRecord(r: RunRecord, update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>): RunRecord {
  return runRecord({
    runId: r.runId, workflow: r.workflow, input: r.input, startedAt: r.startedAt,
    finishedAt: update.finishedAt ?? r.finishedAt,
    output: update.output !== undefined ? update.output : r.output,
    error: update.error ?? r.error,
  }, update.status);
}

/** A finished run's record with its end moved to `finishedAt`; the record itself when that is not later (TriggerStore.settleRun). */
export function settledRecord(r: RunRecord, finishedAt: number): RunRecord {
  if (r.status === 'running' || (r.finishedAt !== undefined && r.finishedAt >= finishedAt)) return r;
  return finishedRecord(r, { status: r.status, finishedAt });
}

/**
 * A run's final status without its end: the update of a run that still has executions to stop. Its `finishedAt` is
 * written once they are gone (TriggerStore.settleRun), so that no reader of the state ever sees the run end before them.
 */
export function withoutEnd(update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>): Pick<RunRecord, 'status' | 'output' | 'error'> {
  const open: Pick<RunRecord, 'status' | 'output' | 'error'> = { status: update.status };
  if (update.output !== undefined) open.output = update.output;
  if (update.error !== undefined) open.error = update.error;
  return open;
}
