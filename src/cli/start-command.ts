/** `joinflow start <workflow>`: PutEvents "Run Requested" on a deployed stage's bus; prints the run id. */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseInput } from './input.ts';
import { requestRun } from '../adapters/aws/stage.ts';
import { RunRequestedSchema } from '../model/events.ts';
import { UsageError } from '../model/errors.ts';
import { AWS_OPTIONS, awsConfig } from './aws-options.ts';

/** Runs `joinflow start`; resolves with the exit code. */
export async function startCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...AWS_OPTIONS, input: { type: 'string' }, 'run-id': { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('name the workflow to start (its name, as in triggers/<name>.json)');
  const workflow = positionals[0]!;
  const input = parseInput(values.input);
  const runId = values['run-id'] ?? randomUUID();
  const detail = { workflow, runId, input };
  const checked = RunRequestedSchema.safeParse(detail);
  if (!checked.success) throw new UsageError(`--run-id: ${checked.error.issues.map((i) => i.message).join('; ')}`);
  const config = awsConfig(values);
  await requestRun(config, detail, values.token === undefined ? {} : { token: values.token });
  process.stdout.write(values.json ? `${JSON.stringify({ runId, workflow, bus: config.bus })}\n` : `${runId}\n`);
  process.stderr.write(`started ${workflow} on bus ${config.bus}; follow it with: joinflow status ${runId}${values.stage ? ` --stage ${values.stage}` : ''}\n`);
  return 0;
}
