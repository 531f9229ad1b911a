/** `joinflow start <workflow>`: PutEvents "Run Requested" on a deployed stage's bus; prints the run id. */
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseInput } from './input.ts';
import { requestRun } from '../adapters/aws/stage.ts';
import { suggest } from '../compiler/validate.ts';
import { runIdCommand, RunRequestedSchema } from '../model/events.ts';
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
  // Shared with status and list, which read the stage's table; start only sends to the bus.
  if (values.table !== undefined) throw new UsageError('--table: start sends the Run Requested event to the stage\'s bus and reads no table (name the bus with --bus, or the stage with --stage)');
  const workflow = positionals[0]!;
  const input = parseInput(values.input);
  const runId = values['run-id'] ?? randomUUID();
  const detail = { workflow, runId, input };
  const checked = RunRequestedSchema.safeParse(detail);
  if (!checked.success) {
    const what = (field: unknown) => (field === 'runId' ? '--run-id' : field === 'workflow' ? 'the workflow name' : '--input');
    throw new UsageError(checked.error.issues.map((i) => `${what(i.path[0])}: ${i.message}`).join('; '));
  }
  const config = awsConfig(values);
  // On a stage, a Run Requested for a workflow it does not have is only dead-lettered: a name not
  // among the plans deployed from here is refused before it is sent. Not against an endpoint of
  // one's own (joinflow dev, an emulator), which has its own workflows.
  if (config.endpoint === undefined && !process.env['AWS_ENDPOINT_URL_EVENTBRIDGE']) refuseUndeployed(workflow);
  await requestRun(config, detail, values.token === undefined ? {} : { token: values.token });
  process.stdout.write(values.json ? `${JSON.stringify({ runId, workflow, bus: config.bus })}\n` : `${runId}\n`);
  // `status --stage` reads the stage's table: of no use for a run sent to an endpoint of one's own.
  const status = (flags: string) => runIdCommand('status', runId, flags);
  const follow = config.endpoint === undefined
    ? `follow it with: ${status(values.stage ? ` --stage ${values.stage}` : '')}`
    : `the engine behind it runs it if it has the workflow, else dead-letters it (joinflow dev: ${status('')} and joinflow dlq list, with dev's --state; dev --memory keeps neither on file)`;
  process.stderr.write(`started ${workflow} on bus ${config.bus}${config.endpoint === undefined ? '' : ` at ${config.endpoint}`}; ${follow}\n`);
  return 0;
}

/**
 * Refuses a workflow that has no plan in ./triggers when there is one (the plans `serverless
 * deploy` ships). Without ./triggers (started from elsewhere) the name is not checked.
 */
function refuseUndeployed(workflow: string): void {
  const dir = path.resolve('triggers');
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return;
  // triggers/@subscriptions.json holds the project's subscriptions, not a workflow.
  const names = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('@')).map((f) => f.slice(0, -'.json'.length));
  if (names.includes(workflow)) return;
  throw new UsageError(
    `no workflow "${workflow}" in triggers/ (the plans this project deploys)${suggest(workflow, names)}: on the stage its Run Requested would only be dead-lettered. ` +
      'Deploy it first (joinflow compile, then serverless deploy)',
  );
}
