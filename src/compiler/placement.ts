/**
 * Hybrid placement: an `auto` step runs on Lambda when it fits Lambda's limits, otherwise as an
 * AWS Batch job — on the GPU queue when it asks for GPUs, else on the CPU (Fargate) queue at the
 * smallest Fargate size that covers it (and, without vcpus, the CPU its memory buys on Lambda).
 * Pure: resources in, placement out.
 */
import type { PlacementTarget } from '../model/plan.ts';
import type { Resources } from '../model/workflow.ts';

/**
 * Lambda's quotas. Lambda sells CPU through memory: 1,769 MB is the equivalent of one vCPU, and
 * the largest size, 10,240 MB, gets 6 vCPUs (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html;
 * the 900 s timeout: docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
 */
export const LAMBDA = { minMemoryMb: 128, maxMemoryMb: 10_240, maxSeconds: 900, mbPerVcpu: 1_769, maxVcpus: 6 } as const;

/** Memory of an `auto` step that names none: the default of function steps on AWS. */
export const DEFAULT_MEMORY_MB = 1024;

/**
 * Fargate task sizes, vCPUs -> the memory (MB) each allows (docs.aws.amazon.com/batch/latest/userguide/fargate.html,
 * "resourceRequirements"); deploy/capacity.cjs checks job definitions against the same table.
 */
export const FARGATE_SIZES: ReadonlyArray<readonly [number, readonly number[]]> = [
  [0.25, [512, 1024, 2048]],
  [0.5, steps(1024, 4096, 1024)],
  [1, steps(2048, 8192, 1024)],
  [2, steps(4096, 16_384, 1024)],
  [4, steps(8192, 30_720, 1024)],
  [8, steps(16_384, 61_440, 4096)],
  [16, steps(32_768, 122_880, 8192)],
];

/** Where a step goes and what it gets there, or why it can go nowhere. */
export type PlacementDecision =
  | { target: PlacementTarget; reason: string; memoryMb: number; vcpus: number; gpus: number; expectedSeconds?: number }
  | { problem: string };

/**
 * Places a step. Lambda is ruled out by GPUs, memory over 10,240 MB, more than 6 vCPUs, or an
 * expected duration or timeout over 900 s; every reason that applies is given. A step that fits
 * but asks for more vCPUs than its memory buys on Lambda gets the memory that buys them (on
 * Lambda that is the only way to get CPU, and it is still cheaper than a container for short work).
 */
export function place(resources: Resources = {}, timeoutMs?: number): PlacementDecision {
  const memoryMb = resources.memoryMb ?? DEFAULT_MEMORY_MB;
  const gpus = resources.gpus ?? 0;
  const { vcpus, expectedSeconds } = resources;
  const seconds = expectedSeconds === undefined ? {} : { expectedSeconds };
  const over: string[] = [];
  if (gpus > 0) over.push(`gpus ${gpus}`);
  if (memoryMb > LAMBDA.maxMemoryMb) over.push(`memory ${thousands(memoryMb)} MB > Lambda's ${thousands(LAMBDA.maxMemoryMb)} MB`);
  if (vcpus !== undefined && vcpus > LAMBDA.maxVcpus) over.push(`vcpus ${vcpus} > Lambda's ${LAMBDA.maxVcpus}`);
  if (expectedSeconds !== undefined && expectedSeconds > LAMBDA.maxSeconds) over.push(`expectedSeconds ${expectedSeconds} > Lambda's ${LAMBDA.maxSeconds}`);
  if (timeoutMs !== undefined && timeoutMs > LAMBDA.maxSeconds * 1000) over.push(`timeoutMs ${timeoutMs} > Lambda's ${LAMBDA.maxSeconds * 1000}`);
  const reason = over.join('; ');
  if (gpus > 0) {
    // EC2 GPU instances: Batch takes whole vCPUs there.
    return { target: 'batch-gpu', reason, memoryMb, vcpus: Math.ceil(vcpus ?? 1), gpus, ...seconds };
  }
  if (over.length > 0) {
    // A step that names no vcpus and whose memory Lambda could give is here only for its time: it
    // gets at least the CPU that memory buys on Lambda (as its fallback would), not Fargate's
    // smallest, which can be a tenth of that and would stretch its expectedSeconds as much.
    const cpu = vcpus ?? (memoryMb <= LAMBDA.maxMemoryMb ? lambdaVcpus(memoryMb) : undefined);
    const size = fargateSize(cpu, memoryMb);
    if (!size) {
      const [maxVcpus, memories] = FARGATE_SIZES[FARGATE_SIZES.length - 1]!;
      return {
        problem: `does not fit Lambda (${reason}) nor Fargate's largest task (${maxVcpus} vCPUs, ${thousands(memories[memories.length - 1]!)} MB), ` +
          `where CPU batch steps run: lower resources.memoryMb / vcpus, or give gpus to run on the GPU queue`,
      };
    }
    return { target: 'batch-cpu', reason, ...size, gpus: 0, ...seconds };
  }
  const needed = vcpus === undefined ? 0 : Math.min(LAMBDA.maxMemoryMb, Math.ceil(vcpus * LAMBDA.mbPerVcpu));
  const memory = Math.max(memoryMb, needed);
  const raised = memory > memoryMb ? ` (memory raised to ${thousands(memory)} MB for ${vcpus} vCPU${vcpus === 1 ? '' : 's'})` : '';
  return { target: 'lambda', reason: `fits Lambda${raised}`, memoryMb: memory, vcpus: lambdaVcpus(memory), gpus: 0, ...seconds };
}

/** The vCPUs Lambda gives a function of `memoryMb` (two decimals). */
export function lambdaVcpus(memoryMb: number): number {
  if (memoryMb >= LAMBDA.maxMemoryMb) return LAMBDA.maxVcpus;
  return Math.round((memoryMb / LAMBDA.mbPerVcpu) * 100) / 100;
}

/** The smallest Fargate size with at least `vcpus` and `memoryMb` (fewer vCPUs first: they cost most). */
export function fargateSize(vcpus: number | undefined, memoryMb: number): { vcpus: number; memoryMb: number } | undefined {
  for (const [v, memories] of FARGATE_SIZES) {
    if (vcpus !== undefined && v < vcpus) continue;
    const memory = memories.find((m) => m >= memoryMb);
    if (memory !== undefined) return { vcpus: v, memoryMb: memory };
  }
  return undefined;
}

/** 12288 -> "12,288", the same on every machine (no locale data involved). */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function steps(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}
