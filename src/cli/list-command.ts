/**
 * `joinflow list`: runs, newest first: of the embedded engine's state dir, or of a deployed
 * stage's table when an AWS flag (--stage, --table, --endpoint, --region, --bus) is given.
 */
import { parseArgs } from 'node:util';
import { stageRuns } from '../adapters/aws/stage.ts';
import { suggest } from '../compiler/validate.ts';
import { UsageError } from '../model/errors.ts';
import type { RunStatus } from '../ports.ts';
import { AWS_OPTIONS, awsConfig, usesAws } from './aws-options.ts';
import { runDuration, stopping, summarizeRun, type RunSummary } from './local-runs.ts';
import { openState, stateDir } from './state.ts';
import { stateCommand } from './hint.ts';
import { unstartedRequests } from '../adapters/local/recovery.ts';

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];

export { LIST_HELP } from './help.ts';

/** Runs `joinflow list`. */
export async function listCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...AWS_OPTIONS, status: { type: 'string' }, workflow: { type: 'string' }, state: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length > 0) throw new UsageError(`list takes no arguments (got ${positionals.join(', ')})`);
  const status = values.status;
  if (status !== undefined && !STATUSES.includes(status as RunStatus)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got "${status}")`);
  const filter = { ...(status === undefined ? {} : { status: status as RunStatus }), ...(values.workflow === undefined ? {} : { workflow: values.workflow }) };
  if (usesAws(values)) {
    if (values.state !== undefined) throw new UsageError('--state reads the local engine; it does not go with --stage/--table/--endpoint');
    const runs = await stageRuns(awsConfig(values), filter);
    return printRuns(runs.map((r) => summarizeRun(r)), values.json);
  }
  const dir = stateDir(values.state);
  const state = openState(dir, { mustExist: true });
  try {
    // Runs accepted and not started (their Run Requested on file, not handled) first: the newest.
    const accepted = filter.status !== undefined && filter.status !== 'running' ? [] : unstartedRequests(state.log).map((u) => u.record).filter((r) => filter.workflow === undefined || r.workflow === filter.workflow);
    const runs = [...accepted, ...state.log.listRuns(filter)].map((r) => summarizeRun(r, r.status === 'running' || stopping(r) ? state.log.runOptions(r.runId) : undefined));
    return printRuns(runs, values.json, dir, runs.length === 0 && filter.workflow !== undefined ? noRunsOf(filter.workflow, status, state.log) : 'no runs');
  } finally {
    state.close();
  }
}

/**
 * What `list --workflow` that found no run says: a workflow that has runs, none of them `status`,
 * is said so; one that has none (a typo) is told the nearest workflow that has runs.
 */
function noRunsOf(workflow: string, status: string | undefined, log: ReturnType<typeof openState>['log']): string {
  const workflows = new Set(log.listRuns().map((r) => r.workflow));
  if (status !== undefined && workflows.has(workflow)) return `no ${status} runs of workflow "${workflow}"`;
  return `no runs of workflow "${workflow}"${suggest(workflow, workflows)}`;
}

/** Prints runs as a table (or JSON); exit code 0. `dir`: the state dir they are in (none for a stage's runs). */
function printRuns(runs: RunSummary[], json: boolean, dir?: string, none = 'no runs'): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(runs)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    process.stderr.write(`${none}\n`);
    return 0;
  }
  const idWidth = runs.reduce((m, r) => Math.max(m, r.runId.length), 6);
  const wfWidth = runs.reduce((m, r) => Math.max(m, r.workflow.length), 8);
  const lines = [`${'RUN ID'.padEnd(idWidth)}  ${'WORKFLOW'.padEnd(wfWidth)}  ${'STATUS'.padEnd(9)}  ${'STARTED'.padEnd(24)}  DURATION`];
  for (const r of runs) {
    lines.push(`${r.runId.padEnd(idWidth)}  ${r.workflow.padEnd(wfWidth)}  ${r.status.padEnd(9)}  ${new Date(r.startedAt).toISOString().padEnd(24)}  ${runDuration(r)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const left = runs.filter((r) => r.interrupted).length;
  if (left > 0 && dir !== undefined) process.stderr.write(`${left} run(s) interrupted (the engine process that ran them is gone): '${stateCommand(dir, 'resume')}' continues them\n`);
  return 0;
}
