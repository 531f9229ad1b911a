/** `joinflow plan <workflow>`: each step's placement on AWS, the reason, its resources and cost. */
import { parseArgs } from 'node:util';
import { compileFile, findWorkflowFile } from '../adapters/local/workflow-files.ts';
import { formatPlanReport, planReport } from '../cost/plan-report.ts';
import { UsageError } from '../model/errors.ts';
import { allowedGpuTypes, stepMemory } from './stage-settings.ts';

/** Runs `joinflow plan`; resolves with the exit code (0 printed, 2 bad usage or definition). */
export async function planCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) throw new UsageError(`plan takes one workflow (got ${positionals.length === 0 ? 'none' : positionals.join(', ')})`);
  const plan = await compileFile(findWorkflowFile(positionals[0]!));
  const gpu = allowedGpuTypes(process.cwd());
  if (gpu.note) process.stderr.write(`joinflow plan: ${gpu.note}\n`);
  const memory = stepMemory(process.cwd());
  if (memory.note) process.stderr.write(`joinflow plan: ${memory.note}\n`);
  const report = planReport(plan, { gpuInstanceTypes: gpu.types, functionMemoryMb: memory.memoryMb });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlanReport(report));
  return 0;
}
