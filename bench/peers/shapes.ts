/**
 * The DAGs of the peer benchmark, defined once and handed to both engines: joinflow runs them as
 * workflows, the HyperFlow side gets them through hyperflow-format.ts. Every task is a no-op.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import type { ExecutorInput, WorkflowInput } from '../../src/model/workflow.ts';

const corpus = path.resolve(import.meta.dirname, '../../../shared/corpora/wfcommons');

/** The no-op task of joinflow rows: `simulate` with no duration answers on the next turn of the loop. */
export const NOOP_SIMULATE: ExecutorInput = { type: 'simulate', durationMs: 0 };

/** A function step whose handler returns at once (runs in the engine's worker threads). */
export const NOOP_FUNCTION: ExecutorInput = { type: 'function', module: path.join(import.meta.dirname, 'noop-handler.ts'), export: 'handler' };

/** A chain s0 -> s1 -> ... of `n` steps. */
export function chainShape(n: number): WorkflowInput {
  const steps: WorkflowInput['steps'] = {};
  for (let i = 0; i < n; i++) steps[`s${i}`] = { needs: i === 0 ? [] : [`s${i - 1}`], executor: NOOP_SIMULATE };
  return { name: `chain-${n}`, steps };
}

/**
 * One source, `n` parallel steps, one join: a static fan-out (n + 2 tasks), because HyperFlow
 * runs DAGs of processes; joinflow's dynamic `forEach` has no HyperFlow equivalent in this form.
 */
export function fanoutShape(n: number): WorkflowInput {
  const steps: WorkflowInput['steps'] = { source: { executor: NOOP_SIMULATE } };
  const parallel = Array.from({ length: n }, (_, i) => `p${i}`);
  for (const id of parallel) steps[id] = { needs: ['source'], executor: NOOP_SIMULATE };
  steps['join'] = { needs: parallel, executor: NOOP_SIMULATE };
  return { name: `fanout-${n}`, steps };
}

/** A WfCommons trace from the shared corpus with every task made a no-op. */
export function traceShape(file: string, name: string): WorkflowInput {
  const { workflow } = importWfCommons(JSON.parse(readFileSync(path.join(corpus, file), 'utf8')), { name });
  for (const s of Object.values(workflow.steps)) s.executor = NOOP_SIMULATE;
  return workflow;
}

/** The shapes by name, built on demand (the traces are read from disk). */
export const shapes: Record<string, () => WorkflowInput> = {
  'chain-1000': () => chainShape(1000),
  'fanout-5000': () => fanoutShape(5000),
  montage: () => traceShape('montage-chameleon-2mass-005d-001.json', 'montage'),
  epigenomics: () => traceShape('epigenomics-chameleon-ilmn-6seq-50k-001.json', 'epigenomics'),
};

/** Replaces every step's executor (the shapes are built with {@link NOOP_SIMULATE}). */
export function withExecutor(workflow: WorkflowInput, executor: ExecutorInput): WorkflowInput {
  const steps: WorkflowInput['steps'] = {};
  for (const [id, s] of Object.entries(workflow.steps)) steps[id] = { ...s, executor };
  return { ...workflow, steps };
}
