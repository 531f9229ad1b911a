/** `joinflow plan <workflow>`: each step's placement on AWS, the reason, its resources and cost. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compileFile, findWorkflowFile } from '../adapters/local/workflow-files.ts';
import { yaml } from '../adapters/local/yaml-lazy.ts';
import { formatPlanReport, planReport } from '../cost/plan-report.ts';
import { UsageError } from '../model/errors.ts';

/** Runs `joinflow plan`; resolves with the exit code (0 printed, 2 bad usage or definition). */
export async function planCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  if (positionals.length !== 1) throw new UsageError(`plan takes one workflow (got ${positionals.length === 0 ? 'none' : positionals.join(', ')})`);
  const plan = await compileFile(findWorkflowFile(positionals[0]!));
  const gpu = allowedGpuTypes(process.cwd());
  if (gpu.note) process.stderr.write(`joinflow plan: ${gpu.note}\n`);
  const report = planReport(plan, { gpuInstanceTypes: gpu.types });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlanReport(report));
  return 0;
}

/**
 * The GPU instance types the project's serverless.yml allows (custom.joinflow.gpuInstanceTypes, a
 * list or a comma-separated string, as deploy/lib.cjs reads it); none: the deploy's defaults.
 */
export function allowedGpuTypes(dir: string): { types?: string[]; note?: string } {
  const file = path.join(dir, 'serverless.yml');
  if (!existsSync(file)) return {};
  const where = 'serverless.yml custom.joinflow.gpuInstanceTypes';
  let value: unknown;
  try {
    const doc = yaml().parseDocument(readFileSync(file, 'utf8'));
    if (doc.errors.length > 0) return { note: `serverless.yml: ${doc.errors[0]!.message.split('\n')[0]}: GPU steps are priced on the default instance types` };
    value = (doc.toJS() as { custom?: { joinflow?: { gpuInstanceTypes?: unknown } } } | null)?.custom?.joinflow?.gpuInstanceTypes;
  } catch (error) {
    return { note: `serverless.yml: ${(error as Error).message}: GPU steps are priced on the default instance types` };
  }
  if (value === undefined || value === null) return {};
  const items = (Array.isArray(value) ? value : String(value).split(',')).map((v) => String(v).trim()).filter(Boolean);
  // A serverless variable (${env:...}, ${param:...}) is resolved at deploy time only.
  if (items.some((v) => v.includes('${'))) return { note: `${where} is a serverless variable (${items.join(', ')}): GPU steps are priced on the default instance types` };
  return items.length > 0 ? { types: items } : {};
}
