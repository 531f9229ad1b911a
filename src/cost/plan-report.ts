/**
 * `joinflow plan`: where each step of a compiled plan runs on AWS, why, with what resources, and
 * what one execution of it costs (compute only, on-demand, us-east-1). Pure: plan in, report out.
 */
import { FARGATE_SIZES, fargateSize, LAMBDA, lambdaVcpus, thousands } from '../compiler/placement.ts';
import type { PlacementTarget, PlanStep, TriggerPlan } from '../model/plan.ts';
import { ASSUMPTIONS, DEFAULT_GPU_INSTANCE_TYPES, GPU_INSTANCES, PRICES } from './prices.ts';
import { lambdaMemoryMb } from './step-memory.ts';

/** Where a step runs: a placement on AWS, a container worker, or the embedded engine only. */
export type PlacementKind = PlacementTarget | 'container' | 'local-only';

/** What a step gets where it runs. */
export type StepResources = { memoryMb?: number; vcpus?: number; gpus?: number; expectedSeconds?: number; instance?: string };

/** One step of the report. `usd` is per execution (per item for forEach steps); null = not estimated, see `note`. */
export type StepPlacementRow = {
  step: string;
  placement: PlacementKind;
  reason: string;
  resources: StepResources;
  /**
   * Where attempts go after a Lambda timeout (of `timeoutSeconds`), and what an execution that falls
   * back costs (its Lambda attempt until the timeout, then the Batch job; null without
   * expectedSeconds). `always`: expectedSeconds is over the timeout, so every execution falls back
   * and the row's `usd` is this price.
   */
  fallback?: { placement: 'batch-cpu'; memoryMb: number; vcpus: number; timeoutSeconds: number; usd: number | null; always?: true };
  usd: number | null;
  perItem?: true;
  note?: string;
  /** Something about the step that the estimate cannot mend, such as an expected time over its timeout. */
  warning?: string;
};

/** The report of one workflow. */
export type PlanReport = {
  workflow: string;
  steps: StepPlacementRow[];
  totalUsd: number;
  priced: number;
  /** The workflow has choices (`when`) or catch steps: a run may skip some of its steps. */
  skips?: true;
  /** The GPU instance types its GPU steps were priced on (when it has any). */
  gpuInstanceTypes?: string[];
};

/**
 * `gpuInstanceTypes`: those the stage allows (serverless.yml custom.joinflow.gpuInstanceTypes;
 * default g4dn.xlarge, g5.xlarge). `functionMemoryMb`: the memory of a function step's Lambda
 * (custom.joinflow.stepMemoryMb; default 1,024 MB).
 */
export type PlanOptions = { gpuInstanceTypes?: readonly string[] | undefined; functionMemoryMb?: number | undefined };

/** Describes and prices every step of a plan, in plan order. */
export function planReport(plan: TriggerPlan, options: PlanOptions = {}): PlanReport {
  const gpuTypes = options.gpuInstanceTypes?.length ? options.gpuInstanceTypes : DEFAULT_GPU_INSTANCE_TYPES;
  const functionMemoryMb = options.functionMemoryMb ?? ASSUMPTIONS.functionMemoryMb;
  const steps = Object.entries(plan.steps).map(([id, s]) => row(id, s, gpuTypes, functionMemoryMb));
  const priced = steps.filter((r) => r.usd !== null);
  const skips = Object.values(plan.steps).some((s) => s.when !== undefined || s.catches !== undefined);
  const gpu = steps.some((r) => r.placement === 'batch-gpu') ? { gpuInstanceTypes: [...gpuTypes] } : {};
  return { workflow: plan.workflow, steps, totalUsd: priced.reduce((a, r) => a + r.usd!, 0), priced: priced.length, ...(skips ? { skips } : {}), ...gpu };
}

function row(step: string, s: PlanStep, gpuTypes: readonly string[], functionMemoryMb: number): StepPlacementRow {
  const perItem = s.forEach ? { perItem: true as const } : {};
  const base = describe(s, functionMemoryMb);
  const fallback = fallbackOf(s, base.resources.expectedSeconds);
  const cost = price(base.placement, base.resources, gpuTypes);
  const usd = fallback?.always && cost.usd !== null ? fallback.usd : cost.usd;
  const warning = [sizeProblem(s), overTimeout(s, base.placement, base.resources.expectedSeconds)].filter(Boolean).join('; ');
  return {
    step, ...base, ...(fallback ? { fallback } : {}), usd, ...perItem, ...(cost.note ? { note: cost.note } : {}), ...(warning ? { warning } : {}), resources: cost.resources,
  };
}

/**
 * The Batch fallback of a Lambda-placed step. An execution that falls back pays for its Lambda
 * attempt up to the timeout (Lambda bills the time an invocation ran, timed out or not) and then
 * for the whole Batch job, which starts over: expectedSeconds at the fallback's size.
 */
function fallbackOf(s: PlanStep, expectedSeconds: number | undefined): StepPlacementRow['fallback'] {
  if (!s.fallback || s.fallback.executor.type !== 'batch') return undefined;
  const e = s.fallback.executor;
  // The function's Timeout is whole seconds (deploy/lib.cjs rounds timeoutMs up).
  const timeoutSeconds = Math.ceil((s.timeoutMs ?? LAMBDA.maxSeconds * 1000) / 1000);
  const base = { placement: s.fallback.target, memoryMb: e.memoryMb, vcpus: e.vcpus, timeoutSeconds };
  if (expectedSeconds === undefined || s.placement?.target !== 'lambda') return { ...base, usd: null };
  const onLambda = price('lambda', { memoryMb: s.placement.memoryMb, expectedSeconds: timeoutSeconds }, []).usd!;
  const onBatch = price('batch-cpu', { memoryMb: e.memoryMb, vcpus: e.vcpus, expectedSeconds }, []).usd!;
  return { ...base, usd: onLambda + onBatch, ...(expectedSeconds > timeoutSeconds ? { always: true as const } : {}) };
}

/**
 * A batch step's size that `serverless package` refuses (deploy/capacity.cjs): CPU jobs run on
 * Fargate's fixed sizes, GPU jobs on EC2 with whole vCPUs. Placed (`auto`) steps are sized to fit.
 */
function sizeProblem(s: PlanStep): string | undefined {
  const e = s.executor;
  if (e.type !== 'batch' || s.placement) return undefined;
  if (e.gpus > 0) return Number.isInteger(e.vcpus) ? undefined : `a GPU (EC2) job takes whole vCPUs, so serverless package refuses ${e.vcpus}`;
  const row = FARGATE_SIZES.find(([v]) => v === e.vcpus);
  if (row?.[1].includes(e.memoryMb)) return undefined;
  const vcpus = (v: number) => `${v} vCPU${v === 1 ? '' : 's'}`;
  const allowed = row
    ? `${vcpus(row[0])} take ${thousands(row[1][0]!)}-${thousands(row[1][row[1].length - 1]!)} MB`
    : `Fargate has ${FARGATE_SIZES.map(([v]) => v).join(', ').replace(/, (?=[^,]*$)/, ' or ')} vCPUs`;
  const size = fargateSize(e.vcpus, e.memoryMb);
  const nearest = size ? ` (the smallest size that holds it: ${vcpus(size.vcpus)}, ${thousands(size.memoryMb)} MB)` : '';
  return `not a Fargate size, so serverless package refuses it: ${allowed}${nearest}`;
}

/** A step expected to run longer than its timeout times out on every attempt: the price of a run that cannot succeed. */
function overTimeout(s: PlanStep, kind: PlacementKind, expectedSeconds: number | undefined): string | undefined {
  // On AWS a function step's Lambda gets 60 s without a timeoutMs (deploy/lib.cjs), at most 900 s.
  const unset = kind === 'lambda' && !s.placement && s.timeoutMs === undefined;
  const timeoutMs = kind === 'lambda' ? Math.min(LAMBDA.maxSeconds * 1000, s.timeoutMs ?? 60_000) : s.timeoutMs;
  if (expectedSeconds === undefined || timeoutMs === undefined || expectedSeconds * 1000 <= timeoutMs) return undefined;
  const then = s.fallback ? ' on Lambda would time out and fall back to Batch' : ' would time out';
  return `expectedSeconds ${expectedSeconds} > its timeout of ${timeoutMs / 1000} s${unset ? " (a function step's Lambda without timeoutMs)" : ''}: every attempt${then}`;
}

/** Placement, reason and resources: the compiler's for `auto` steps, the executor's for the others. */
function describe(s: PlanStep, functionMemoryMb: number): { placement: PlacementKind; reason: string; resources: StepResources } {
  const seconds = s.placement?.expectedSeconds ?? s.expectedSeconds;
  const expected = seconds === undefined ? {} : { expectedSeconds: seconds };
  if (s.placement) {
    const p = s.placement;
    return { placement: p.target, reason: p.reason, resources: { memoryMb: p.memoryMb, vcpus: p.vcpus, gpus: p.gpus, ...expected } };
  }
  const e = s.executor;
  switch (e.type) {
    case 'function': {
      // The stage's step memory, which deploy gives every function step's Lambda (run --cost bills it so too).
      const memoryMb = lambdaMemoryMb(s, functionMemoryMb);
      return { placement: 'lambda', reason: 'executor function', resources: { memoryMb, vcpus: lambdaVcpus(memoryMb), gpus: 0, ...expected } };
    }
    case 'batch':
      return {
        placement: e.gpus > 0 ? 'batch-gpu' : 'batch-cpu',
        reason: 'executor batch',
        resources: { memoryMb: e.memoryMb, vcpus: e.vcpus, gpus: e.gpus, ...expected },
      };
    case 'container':
      return { placement: 'container', reason: `executor container (queue "${e.queue}")`, resources: expected };
    case 'process':
    case 'simulate':
      return { placement: 'local-only', reason: `executor ${e.type} runs only on the embedded engine`, resources: expected };
  }
}

function price(kind: PlacementKind, r: StepResources, gpuTypes: readonly string[]): { usd: number | null; note?: string; resources: StepResources } {
  if (kind === 'container') return { usd: null, note: 'runs on your own workers', resources: r };
  if (kind === 'local-only') return { usd: null, note: 'does not run on AWS', resources: r };
  if (r.expectedSeconds === undefined) return { usd: null, note: 'no resources.expectedSeconds', resources: r };
  const seconds = r.expectedSeconds;
  const memoryMb = r.memoryMb ?? ASSUMPTIONS.functionMemoryMb;
  if (kind === 'lambda') {
    return { usd: PRICES.lambdaPerRequest + (memoryMb / 1024) * seconds * PRICES.lambdaPerGbSecond, resources: r };
  }
  const billedHours = Math.max(ASSUMPTIONS.batchMinimumSeconds, seconds) / 3600;
  if (kind === 'batch-cpu') {
    const perHour = (r.vcpus ?? 1) * PRICES.fargatePerVcpuHour + (memoryMb / 1024) * PRICES.fargatePerGbHour;
    return { usd: perHour * billedHours, resources: r };
  }
  // One job per instance: the whole instance is billed while the job runs.
  // Only the types the stage's compute environment may launch: Batch places the job on one of them.
  const fits = GPU_INSTANCES.filter((i) =>
    gpuTypes.includes(i.type) && i.gpus >= (r.gpus ?? 1) && i.vcpus >= (r.vcpus ?? 1) && Math.floor(i.memoryMb * ASSUMPTIONS.gpuUsableMemoryShare) >= memoryMb);
  const cheapest = fits.sort((a, b) => a.usdPerHour - b.usdPerHour)[0];
  if (!cheapest) return { usd: null, note: `no allowed GPU instance type with a price in src/cost/prices.ts holds it (allowed: ${gpuTypes.join(', ')})`, resources: r };
  return { usd: cheapest.usdPerHour * billedHours, resources: { ...r, instance: cheapest.type } };
}

/** The report as a fixed-width table. */
export function formatPlanReport(report: PlanReport): string {
  const head = ['step', 'placement', 'resources', '$/execution', 'reason'];
  const rows = report.steps.map((r) => [
    r.step,
    r.placement,
    resourcesText(r.resources),
    r.usd === null ? `- (${r.note ?? 'not estimated'})` : `${usd(r.usd)}${r.perItem ? ' per item' : ''}`,
    r.reason,
  ]);
  const widths = head.map((h, i) => rows.reduce((m, cells) => Math.max(m, cells[i]!.length), h.length));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  const out = [
    `${report.workflow}: where each step runs on AWS and the compute cost of one execution (on-demand, us-east-1; src/cost/prices.ts)`,
    ...(report.gpuInstanceTypes ? [`  GPU jobs priced on the cheapest allowed instance type that holds them: ${report.gpuInstanceTypes.join(', ')} (custom.joinflow.gpuInstanceTypes)`] : []),
    line(head),
  ];
  report.steps.forEach((r, i) => {
    out.push(line(rows[i]!));
    if (r.warning) out.push(`  ${''.padEnd(widths[0]!)}  ! ${r.warning}`);
    if (r.fallback) {
      const f = r.fallback;
      const cost = f.usd === null ? '' : `: ${usd(f.usd)} an execution that falls back (Lambda until its ${f.timeoutSeconds} s timeout, then the Batch job)` +
        (f.always ? ', priced above as every execution does' : '');
      out.push(`  ${''.padEnd(widths[0]!)}  -> after a Lambda timeout: ${f.placement}, ${f.vcpus} vCPU, ${thousands(f.memoryMb)} MB (fallback: batch)${cost}`);
    }
  });
  const once = (report.steps.some((r) => r.perItem) ? '; forEach steps counted once' : '') +
    (report.skips ? '; every step counted, though a choice or a catch skips some in each run' : '');
  // With no step priced there is no total to show: $0 would read as "free".
  const total = report.priced === 0 ? 'unknown' : usd(report.totalUsd);
  out.push(`  total per run: ${total} (${report.priced} of ${report.steps.length} steps priced${once})`, '');
  return out.join('\n');
}

function resourcesText(r: StepResources): string {
  const parts: string[] = [];
  if (r.memoryMb !== undefined) parts.push(`${thousands(r.memoryMb)} MB`);
  if (r.vcpus !== undefined) parts.push(`${r.vcpus} vCPU`);
  if (r.gpus) parts.push(`${r.gpus} GPU${r.instance ? ` (${r.instance})` : ''}`);
  if (r.expectedSeconds !== undefined) parts.push(`~${r.expectedSeconds} s`);
  return parts.join(', ') || '-';
}

function usd(x: number): string {
  return `$${x < 0.01 ? x.toFixed(6) : x.toFixed(4)}`;
}
