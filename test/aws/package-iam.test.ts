/**
 * `serverless package` of a stage with 65 steps (function, CPU and GPU batch) and container queues
 * "gpu" and "gpu-dlq": the processor and timer roles stay under IAM's 10,240 characters by naming
 * the stage's prefix, roles that read possibly-missing keys may list their prefixes (so S3 answers
 * 404, not 403), and every SQS queue has a name of its own. One package, built once (beforeAll).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { cleanPackages, slsPackage, type Packaged } from '../helpers/serverless.ts';
import { tempDirs } from '../helpers/tmp.ts';

type Json = Record<string, any>;
const require = createRequire(import.meta.url);
const sizes = require('../../deploy/policy-size.cjs') as {
  resolver(resources: Json, region: string): (value: unknown) => string;
  roleInlineChars(role: Json, text: (value: unknown) => string): number;
  policyChars(document: Json, text: (value: unknown) => string): number;
};
const Guard = require('../../deploy/guard.cjs') as { templateProblems(template: Json, options?: { region?: string }): string[] };
const tmp = tempDirs('jf-package-iam-');

/** 12 function steps, 50 CPU batch steps of 50 images, a GPU batch step and two container steps (short names: the processor's environment lists them all). */
function many(): WorkflowInput {
  const steps: WorkflowInput['steps'] = {};
  for (let i = 0; i < 12; i++) steps[`f${i}`] = { executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' } };
  // An image each: a job definition each (steps of one image share theirs).
  for (let i = 0; i < 50; i++) steps[`b${i}`] = { executor: { type: 'batch', image: `img-${i}:1`, command: ['run'], vcpus: 1, memoryMb: 2048 } };
  steps['train'] = { executor: { type: 'batch', image: 'train:1', command: ['train'], gpus: 1, vcpus: 4, memoryMb: 15_000 } };
  steps['render'] = { executor: { type: 'container', queue: 'gpu', command: 'echo' } };
  steps['report'] = { executor: { type: 'container', queue: 'gpu-dlq', command: 'echo' } };
  return { name: 'm', steps };
}

let pkg: Packaged;
beforeAll(() => {
  const triggers = path.join(tmp(), 'triggers');
  mkdirSync(triggers);
  const plan = compileWorkflow(many(), { source: 'workflows/m.yaml' });
  writeFileSync(path.join(triggers, 'm.json'), serializePlan(plan));
  pkg = slsPackage({ JOINFLOW_TRIGGERS_DIR: triggers, JOINFLOW_SUBNETS: 'subnet-aaa', JOINFLOW_SECURITY_GROUPS: 'sg-123' });
}, 300_000);
afterAll(() => cleanPackages());

const resources = () => pkg.template.Resources as Record<string, Json>;
const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r['Type'] === type);
const policyStatements = (r: Json): Json[] =>
  r['Type'] === 'AWS::IAM::ManagedPolicy' ? r['Properties']['PolicyDocument']['Statement'] : (r['Properties']['Policies'] ?? []).flatMap((p: Json) => p['PolicyDocument']['Statement']);

describe('IAM of a 65-step stage', () => {
  it('keeps every role and managed policy within IAM\'s size limits once ARNs are resolved', () => {
    const text = sizes.resolver(resources(), 'us-east-1');
    for (const [id, r] of ofType('AWS::IAM::Role')) expect(sizes.roleInlineChars(r, text), id).toBeLessThanOrEqual(10_240);
    for (const [id, r] of ofType('AWS::IAM::ManagedPolicy')) expect(sizes.policyChars(r['Properties']['PolicyDocument'], text), id).toBeLessThanOrEqual(6_144);
    expect(Guard.templateProblems(pkg.template, { region: 'us-east-1' })).toEqual([]);
  });

  it('lets the processor and timer reach the stage\'s steps by its name prefix, with named actions', () => {
    for (const id of ['ProcessorRole', 'TimerRole']) {
      const statements = policyStatements(resources()[id]!);
      const resourcesOf = (action: string) => JSON.stringify(statements.filter((s) => s['Action'].includes(action)).map((s) => s['Resource']));
      expect(resourcesOf('lambda:InvokeFunction'), id).toBe(JSON.stringify([[{ 'Fn::Sub': 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:joinflow-test-s-*' }]]));
      expect(resourcesOf('batch:SubmitJob'), id).toContain('job-definition/joinflow-test-j-*');
      expect(resourcesOf('sqs:SendMessage'), id).toContain('joinflow-test-q-*');
      for (const s of statements) for (const a of [s['Action']].flat()) expect(a, id).not.toContain('*');
    }
    // Every function step's name, and no DLQ, is under those prefixes.
    for (const [, r] of ofType('AWS::Lambda::Function')) {
      const name = r['Properties']['FunctionName'] as string;
      if (r['Properties']['Description']?.startsWith('joinflow step ')) expect(name.startsWith('joinflow-test-s-')).toBe(true);
    }
    for (const [, r] of ofType('AWS::Batch::JobDefinition')) expect(r['Properties']['JobDefinitionName'] as string).toMatch(/^joinflow-test-j-/);
    for (const [, r] of ofType('AWS::SQS::Queue')) {
      const name = r['Properties']['QueueName'] as string;
      const taskQueue = r['Properties']['RedrivePolicy'] !== undefined && name !== 'joinflow-test-timer';
      expect(name.startsWith('joinflow-test-q-'), name).toBe(taskQueue);
    }
  });

  it('lets the processor and the timer stop Batch jobs (and find one whose id was not noted), the timer and the Batch bridge keep the runs\' job lists, and the worker read run status', () => {
    const actions = (id: string) => policyStatements(resources()[id]!).map((s) => [[s['Action']].flat().join(','), JSON.stringify(s['Resource'])]);
    for (const role of ['ProcessorRole', 'TimerRole']) {
      expect(actions(role)).toContainEqual(['batch:TerminateJob', JSON.stringify({ 'Fn::Sub': 'arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*' })]);
      // Batch has no narrower resource for these two.
      expect(actions(role)).toContainEqual(['batch:ListJobs,batch:DescribeJobs', '"*"']);
    }
    expect(actions('TimerRole')).toContainEqual(['dynamodb:UpdateItem', JSON.stringify({ 'Fn::GetAtt': ['Table', 'Arn'] })]);
    expect(actions('BatchStateBridgeRole')).toContainEqual(['dynamodb:UpdateItem', JSON.stringify({ 'Fn::GetAtt': ['Table', 'Arn'] })]);
    expect(actions('BatchStateBridgeRole').map(([a]) => a)).not.toContain('batch:TerminateJob');
    // joinflow worker reads a task's run status (its META item), and nothing else of the table.
    expect(actions('WorkerPolicy').filter(([a]) => a!.startsWith('dynamodb:'))).toEqual([['dynamodb:GetItem', JSON.stringify({ 'Fn::GetAtt': ['Table', 'Arn'] })]]);
  });

  it('gives the Batch bridge s3:ListBucket on outputs/ and data/, so a missing output or data file reads as missing', () => {
    const list = policyStatements(resources()['BatchStateBridgeRole']!).find((s) => [s['Action']].flat().includes('s3:ListBucket'));
    expect(list).toEqual({
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['joinflow/*', 'outputs/*', 'data/*'] } },
    });
  });

  it('lets every role and the worker policy that read from the bucket list exactly those prefixes', () => {
    const readers: string[] = [];
    for (const [id, r] of [...ofType('AWS::IAM::Role'), ...ofType('AWS::IAM::ManagedPolicy')]) {
      const reads = new Set<string>();
      const lists = new Set<string>();
      for (const s of policyStatements(r)) {
        const actions = [s['Action']].flat();
        if (actions.includes('s3:GetObject')) {
          for (const res of [s['Resource']].flat()) {
            const m = /^\$\{Bucket\.Arn\}\/(.*)$/.exec(res?.['Fn::Sub'] ?? '');
            if (m) reads.add(m[1]!);
          }
        }
        if (actions.includes('s3:ListBucket')) {
          expect(s['Resource'], id).toEqual({ 'Fn::GetAtt': ['Bucket', 'Arn'] });
          for (const p of s['Condition']['StringLike']['s3:prefix']) lists.add(p);
        }
      }
      expect([...lists].sort(), id).toEqual([...reads].sort());
      if (reads.size > 0) readers.push(id);
    }
    // Every step function's role reads its workflow's uploads and data prefix.
    const stepRoles = ofType('AWS::IAM::Role').map(([id]) => id).filter((id) => id.startsWith('Step'));
    expect(stepRoles.length).toBeGreaterThan(0);
    expect(readers.sort()).toEqual(['BatchJobRole', 'BatchStateBridgeRole', 'LambdaResultBridgeRole', 'ProcessorRole', 'S3StartBridgeRole', ...stepRoles, 'TimerRole', 'WorkerPolicy'].sort());
  });
});

describe('SQS queues and GPU jobs of the stage', () => {
  it('names every queue differently: queue "gpu-dlq" is not queue "gpu"\'s dead-letter queue', () => {
    const queues = new Map(ofType('AWS::SQS::Queue').map(([id, r]) => [id, r['Properties'] as Json]));
    const names = [...queues.values()].map((p) => p['QueueName'] as string);
    expect(new Set(names).size).toBe(names.length);
    const byName = (name: string) => [...queues.entries()].find(([, p]) => p['QueueName'] === name);
    for (const queue of ['gpu', 'gpu-dlq']) {
      const [, main] = byName(`joinflow-test-q-${queue}`)!;
      const [dlqId] = byName(`joinflow-test-dlq-${queue}`)!;
      expect(main['RedrivePolicy']).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 });
    }
    const env = resources()['ProcessorLambdaFunction']!['Properties']['Environment']['Variables'] as Json;
    const [text] = env['JOINFLOW_QUEUE_URLS']['Fn::Sub'] as [string];
    expect(Object.keys(JSON.parse(text.replace(/\$\{\w+\}/g, 'url')) as object).sort()).toEqual(['gpu', 'gpu-dlq']);
  });

  it('packages a GPU step that an allowed instance type holds, without a warning', () => {
    const train = ofType('AWS::Batch::JobDefinition').find(([, r]) => r['Properties']['Tags']['joinflow:image'] === 'train:1')!;
    expect(train[1]['Properties']['ContainerProperties']['ResourceRequirements']).toEqual([
      { Type: 'VCPU', Value: '4' },
      { Type: 'MEMORY', Value: '15000' },
      { Type: 'GPU', Value: '1' },
    ]);
    expect(pkg.stderr).not.toMatch(/RUNNABLE|does not know/);
  });
});
