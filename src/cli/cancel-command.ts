/**
 * `joinflow cancel <runId>`: stops a run of the embedded engine, in whichever process runs it;
 * or, with an AWS flag (--stage, --table, --endpoint, --region, --bus), a run of a deployed stage.
 */
import { parseArgs } from 'node:util';
import type { StopReport } from '../adapters/aws/batch-jobs.ts';
import { cancelStageRun } from '../adapters/aws/stage.ts';
import { AWS_OPTIONS, awsConfig, usesAws } from './aws-options.ts';
import { CANCELLED, DetailType, JOINFLOW_SOURCE, runCancelledDetail, type EventEnvelope } from '../model/events.ts';
import type { Subscription } from '../model/subscriptions.ts';
import { projectSubscriptions } from '../adapters/local/subscription-files.ts';
import { createSubscriptionMatcher } from '../runtime/subscriptions.ts';
import { UsageError } from '../model/errors.ts';
import { openState, requestCancel, requireState, RUNS_LOCK, stateDir, withLock } from './state.ts';
import { runOwner } from '../adapters/local/process-identity.ts';
import { stopOrphans } from '../adapters/local/orphans.ts';
import { runOrRequest } from '../adapters/local/recovery.ts';

/** Runs `joinflow cancel`; exit 0 when cancelled (or asked to), 1 when the run is not running. */
export async function cancelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...AWS_OPTIONS, state: { type: 'string' } } });
  if (positionals.length !== 1) throw new UsageError('name the run id to cancel');
  const runId = positionals[0]!;
  if (usesAws(values)) {
    if (values.state !== undefined) throw new UsageError('--state names the local engine\'s state; it does not go with --stage/--table/--endpoint');
    return cancelOnStage(values, runId);
  }
  const dir = stateDir(values.state);
  requireState(dir);
  // Checked and cancelled under the lock that resume takes to claim runs: two cancels (or a cancel
  // and a resume) of a run no engine runs would otherwise both find it running. The state is
  // opened inside it, so what it reads is what the one before wrote.
  return withLock(dir, RUNS_LOCK, async () => {
    const state = openState(dir, { mustExist: true });
    try {
      // A run whose journal cannot be read (a damaged file), which no live engine runs: its record alone says it is cancelled.
      const damaged = state.log.damagedRuns?.().get(runId);
      if (damaged && runOwner(state.log.runOptions(runId)) === undefined) return await cancelUnreadable(state, runId, damaged);
      // Accepted and not started yet (its Run Requested on file, not handled): resume would start it.
      const found = await runOrRequest(state.store, state.log, runId);
      const record = found?.record;
      if (!record) {
        // As status says it: an unknown run is not running (exit 1), not a misuse of the command.
        process.stderr.write(`joinflow cancel: no run "${runId}" in ${dir}\n`);
        return 1;
      }
      if (record.status !== 'running') {
        process.stderr.write(`joinflow cancel: run ${runId} already ${record.status}\n`);
        return 1;
      }
      const options = state.log.runOptions(runId);
      const pid = runOwner(options);
      // A program running the engine as a library takes no cancel requests: SIGUSR2 would end it.
      if (pid !== undefined && options?.['cancels'] !== true && options?.['pidStart'] !== undefined) {
        process.stderr.write(`joinflow cancel: run ${runId} is executed by process ${pid}, a program that runs joinflow's engine itself and takes no cancel requests: cancel it there (engine.cancel("${runId}"))\n`);
        return 1;
      }
      if (pid !== undefined) {
        // The engine that runs it stops its tasks (SIGTERM, then SIGKILL) and emits Run Cancelled.
        requestCancel(dir, runId);
        process.kill(pid as number, 'SIGUSR2');
        process.stderr.write(`joinflow cancel: asked process ${String(pid)} to cancel run ${runId}\n`);
        return 0;
      }
      // No live engine runs it (it died): record the cancellation so resume will not continue it.
      if (found?.seq !== undefined) {
        // Started to be ended: its request is handled (the commit of the cancel carries both).
        await state.store.startRun({ runId, workflow: record.workflow, input: record.input, startedAt: record.startedAt });
        state.log.markProcessed([found.seq]);
      }
      const { stopped, subscriptions } = await cancelUnowned(state, runId, record.workflow);
      process.stderr.write(`joinflow cancel: run ${runId} cancelled (no engine was running it${stopped > 0 ? `; stopped ${stopped} process(es) its steps had left running` : ''})\n`);
      if (subscriptions.length > 0) {
        const n = subscriptions.length;
        process.stderr.write(`joinflow cancel: its Run Cancelled waits for ${n} subscription deliver${n === 1 ? 'y' : 'ies'} (${subscriptions.join(', ')}): the next joinflow run, dev or resume on this state dir sends ${n === 1 ? 'it' : 'them'}\n`);
      }
      return 0;
    } finally {
      state.close();
    }
  });
}

/**
 * Cancels a run that no live engine runs: the state says so (Run Cancelled, tasks cancelled,
 * timers gone), and the processes its steps left running are stopped (`stopped`: how many).
 * Run Cancelled goes into the outbox, in the same commit, for each subscription it matches (the
 * config file's and the run's workflow's own, `subscriptions`), as an engine would have put it:
 * the next engine on the state dir delivers it.
 */
export async function cancelUnowned(state: ReturnType<typeof openState>, runId: string, workflow: string): Promise<{ stopped: number; subscriptions: string[] }> {
  const now = Date.now();
  const detail = runCancelledDetail(workflow, runId, 'cancelled with joinflow cancel');
  if (!(await state.store.finishRun(runId, { status: 'cancelled', finishedAt: now, error: detail.error }))) return { stopped: 0, subscriptions: [] };
  const event = { id: `cancel-${runId}-${now}`, source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunCancelled, time: new Date(now).toISOString(), detail };
  state.log.markProcessed(state.log.appendEvents([event]));
  const subscriptions = subscribersOf(state, runId, event).map((s) => s.name);
  state.outbox().enqueue(subscriptions.map((subscription) => ({ subscription, event, attempt: 0, dueAt: now })));
  for (const t of state.log.unfinishedTasks(runId)) state.log.taskFinished(t.task, 'cancelled', now);
  // A step waiting for its timer (a delay, a retry's backoff) never starts: cancelled, as an engine ends it.
  for (const t of state.log.timers(runId)) {
    state.log.removeTimer(t.id);
    state.log.recordTask(t.task);
    state.log.taskFinished(t.task, 'cancelled', now);
  }
  await state.store.commit();
  // What its steps started outlives the engine that died: those processes are stopped too.
  return { stopped: await stopOrphans(runId), subscriptions };
}

/**
 * Cancels a run whose journal cannot be read (a damaged file): only its record says so, with why;
 * no Run Cancelled is logged or sent (it would be written among the rows that cannot be read).
 * The other runs of the state dir can then be resumed and cancelled as usual.
 */
async function cancelUnreadable(state: ReturnType<typeof openState>, runId: string, why: Error): Promise<number> {
  const message = `cancelled with joinflow cancel; its state could not be read: ${why.message}`;
  await state.store.finishRun(runId, { status: 'cancelled', finishedAt: Date.now(), error: { type: CANCELLED, message } });
  await state.store.commit();
  const stopped = await stopOrphans(runId);
  process.stderr.write(`joinflow cancel: run ${runId} cancelled (no engine was running it${stopped > 0 ? `; stopped ${stopped} process(es) its steps had left running` : ''}); ${why.message}, so its steps are not marked cancelled and no Run Cancelled was sent\n`);
  return 0;
}

/**
 * The subscriptions an event of `runId` matches: those of the config file in the directory the
 * run was started in, and its workflow's own. A config that cannot be read is reported, and the
 * run is cancelled all the same.
 */
function subscribersOf(state: ReturnType<typeof openState>, runId: string, event: EventEnvelope): Subscription[] {
  const plan = state.log.runPlan(runId);
  const ownRoot = state.log.runOptions(runId)?.['root'];
  try {
    const subs = projectSubscriptions(plan ? [plan] : [], { root: typeof ownRoot === 'string' ? ownRoot : process.cwd() });
    return createSubscriptionMatcher(subs)(event);
  } catch (error) {
    process.stderr.write(`joinflow: run ${runId}: its Run Cancelled goes to no subscription: ${(error as Error).message}\n`);
    return [];
  }
}

/** Cancels a run of a deployed stage (see cancelStageRun). */
async function cancelOnStage(values: Parameters<typeof awsConfig>[0], runId: string): Promise<number> {
  const config = awsConfig(values);
  const result = await cancelStageRun(config, runId, 'cancelled with joinflow cancel');
  if (result.outcome === 'unknown') {
    process.stderr.write(`joinflow cancel: no run "${runId}" in table ${config.table}\n`);
    return 1;
  }
  if (result.outcome === 'ended') {
    process.stderr.write(`joinflow cancel: run ${runId} already ${result.run.status}\n`);
    // What it left running on Batch, if its end could not stop it, is stopped now.
    return reportJobs(result, config.table) ? 1 : 2;
  }
  if (result.eventError !== undefined) {
    process.stderr.write(`joinflow cancel: run "${runId}" is cancelled in table "${config.table}", but Run Cancelled could not be put on bus "${config.bus}" (${result.eventError}): the processor dispatches nothing new for it, but subscribers to Run Cancelled are not told\n`);
    reportJobs(result, config.table);
    return 2;
  }
  process.stderr.write(`joinflow cancel: run ${runId} cancelled; Run Cancelled is on bus ${config.bus}. Nothing new is dispatched; Lambda invocations already running finish on their own, and their results are ignored\n`);
  return reportJobs(result, config.table) ? 0 : 2;
}

/** Says which Batch jobs of the run were stopped, and which could not be; false when one still runs (or may). */
function reportJobs({ jobs, jobsError }: { jobs: StopReport; jobsError?: string }, table: string): boolean {
  const name = (j: { jobId: string; job: { step: string; item?: number } }) => `${j.jobId} (${j.job.step}${j.job.item === undefined ? '' : `#${j.job.item}`})`;
  if (jobs.stopped.length > 0) process.stderr.write(`joinflow cancel: stopped ${jobs.stopped.length} Batch job(s): ${jobs.stopped.map(name).join(', ')}\n`);
  if (jobsError !== undefined) {
    process.stderr.write(`joinflow cancel: could not read the run's Batch jobs from table ${table} (${jobsError}): any still running run to their end\n`);
    return false;
  }
  for (const u of jobs.unsought) {
    const { name: jobName, queue } = u.job.unnoted!;
    process.stderr.write(`joinflow cancel: could not look for the Batch job named ${jobName} in queue ${queue} (${u.job.step}), whose id was not noted: ${u.error}; find it with: aws batch list-jobs --job-queue ${queue} --filters name=JOB_NAME,values=${jobName}\n`);
  }
  if (jobs.failed.length === 0) return jobs.unsought.length === 0;
  for (const f of jobs.failed) process.stderr.write(`joinflow cancel: could not stop Batch job ${name(f)}: ${f.error}\n`);
  process.stderr.write(`joinflow cancel: ${jobs.failed.length} Batch job(s) still run; stop them with: aws batch terminate-job --reason cancelled --job-id <id>\n`);
  return false;
}
