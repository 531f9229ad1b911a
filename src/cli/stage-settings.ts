/**
 * What `joinflow plan` and `joinflow run --cost` read of the project's serverless.yml
 * (custom.joinflow, as deploy/lib.cjs reads it) to price steps as the stage deploys them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { yaml } from '../adapters/local/yaml-lazy.ts';

/**
 * The GPU instance types the project's serverless.yml allows (custom.joinflow.gpuInstanceTypes, a
 * list or a comma-separated string, as deploy/lib.cjs reads it); none: the deploy's defaults.
 */
export function allowedGpuTypes(dir: string): { types?: string[]; note?: string } {
  const where = 'serverless.yml custom.joinflow.gpuInstanceTypes';
  const read = stageSetting(dir, 'gpuInstanceTypes');
  if ('problem' in read) return { note: `serverless.yml: ${read.problem}: GPU steps are priced on the default instance types` };
  const value = read.value;
  if (value === undefined || value === null) return {};
  const items = (Array.isArray(value) ? value : String(value).split(',')).map((v) => String(v).trim()).filter(Boolean);
  // A serverless variable (${env:...}, ${param:...}) is resolved at deploy time only.
  if (items.some((v) => v.includes('${'))) return { note: `${where} is a serverless variable (${items.join(', ')}): GPU steps are priced on the default instance types` };
  return items.length > 0 ? { types: items } : {};
}

/**
 * The memory of a function step's Lambda as deploy sets it (serverless.yml
 * custom.joinflow.stepMemoryMb, deploy/lib.cjs); none: the deploy's default, 1,024 MB.
 */
export function stepMemory(dir: string): { memoryMb?: number; note?: string } {
  const where = 'serverless.yml custom.joinflow.stepMemoryMb';
  const otherwise = 'function steps are priced at 1,024 MB';
  const read = stageSetting(dir, 'stepMemoryMb');
  if ('problem' in read) return { note: `serverless.yml: ${read.problem}: ${otherwise}` };
  const value = read.value;
  if (value === undefined || value === null || value === '') return {};
  if (String(value).includes('${')) return { note: `${where} is a serverless variable (${String(value)}): ${otherwise}` };
  const n = Number(value);
  // deploy refuses the stage then (Lambda takes a whole number of MB from 128 to 10,240); plan
  // still prices, at the default.
  if (!Number.isSafeInteger(n) || n < 128 || n > 10_240) return { note: `${where} is not a whole number of MB from 128 to 10240 (${JSON.stringify(value)}), which serverless package refuses: ${otherwise}` };
  return { memoryMb: n };
}

/** A field of custom.joinflow in the project's serverless.yml (undefined without the file or field). */
function stageSetting(dir: string, field: string): { value: unknown } | { problem: string } {
  const file = path.join(dir, 'serverless.yml');
  if (!existsSync(file)) return { value: undefined };
  try {
    const doc = yaml().parseDocument(readFileSync(file, 'utf8'));
    if (doc.errors.length > 0) return { problem: doc.errors[0]!.message.split('\n')[0]! };
    const joinflow = (doc.toJS() as { custom?: { joinflow?: Record<string, unknown> } } | null)?.custom?.joinflow;
    return { value: joinflow?.[field] };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}
