/**
 * The widest forEach the AWS processor sends: per executor by default (Batch's fixed 50
 * submissions a second), or custom.joinflow.maxForEachItems, which serverless.yml hands the
 * processor as JOINFLOW_MAX_FOREACH_ITEMS. (The processor failing such a step on dynalite is in
 * delivery-races.test.ts.)
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { awsWidest, BATCH_ITEMS, OTHER_ITEMS } from '../../src/adapters/aws/foreach-width.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';

const require = createRequire(import.meta.url);
type Model = { settings: { maxForEachItems?: number } };
const lib = require('../../deploy/lib.cjs') as {
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): Model;
};
const functionsCjs = require('../../deploy/functions.cjs') as { environments(model: Model): Record<string, Record<string, unknown>> };

const workflow: WorkflowInput = {
  name: 'wide',
  steps: {
    split: { executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' } },
    fn: { needs: ['split'], forEach: { step: 'split' }, executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeB' } },
    job: { needs: ['split'], forEach: { step: 'split' }, executor: { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } },
    lanes: { needs: ['split'], forEach: { step: 'split', maxConcurrency: 1000 }, executor: { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } },
    wide: { needs: ['split'], forEach: { step: 'split', maxConcurrency: 1001 }, executor: { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } },
  },
} as WorkflowInput;
const plan = compileWorkflow(workflow, { source: 'workflows/wide.yaml' });

describe('the widest forEach on AWS', () => {
  it('is 1,000 items for batch steps (50 submissions a second) and 10,000 for the others by default', () => {
    const widest = awsWidest({});
    expect(widest(plan.steps['job']!)).toMatchObject({ items: BATCH_ITEMS });
    expect(widest(plan.steps['job']!).why).toContain('50 job submissions a second');
    expect(widest(plan.steps['fn']!)).toMatchObject({ items: OTHER_ITEMS });
    expect(widest(plan.steps['fn']!).why).toContain('custom.joinflow.maxForEachItems');
  });

  it('is 10,000 items for a batch step with maxConcurrency of at most 1,000: it submits that many jobs at once', () => {
    const widest = awsWidest({});
    expect(widest(plan.steps['lanes']!)).toMatchObject({ items: OTHER_ITEMS });
    expect(widest(plan.steps['lanes']!).why).toContain('a Batch step with maxConcurrency submits only that many jobs at once');
    expect(widest(plan.steps['wide']!)).toMatchObject({ items: BATCH_ITEMS });
  });

  it('is JOINFLOW_MAX_FOREACH_ITEMS for every step when set; a value that is not a whole number of items is refused, naming it', () => {
    const widest = awsWidest({ JOINFLOW_MAX_FOREACH_ITEMS: '25000' });
    expect(widest(plan.steps['job']!).items).toBe(25_000);
    expect(widest(plan.steps['fn']!).items).toBe(25_000);
    for (const bad of ['0', '2.5', 'many', '-3']) {
      expect(() => awsWidest({ JOINFLOW_MAX_FOREACH_ITEMS: bad })).toThrow(`environment variable JOINFLOW_MAX_FOREACH_ITEMS must be a whole number of items, 1 or more, got "${bad}"`);
    }
  });

  it('reaches the processor and the timer from custom.joinflow.maxForEachItems; without it they have no such variable', () => {
    const build = (custom: object) => lib.buildModel({ service: 'joinflow', stage: 'dev', region: 'us-east-1', custom, plans: [plan], warn: () => {} });
    const set = functionsCjs.environments(build({ maxForEachItems: 20000 }));
    expect(set['processor']!['JOINFLOW_MAX_FOREACH_ITEMS']).toBe('20000');
    expect(set['timer']!['JOINFLOW_MAX_FOREACH_ITEMS']).toBe('20000');
    expect(functionsCjs.environments(build({}))['processor']).not.toHaveProperty('JOINFLOW_MAX_FOREACH_ITEMS');
    for (const bad of [0, 1.5, 'lots']) {
      expect(() => build({ maxForEachItems: bad })).toThrow(`custom.joinflow.maxForEachItems must be a whole number, 1 or more (got ${JSON.stringify(bad)})`);
    }
  });
});
