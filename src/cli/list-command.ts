/** `joinflow list`: the runs of the embedded engine's state dir, newest first. */
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import type { RunStatus } from '../ports.ts';
import { runDuration, summarizeRun } from './local-runs.ts';
import { openState, stateDir } from './state.ts';

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];

export { LIST_HELP } from './help.ts';

/** Runs `joinflow list`. */
export async function listCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { status: { type: 'string' }, workflow: { type: 'string' }, state: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length > 0) throw new UsageError(`list takes no arguments (got ${positionals.join(', ')})`);
  const status = values.status;
  if (status !== undefined && !STATUSES.includes(status as RunStatus)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got "${status}")`);
  const state = openState(stateDir(values.state), { mustExist: true });
  try {
    const runs = state.log
      .listRuns({ ...(status === undefined ? {} : { status: status as RunStatus }), ...(values.workflow === undefined ? {} : { workflow: values.workflow }) })
      .map((r) => summarizeRun(r, r.status === 'running' ? state.log.runOptions(r.runId) : undefined));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(runs)}\n`);
      return 0;
    }
    if (runs.length === 0) {
      process.stderr.write('no runs\n');
      return 0;
    }
    const idWidth = Math.max(6, ...runs.map((r) => r.runId.length));
    const wfWidth = Math.max(8, ...runs.map((r) => r.workflow.length));
    const lines = [`${'RUN ID'.padEnd(idWidth)}  ${'WORKFLOW'.padEnd(wfWidth)}  ${'STATUS'.padEnd(9)}  ${'STARTED'.padEnd(24)}  DURATION`];
    for (const r of runs) {
      lines.push(`${r.runId.padEnd(idWidth)}  ${r.workflow.padEnd(wfWidth)}  ${r.status.padEnd(9)}  ${new Date(r.startedAt).toISOString().padEnd(24)}  ${runDuration(r)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    const left = runs.filter((r) => r.interrupted).length;
    if (left > 0) process.stderr.write(`${left} run(s) interrupted (the engine process that ran them is gone): 'joinflow resume' continues them\n`);
    return 0;
  } finally {
    state.close();
  }
}
