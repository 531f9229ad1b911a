/**
 * Taking over unfinished runs of a state dir whose engine is gone, for `joinflow resume` and
 * `joinflow dev`: which runs, claimed under the runs lock, with the cancels their engine never
 * read carried out and the processes their steps left running stopped.
 */
import type { RunResult } from '../adapters/local/engine.ts';
import { stopOrphans } from '../adapters/local/orphans.ts';
import { engineIdentity, runOwner } from '../adapters/local/process-identity.ts';
import { unfinishedRuns } from '../adapters/local/recovery.ts';
import { RunTracker } from '../adapters/local/run-tracker.ts';
import { UsageError } from '../model/errors.ts';
import { StateDamagedError } from '../adapters/local/sqlite-schema.ts';
import type { RunRecord } from '../ports.ts';
import { settleAbandonedStops } from './abandoned-stops.ts';
import { cancelUnowned } from './cancel-command.ts';
import { cancelRequested, dropCancelRequest, type openState, RUNS_LOCK, withLock } from './state.ts';
import { stateCommand } from './hint.ts';

type State = ReturnType<typeof openState>;

export type TakeOverOptions = {
  /** The command, for its messages (`joinflow <who>: ...`). */
  who: string;
  /** Only this run (resume's argument): one a live engine runs is refused. */
  only?: string | undefined;
  /** Which of the runs no live engine runs to take (default all); called under the lock. */
  accept?: (run: RunRecord) => boolean;
};

/**
 * Claims the unfinished runs of `dir` no live engine runs (this process becomes their engine), then
 * cancels those whose cancel was never read and stops the processes the others' steps left
 * running. Returns the runs to recover, and the results of the runs cancelled instead.
 */
export async function takeOverRuns(state: State, dir: string, options: TakeOverOptions): Promise<{ runs: RunRecord[]; cancelled: RunResult[]; damaged: string[] }> {
  const { who, only } = options;
  // Runs whose state cannot be read (a damaged file): named, such a run is refused with why; the
  // others are taken over without it.
  const damaged = unreadableRuns(state);
  if (only !== undefined && damaged.has(only)) throw damaged.get(only)!;
  if (only === undefined) {
    for (const [runId, why] of damaged) process.stderr.write(`joinflow ${who}: skipping run ${runId}: ${why.message}; the other runs go on ('${stateCommand(dir, 'cancel', runId)}' sets it aside)\n`);
  }
  // Checking who runs a run and claiming it happen under a lock: two resumes started together
  // would otherwise both see a dead engine and both take the run over.
  const claimed = await withLock(dir, RUNS_LOCK, async () => {
    // Runs whose engine died while stopping their steps get their end (their steps' processes stopped).
    await settleAbandonedStops(state, who, only);
    // Running, or accepted and not started yet (its Run Requested on file, not handled).
    const unfinished = unfinishedRuns(state.log).filter((r) => (only === undefined || r.runId === only) && !damaged.has(r.runId));
    // A run whose engine process is alive is that engine's: running it here too would run its
    // steps twice. (`run`, `resume` and `dev` save their pid with the runs they execute.)
    const owner = (runId: string): number | undefined => runOwner(state.log.runOptions(runId));
    for (const r of unfinished) {
      const pid = owner(r.runId);
      if (pid === undefined) continue;
      if (only !== undefined) throw new UsageError(`run "${only}" is being run by process ${pid}: wait for it, or stop it with ${stateCommand(dir, 'cancel', only)}`);
      process.stderr.write(`joinflow ${who}: skipping run ${r.runId}: process ${pid} is running it\n`);
    }
    const mine = unfinished.filter((r) => owner(r.runId) === undefined && (options.accept?.(r) ?? true));
    // Claimed before anything runs: list, status and cancel find this process as the runs' engine.
    for (const r of mine) {
      const plan = state.log.runPlan(r.runId);
      if (plan) state.log.saveRun(r.runId, plan, { ...state.log.runOptions(r.runId), ...engineIdentity(), cancels: true });
    }
    await state.store.commit();
    return { mine, unfinished };
  });
  if (claimed.mine.length === 0) {
    if (who === 'resume') process.stderr.write(`joinflow resume: no unfinished runs in ${dir}${claimed.unfinished.length > 0 ? ' that no live engine runs' : ''}\n`);
    return { runs: [], cancelled: [], damaged: only === undefined ? [...damaged.keys()] : [] };
  }
  // A cancel that its engine never read (it died, or was stopping) is carried out, not resumed.
  const { runs, cancelled } = await carryOutCancels(state, dir, claimed.mine, who);
  // Processes its steps started that outlived the dead engine would run beside the attempts that start again.
  for (const r of runs) {
    const stopped = await stopOrphans(r.runId);
    if (stopped > 0) process.stderr.write(`joinflow ${who}: run ${r.runId}: stopped ${stopped} process(es) its steps had left running\n`);
  }
  return { runs, cancelled, damaged: only === undefined ? [...damaged.keys()] : [] };
}

/** The unfinished runs whose rows or plan cannot be read, with why. */
function unreadableRuns(state: State): Map<string, Error> {
  const out = new Map(state.log.damagedRuns?.() ?? []);
  for (const r of state.log.listRuns({ status: 'running' })) {
    if (out.has(r.runId)) continue;
    try {
      state.log.runPlan(r.runId);
      state.log.runOptions(r.runId);
    } catch (error) {
      if (!(error instanceof StateDamagedError)) throw error;
      out.set(r.runId, error);
    }
  }
  return out;
}

/**
 * Cancels those of `runs` (claimed by this process, not yet recovered) that `joinflow cancel`
 * asked to cancel: their engine died before it read the request, or this process had not started
 * one for them yet. Returns the others, and the results of the runs cancelled.
 */
export async function carryOutCancels(state: State, dir: string, runs: RunRecord[], who: string): Promise<{ runs: RunRecord[]; cancelled: RunResult[] }> {
  const cancelled: RunResult[] = [];
  for (const r of runs.filter((x) => cancelRequested(dir, x.runId))) {
    await cancelUnowned(state, r.runId, r.workflow);
    dropCancelRequest(dir, r.runId);
    process.stderr.write(`joinflow ${who}: run ${r.runId} had been asked to cancel: cancelled, not resumed\n`);
    const record = await state.store.getRun(r.runId);
    if (record) cancelled.push(RunTracker.fromRecord(record, state.log));
  }
  return { runs: runs.filter((r) => !cancelled.some((c) => c.runId === r.runId)), cancelled };
}

/** The options a run was started with that configure the engine running it (see engineGroups). */
const ENGINE_FLAGS = ['root', 'data', 'concurrency', 'timeScale', 'maxPayloadBytes'] as const;

/**
 * `runs` in groups that one engine each can continue. An engine has one set of flags (the
 * directory the plans' relative paths are resolved against, --data, --concurrency, --time-scale,
 * --max-payload) and one plan per workflow name: runs started in another project, with other
 * flags, or with another version of their workflow need engines of their own.
 */
export function engineGroups(state: State, runs: RunRecord[]): RunRecord[][] {
  const groups: Array<{ flags: string; plans: Map<string, string>; runs: RunRecord[] }> = [];
  for (const run of runs) {
    const options = state.log.runOptions(run.runId) ?? {};
    const flags = JSON.stringify(ENGINE_FLAGS.map((f) => options[f] ?? null));
    const plan = JSON.stringify(state.log.runPlan(run.runId) ?? null);
    let group = groups.find((g) => g.flags === flags && (g.plans.get(run.workflow) ?? plan) === plan);
    if (!group) groups.push((group = { flags, plans: new Map(), runs: [] }));
    group.plans.set(run.workflow, plan);
    group.runs.push(run);
  }
  return groups.map((g) => g.runs);
}
