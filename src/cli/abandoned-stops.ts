/**
 * Runs whose engine died while it stopped their steps. A run that ends with steps still running
 * (a failure's siblings, a cancel) has its final status on file but no end until those steps are
 * gone (batch-effects.ts, endUpdate); an engine that dies in between leaves it so. `joinflow resume`
 * and `joinflow dev` settle such runs when they take over a state dir.
 */
import { stopOrphans } from '../adapters/local/orphans.ts';
import type { openState } from './state.ts';
import { interrupted } from './local-runs.ts';

/**
 * Settles the runs (all, or `only` this one) that ended while their engine stopped their steps,
 * and whose engine process is gone: the processes those steps left are stopped, the steps are
 * recorded cancelled, and the run's end is recorded at the last time its log recorded anything
 * (about when its engine was last seen; never before the run's start). Says so on stderr for each;
 * returns their ids.
 */
export async function settleAbandonedStops(state: ReturnType<typeof openState>, who: string, only?: string): Promise<string[]> {
  const settled: string[] = [];
  for (const run of state.log.unsettledRuns?.() ?? []) {
    if (only !== undefined && run.runId !== only) continue;
    // A live engine is still stopping them: their end comes from it.
    if (!interrupted(run, state.log.runOptions(run.runId))) continue;
    const stopped = await stopOrphans(run.runId);
    const tasks = state.log.tasks(run.runId);
    const end = tasks.reduce((m, e) => Math.max(m, e.startedAt ?? 0, e.finishedAt ?? 0), run.startedAt);
    const open = tasks.filter((e) => e.status === 'dispatched' || e.status === 'started');
    for (const e of open) state.log.taskFinished(e.task, 'cancelled', end);
    await state.store.settleRun?.(run.runId, end);
    settled.push(run.runId);
    const steps = [...new Set(open.map((e) => (e.task.item === undefined ? e.task.step : `${e.task.step}[${e.task.item}]`)))];
    const what = [
      steps.length > 0 ? `recorded ${steps.join(', ')} as cancelled` : '',
      stopped > 0 ? `stopped ${stopped} process(es) they had left running` : '',
    ].filter((x) => x !== '');
    process.stderr.write(`joinflow ${who}: run ${run.runId} had ended (${run.status}) but its engine died while stopping its steps: ${[...what, 'recorded its end'].join(', ')}\n`);
  }
  if (settled.length > 0) await state.store.commit();
  return settled;
}
