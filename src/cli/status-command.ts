/** `joinflow status <runId> --stage S`: a run and its steps, from a deployed stage's table. */
import { parseArgs } from 'node:util';
import { stageRunStatus } from '../adapters/aws/stage.ts';
import { UsageError } from '../model/errors.ts';
import { AWS_OPTIONS, awsConfig } from './aws-options.ts';

/** Runs `joinflow status`; exit 0 when found, 1 when the run does not exist. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...AWS_OPTIONS, json: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) throw new UsageError('name the run id');
  const runId = positionals[0]!;
  const config = awsConfig(values);
  const status = await stageRunStatus(config, runId);
  if (!status) {
    process.stderr.write(`joinflow status: no run "${runId}" in table ${config.table}\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(status)}\n`);
    return 0;
  }
  const { run, steps } = status;
  const took = run.finishedAt === undefined ? 'running' : `${run.finishedAt - run.startedAt} ms`;
  const lines = [`run ${run.runId} (${run.workflow}): ${run.status}, started ${new Date(run.startedAt).toISOString()}, ${took}`];
  for (const s of steps) lines.push(`  ${s.state.padEnd(10)} ${s.step}${s.items === undefined ? '' : ` (${s.items} items done)`}`);
  if (run.error) lines.push(`error in step "${run.error.step ?? '?'}": ${run.error.type}: ${run.error.message}`);
  if (run.status === 'succeeded') lines.push(`output: ${JSON.stringify(run.output)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
