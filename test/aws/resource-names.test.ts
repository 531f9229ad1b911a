/**
 * The processor and the timer find a step's Lambda function and Batch job definition by the names
 * `serverless package` gives them, derived from the stage's name prefix (resource-names.ts, as
 * deploy/lib.cjs names them), instead of a map of every name in their environment: that map filled
 * Lambda's 4 KB of environment at about 45 steps per stage (Montage mapped to batch steps, 58 of
 * them, could not be packaged).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { jobDefinitionName, stepFunctionName } from '../../src/adapters/aws/resource-names.ts';
import { dispatchTask } from '../../src/adapters/aws/dispatch.ts';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import type { Task } from '../../src/ports.ts';

const require = createRequire(import.meta.url);
type Model = {
  names: { prefix: string };
  functionSteps: Array<{ id: string; name: string; workflow: string; step?: string; members?: string[] }>;
  batchSteps: Array<{ workflow: string; step: string; name: string; executor: { image: string; gpus: number } }>;
};
const lib = require('../../deploy/lib.cjs') as {
  loadPlans(dir: string): TriggerPlan[];
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): Model;
};
const functionsCjs = require('../../deploy/functions.cjs') as {
  environments(model: Model): Record<string, Record<string, unknown>>;
  envBytes(vars: Record<string, unknown>, model: Model): number;
};
const root = path.resolve(import.meta.dirname, '../..');

const fn = (exp: string, extra: object = {}) => ({ type: 'function' as const, module: 'handlers/diamond.ts', export: exp, ...extra });
const longStep = `${'a.b:c_d-'.repeat(24)}end`.slice(0, 200);

/** Names at the README's limits, every character a step id may have, shared functions, batch and fallbacks. */
const odd: WorkflowInput = {
  name: `${'W'.repeat(60)}.x_y`,
  steps: {
    [longStep]: { executor: fn('nodeA') },
    'x.1': { needs: [longStep], executor: { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } },
    's:1': { executor: fn('nodeB', { params: { n: 1 } }) },
    's:2': { executor: fn('nodeB', { params: { n: 2 } }) },
    placed: {
      executor: { type: 'auto', module: 'handlers/diamond.ts', export: 'nodeC', image: 'i:1', command: ['p'] },
      resources: { memoryMb: 1024, expectedSeconds: 5 },
      timeoutMs: 30_000,
      fallback: 'batch',
    },
  },
} as WorkflowInput;

/** 60 function steps and 60 batch steps with long ids: their names alone are over 4 KB. */
const crowded: WorkflowInput = {
  name: 'crowded',
  steps: Object.fromEntries(
    Array.from({ length: 60 }, (_, i) => [
      [`fn-${String(i).padStart(2, '0')}-${'n'.repeat(48)}`, { executor: fn('nodeA') }],
      [`job-${String(i).padStart(2, '0')}-${'n'.repeat(48)}`, { executor: { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } }],
    ]).flat(),
  ),
} as WorkflowInput;

function model(plans: TriggerPlan[], stage = 'dev'): Model {
  return lib.buildModel({ service: 'joinflow', stage, region: 'us-east-1', custom: {}, plans, warn: () => {} });
}

function plansOf(...workflows: WorkflowInput[]): TriggerPlan[] {
  return workflows.map((w) => compileWorkflow(w, { source: `workflows/${w.name}.yaml` }));
}

describe('names of step functions and job definitions', () => {
  it('are derived by the handlers exactly as serverless package names them', () => {
    let functions = 0;
    // Two stacks: together they would pass CloudFormation's 500 resources.
    for (const [all, stage] of [
      [[...lib.loadPlans(path.join(root, 'triggers')), ...plansOf(odd)], 'dev'],
      [[...lib.loadPlans(path.join(root, 'triggers')), ...plansOf(odd)], 'a-rather-long-stage-name-of-30c'],
      [plansOf(crowded), 'dev'],
    ] as Array<[TriggerPlan[], string]>) {
      const m = model(all, stage);
      const byKey = new Map(all.map((p) => [p.workflow, p]));
      for (const f of m.functionSteps) {
        for (const id of f.members ?? [f.id]) {
          const [workflow, step] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
          const e = byKey.get(workflow)!.steps[step]!.executor as { module: string; export: string; params?: unknown };
          expect(stepFunctionName(m.names.prefix, workflow, step, e), id).toBe(f.name);
          functions += 1;
        }
      }
      for (const b of m.batchSteps) expect(jobDefinitionName(m.names.prefix, b.workflow, b.executor), `${b.workflow}/${b.step}`).toBe(b.name);
      if (all.length > 1) expect(m.batchSteps.map((b) => `${b.workflow}/${b.step}`)).toEqual(expect.arrayContaining([`${odd.name}/x.1`, `${odd.name}/placed`]));
    }
    expect(functions).toBeGreaterThan(120);
  });

  it('keep the processor and timer environment small however many steps a stage has (it listed every name: 4 KB at ~45 steps)', () => {
    const m = model(plansOf(crowded));
    const env = functionsCjs.environments(m);
    for (const key of ['processor', 'timer']) {
      expect(env[key]!['JOINFLOW_NAME_PREFIX']).toBe('joinflow-dev');
      expect(functionsCjs.envBytes(env[key]!, m)).toBeLessThan(1024);
    }
  });

  it('let the processor invoke a step function and submit a job by its derived name', async () => {
    const [plan] = plansOf(crowded);
    const m = model([plan!]);
    const config = { ...configFromEnv({ JOINFLOW_NAME_PREFIX: m.names.prefix, JOINFLOW_JOB_QUEUES: '{"cpu":"q-cpu","gpu":"q-gpu"}' }), bucket: undefined };
    const sent: Array<{ input: Record<string, unknown> }> = [];
    const client = { send: async (command: { input: Record<string, unknown> }) => (sent.push(command), { jobId: 'j-1' }) };
    const deps = { config, lambda: client as never, batch: client as never, sendToQueue: async () => {} };
    const base = { workflow: 'crowded', runId: 'r1', attempt: 1, maxAttempts: 1, event: { input: {}, results: {} } };
    const fnStep = 'fn-07-' + 'n'.repeat(48);
    const jobStep = 'job-07-' + 'n'.repeat(48);
    await dispatchTask({ ...base, step: fnStep, executor: plan!.steps[fnStep]!.executor } as Task, deps);
    await dispatchTask({ ...base, step: jobStep, executor: plan!.steps[jobStep]!.executor } as Task, deps);
    expect(sent[0]!.input['FunctionName']).toBe(m.functionSteps.find((f) => f.id === `crowded/${fnStep}`)!.name);
    expect(sent[1]!.input['jobDefinition']).toBe(m.batchSteps.find((b) => b.step === jobStep)!.name);
  });
});
