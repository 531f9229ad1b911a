/** `joinflow plan <workflow>`: each step's placement on AWS, the reason, its resources and cost. */
import { parseArgs } from 'node:util';
import { compileFile, findWorkflowFile } from '../adapters/local/workflow-files.ts';
import { formatPlanReport, planReport } from '../cost/plan-report.ts';
import { UsageError } from '../model/errors.ts';

/** Runs `joinflow plan`; resolves with the exit code (0 printed, 2 bad usage or definition). */
export async function planCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) throw new UsageError(`plan takes one workflow (got ${positionals.length === 0 ? 'none' : positionals.join(', ')})`);
  const report = planReport(await compileFile(findWorkflowFile(positionals[0]!)));
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlanReport(report));
  return 0;
}
