/**
 * Compiles an `executor: auto` step into what the runtime and the AWS packaging already know: a
 * `function` executor when it is placed on Lambda, a `batch` executor when it is placed on Batch,
 * plus its placement (target, reason, resources) and, on Lambda with `fallback: batch`, the batch
 * executor its attempts move to after a timeout.
 */
import type { ExecutorSpec, StepSpec, AutoExecutor, LocalCommand } from '../model/workflow.ts';
import type { Fallback, Placement } from '../model/plan.ts';
import { fargateSize, LAMBDA, lambdaVcpus, place } from './placement.ts';

/** The plan fields of an auto step. */
export type AutoStep = { executor: ExecutorSpec; placement: Placement; fallback?: Fallback; timeoutMs?: number };

/** How paths of the workflow file become paths of the plan (relative to the project root). */
export type PathResolver = { module: (module: string) => string; cwd: (cwd: string) => string };

/**
 * Resolves an auto step. A Lambda-placed step gets `timeoutMs`, or Lambda's 900 s, on every
 * attempt wherever it runs, so a timeout (and its fallback) means the same locally and on AWS.
 * Throws when the step fits nowhere: validateWorkflow reports that first, with its path.
 */
export function resolveAuto(step: StepSpec, e: AutoExecutor, paths: PathResolver): AutoStep {
  const decision = place(step.resources, step.timeoutMs);
  if ('problem' in decision) throw new Error(`auto step cannot be placed: ${decision.problem}`);
  const handler = { module: paths.module(e.module), export: e.export };
  const placement: Placement = { ...decision, handler };
  if (decision.target !== 'lambda') {
    return {
      executor: batch(e, decision, paths),
      placement,
      ...(step.timeoutMs === undefined ? {} : { timeoutMs: step.timeoutMs }),
    };
  }
  const lambda: AutoStep = {
    executor: { type: 'function', module: handler.module, export: handler.export },
    placement,
    timeoutMs: step.timeoutMs ?? LAMBDA.maxSeconds * 1000,
  };
  if (step.fallback !== 'batch') return lambda;
  // At least the CPU the step had on Lambda: a step that ran out of time must not get less.
  const memoryMb = step.resources?.memoryMb ?? decision.memoryMb;
  const size = fargateSize(Math.max(step.resources?.vcpus ?? 0, lambdaVcpus(decision.memoryMb)), memoryMb)!;
  return { ...lambda, fallback: { target: 'batch-cpu', executor: batch(e, { ...size, gpus: 0 }, paths) } };
}

function batch(e: AutoExecutor, size: { vcpus: number; memoryMb: number; gpus: number }, paths: PathResolver): ExecutorSpec {
  const local: LocalCommand | undefined = e.local && { ...e.local, cwd: paths.cwd(e.local.cwd ?? '.') };
  return {
    type: 'batch',
    image: e.image,
    command: e.command,
    vcpus: size.vcpus,
    memoryMb: size.memoryMb,
    gpus: size.gpus,
    env: e.env,
    ...(local ? { local } : {}),
  };
}
