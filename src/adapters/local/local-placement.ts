/**
 * How placed (`auto`) steps run on the embedded engine. Lambda-placed ones run their handler in
 * the function pool, as function steps do. Batch-placed ones (and Batch fallbacks) run their
 * `local` command when they give one, like batch steps; otherwise their handler runs in the
 * function pool, the same code the image runs on AWS — so every auto step runs on one machine.
 */
import path from 'node:path';
import type { PlanStep } from '../../model/plan.ts';
import type { ExecutorSpec } from '../../model/workflow.ts';

/** A plan step with the executors the embedded engine uses for its placement and fallback. */
export function localPlacement(step: PlanStep, root: string): PlanStep {
  const placement = step.placement;
  if (!placement) return step;
  const handler: ExecutorSpec = { type: 'function', module: path.resolve(root, placement.handler.module), export: placement.handler.export };
  const onThisMachine = (e: ExecutorSpec): ExecutorSpec => {
    if (e.type !== 'batch') return e;
    if (!e.local) return handler;
    return { ...e, local: { ...e.local, cwd: path.resolve(root, e.local.cwd ?? '.') } };
  };
  return {
    ...step,
    executor: onThisMachine(step.executor),
    placement: { ...placement, handler: { module: handler.module, export: handler.export } },
    ...(step.fallback ? { fallback: { ...step.fallback, executor: onThisMachine(step.fallback.executor) } } : {}),
  };
}
