/** `joinflow dev` continues the runs an earlier `dev` on the same state dir left unfinished. */
import type { Engine } from '../adapters/local/engine.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { cancelAsked, type openState } from './state.ts';
import { takeOverRuns } from './take-over.ts';
import { stateCommand } from './hint.ts';

/**
 * Recovers the unfinished runs that an earlier `dev` started and no live engine runs, when their
 * workflow is the one dev serves now (the same plan); says which others it leaves, and why.
 */
export async function continueDevRuns(state: ReturnType<typeof openState>, dir: string, engine: Engine, plans: readonly TriggerPlan[], root: string): Promise<string[]> {
  const current = new Map(plans.map((p) => [p.workflow, JSON.stringify(p)]));
  const changed: string[] = [];
  const others: string[] = [];
  const { runs } = await takeOverRuns(state, dir, {
    who: 'dev',
    accept: (run) => {
      // A dev of another project on a shared --state: its handlers and scripts are that project's.
      const options = state.log.runOptions(run.runId);
      if (options?.['dev'] !== true || options['root'] !== root) {
        others.push(run.runId);
        return false;
      }
      // A run goes on with the plan it started with: a workflow edited since would meet state it does not know.
      const plan = state.log.runPlan(run.runId);
      if (plan === undefined || current.get(run.workflow) !== JSON.stringify(plan)) {
        changed.push(`${run.runId} (${run.workflow})`);
        return false;
      }
      return true;
    },
  });
  const say = (line: string): boolean => process.stderr.write(`joinflow dev: ${line}\n`);
  if (changed.length > 0) {
    say(`${changed.length} unfinished run(s) started with another version of their workflow, left as they are: ${list(changed)}; stop dev and '${stateCommand(dir, 'resume', '<runId>')}' continues one with its own version, or '${stateCommand(dir, 'cancel', '<runId>')}'`);
  }
  if (others.length > 0) say(`${others.length} unfinished run(s) started by 'joinflow run' or in another directory, left as they are (they keep their own flags and directory): ${list(others)}; stop dev and '${stateCommand(dir, 'resume')}' continues them`);
  if (runs.length === 0) return [];
  const ids = await engine.recover(runs.map((r) => r.runId));
  cancelAsked(dir, engine);
  say(`continuing ${ids.length} run(s) an earlier dev left unfinished: ${list(ids)}`);
  return ids;
}

const list = (ids: readonly string[]): string => (ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')}, ... (${ids.length - 5} more)`);
