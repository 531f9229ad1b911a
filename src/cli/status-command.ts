/**
 * `joinflow status <runId>`: a run and its steps. From the embedded engine's state dir by default
 * (`--state DIR`); from a deployed stage's DynamoDB table when an AWS flag (--stage, --table,
 * --endpoint, --region, --bus) is given.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stageRunStatus } from '../adapters/aws/stage.ts';
import type { StepStatus as StageStep } from '../adapters/aws/run-status.ts';
import { UsageError } from '../model/errors.ts';
import { AWS_OPTIONS, awsConfig, usesAws } from './aws-options.ts';
import type { RunRecord } from '../ports.ts';
import { delayText, dueText, emptyForEachSteps, formatDuration, runErrorLine, runHeadline, stopping, summarizeRun, summarizeSteps, type UnstartedAttempt } from './local-runs.ts';
import { openState, stateDir } from './state.ts';
import { isMemoryRun } from './memory-runs.ts';
import { stateCommand } from './hint.ts';
import { runOrRequest } from '../adapters/local/recovery.ts';

export { STATUS_LOCAL_HELP } from './help-status.ts';

/** Runs `joinflow status`; exit 0 when found, 1 when the run does not exist. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...AWS_OPTIONS, state: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('name the run id');
  const runId = positionals[0]!;
  const aws = usesAws(values);
  if (aws && values.state !== undefined) throw new UsageError('--state reads the local engine; it does not go with --stage/--table/--endpoint');
  return aws ? awsStatus(values, runId, values.json) : localStatus(values.state, runId, values.json);
}

async function localStatus(stateFlag: string | undefined, runId: string, json: boolean): Promise<number> {
  const dir = stateDir(stateFlag);
  // A --memory run leaves no state, only its process steps' files (and a state dir may hold nothing else).
  const memoryRun = (): number => {
    process.stderr.write(`joinflow status: run "${runId}" was a --memory run: no state records it (its result went to the command that ran it); '${stateCommand(dir, 'logs', runId)}' prints its process steps' logs\n`);
    return 1;
  };
  if (isMemoryRun(dir, runId) && !existsSync(path.join(dir, 'state.db'))) return memoryRun();
  const state = openState(dir, { mustExist: true });
  try {
    // Accepted and not started (its Run Requested on file, not handled): shown as its request gives it.
    const record = (await runOrRequest(state.store, state.log, runId))?.record;
    if (!record) {
      if (isMemoryRun(dir, runId)) return memoryRun();
      process.stderr.write(`joinflow status: no run "${runId}" in ${dir}\n`);
      return 1;
    }
    const run = summarizeRun(record, record.status === 'running' || stopping(record) ? state.log.runOptions(runId) : undefined);
    const tasks = state.log.tasks(runId);
    const plan = state.log.runPlan(runId);
    const empty = [...(await emptyForEachSteps(state.store, runId, tasks, plan))].map((step) => {
      const spec = plan?.steps[step];
      return { step, needs: [...(spec?.needs ?? []), ...(spec?.forEach ? [spec.forEach.step] : [])] };
    });
    const steps = summarizeSteps(record, tasks, state.log.runEvents?.(runId), state.log.timers(runId), empty);
    // The timers of a run whose engine is gone wait for `joinflow resume`, not for their time.
    if (run.interrupted) {
      for (const s of steps) {
        if (s.delay) s.delay.interrupted = true;
        if (s.unstarted?.state === 'scheduled') s.unstarted.interrupted = true;
      }
    }
    if (json) {
      process.stdout.write(`${JSON.stringify({ run, steps })}\n`);
      return 0;
    }
    // reduce, not Math.max(...): a spread of 125,000 and more arguments overflows the stack.
    const now = Date.now();
    const lines = [runHeadline(run, now)];
    const resume = stateCommand(dir, 'resume', runId);
    const width = steps.reduce((m, s) => Math.max(m, (s.item === undefined ? s.step : `${s.step}[${s.item}]`).length), 4);
    for (const s of steps) {
      const name = s.item === undefined ? s.step : `${s.step}[${s.item}]`;
      const took = s.durationMs === undefined ? '' : `, ${formatDuration(s.durationMs)}`;
      const unstarted = s.unstarted === undefined ? '' : `; ${unstartedText(s.unstarted, record.status, now, resume)}`;
      const why = s.delay ? `; ${delayText(s.delay, now, resume)}` : s.items === 0 ? '; forEach over 0 items' : '';
      lines.push(`  ${s.state.padEnd(10)} ${name.padEnd(width)}  ${s.attempts} attempt${s.attempts === 1 ? '' : 's'}${took}${unstarted}${why}`);
      if (s.error) lines.push(`             ${s.error.type}: ${firstLine(s.error.message)}`);
      // A step that could never run (a lost branch before a step that waits for some of its needs).
      else if (s.state === 'failed' && s.attempts === 0) lines.push('             NeedsFailed: never ran, a step it needs failed');
      else if (s.state === 'skipped') {
        // A catch step is skipped for one reason only; other steps for a choice, or skipped needs.
        const catches = plan?.steps[s.step]?.catches;
        lines.push(catches === undefined
          ? '             a choice: its "when" did not match, or every step it needs was skipped'
          : `             the step it catches ("${catches}") did not fail`);
      }
    }
    if (steps.length === 0) lines.push('  (no steps recorded)');
    if (run.error) lines.push(runErrorLine(run.error));
    if (run.status === 'succeeded') lines.push(`output: ${JSON.stringify(run.output)}`);
    if (run.stopping && run.interrupted) {
      lines.push(`interrupted while stopping: the run has ended (${run.status}), but the engine process that ran it died before the steps it was stopping were gone; '${resume}' stops what they left running and records the run's end`);
    } else if (run.stopping) lines.push(`stopping: the run has ended (${run.status}); the steps it still ran are being stopped, and its end is recorded once they are gone`);
    else if (run.interrupted) lines.push(`interrupted: the engine process that ran it is gone; '${resume}' continues it`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    state.close();
  }
}

/**
 * An attempt that has not started, as its step's line ends: `retry 2 due at <time>`, `retry 2
 * waiting to start`, `retry 2 never started (the run was cancelled)`; a first attempt without
 * its name (`never started (the run failed first)`).
 */
function unstartedText(u: UnstartedAttempt, runStatus: RunRecord['status'], now: number, resume: string): string {
  const retry = u.attempt > 1 ? `retry ${u.attempt} ` : '';
  // Only a retry waits on a timer beside attempts on the log (summarizeSteps): never a first attempt.
  if (u.state === 'scheduled') return dueText(`retry ${u.attempt}`, { dueAt: u.dueAt ?? 0, ...(u.interrupted ? { interrupted: true } : {}) }, now, resume);
  if (u.state === 'dispatched') return `${retry}waiting to start`;
  return `${retry}never started (${endedFirst(runStatus)})`;
}

/**
 * A stage run's retry waiting for its backoff: `retry 2 due at <time>`, of a forEach item `retry 2
 * of item 3 due at <time>`; one (or a delayed start) that never started, the run having ended
 * first: `retry 2 never started (the run was cancelled)`, `never started (the run failed first)`.
 */
function retryText(u: NonNullable<StageStep['unstarted']>, waiting: number | undefined, now: number, runStatus: RunRecord['status']): string {
  const item = u.item === undefined ? '' : `item ${u.item}`;
  const what = u.attempt > 1 ? `retry ${u.attempt}${item && ` of ${item}`}` : item;
  if (u.state === 'cancelled') return `${what && `${what} `}never started (${endedFirst(runStatus)})`;
  const text = dueText(what, u, now);
  return waiting === undefined ? text : `${text} (the first of ${waiting} items' retries waiting)`;
}

/** Why an attempt never started: how its run ended first. */
function endedFirst(runStatus: RunRecord['status']): string {
  return runStatus === 'cancelled' ? 'the run was cancelled' : runStatus === 'failed' ? 'the run failed first' : 'the run ended first';
}

/** The first line of an error message (the run's error below has all of it). */
function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** How long after its due time a stage run's timer task is called overdue. */
const OVERDUE_MS = 5 * 60_000;

async function awsStatus(values: Parameters<typeof awsConfig>[0], runId: string, json: boolean): Promise<number> {
  const config = awsConfig(values);
  const status = await stageRunStatus(config, runId);
  if (!status) {
    process.stderr.write(`joinflow status: no run "${runId}" in table ${config.table}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(status)}\n`);
    return 0;
  }
  const { run, steps } = status;
  const now = Date.now();
  const lines = [runHeadline(run, now)];
  for (const s of steps) {
    const jobs = s.jobs === undefined ? '' : `  Batch job${s.jobs.length === 1 ? '' : 's'} ${s.jobs.join(', ')}`;
    const items = s.items === undefined ? '' : s.items === 0 ? ' (forEach over 0 items)' : ` (${s.items} item${s.items === 1 ? '' : 's'} done)`;
    lines.push(`  ${s.state.padEnd(10)} ${s.step}${items}${s.delay ? `; ${delayText(s.delay, now)}` : ''}${s.unstarted ? `; ${retryText(s.unstarted, s.retriesWaiting, now, run.status)}` : ''}${jobs}`);
  }
  // The timer dispatches within seconds of the due time; much later, its message is being retried or is in the timer DLQ.
  const overdue = steps.filter((s) => (s.delay?.dueAt ?? (s.unstarted?.state === 'scheduled' ? s.unstarted.dueAt : Infinity)) < now - OVERDUE_MS);
  if (overdue.length > 0) {
    lines.push(`overdue: ${overdue.map((s) => s.step).join(', ')} not started ${OVERDUE_MS / 60_000} minutes after ${overdue.length === 1 ? 'its' : 'their'} due time: the timer's message comes back every 6 minutes while its dispatch fails, and goes to the stage's timer DLQ after 5 tries (see its log, and the DLQ)`);
  }
  if (run.error) lines.push(runErrorLine(run.error));
  if (run.status === 'succeeded') {
    lines.push(status.outputRef === undefined ? `output: ${JSON.stringify(run.output)}` : `output: in the bucket, too large for the table: ${status.outputRef} (aws s3 cp ${status.outputRef} -)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
