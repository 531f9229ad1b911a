/**
 * What `serverless package` warns about (and still deploys): steps whose timeout the AWS service
 * that runs them cannot honour.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';

const require = createRequire(import.meta.url);
const lib = require('../../deploy/lib.cjs') as {
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): unknown;
};

function warnings(workflow: WorkflowInput): string[] {
  const lines: string[] = [];
  lib.buildModel({ service: 'joinflow', stage: 'dev', region: 'us-east-1', custom: {}, plans: [compileWorkflow(workflow, { source: `workflows/${workflow.name}.yaml` })], warn: (l) => lines.push(l) });
  return lines;
}

const HOUR = 3_600_000;
const container = { type: 'container', queue: 'cpu', module: 'handlers/diamond.ts', export: 'nodeA' } as const;

describe('serverless package warnings', () => {
  it('name a container step whose timeout is over the 12 hours SQS keeps a task message invisible; 12 hours or less is fine', () => {
    expect(warnings({ name: 'long', steps: { crunch: { executor: container, timeoutMs: 13 * HOUR } } } as WorkflowInput)).toEqual([
      'joinflow: step long/crunch: timeout 46800 s is over the 12 hours SQS keeps a task message invisible: a task still running then reappears on its queue and another worker may start it too (use a batch step for longer work)',
    ]);
    expect(warnings({ name: 'fits', steps: { crunch: { executor: container, timeoutMs: 12 * HOUR } } } as WorkflowInput)).toEqual([]);
  });

  it('name a function step whose timeout is over Lambda\'s 15 minutes', () => {
    expect(warnings({ name: 'slow', steps: { f: { executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' }, timeoutMs: 20 * 60_000 } } } as WorkflowInput)).toEqual([
      "joinflow: step slow/f: timeout 1200 s is over Lambda's 900 s; the function gets 900 s (use a batch or container step for longer work)",
    ]);
  });
});
