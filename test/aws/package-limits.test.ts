/**
 * What deploy/*.cjs refuses or reshapes at package time, checked on the model and the generated
 * resources (no `serverless package` here; package-iam.test.ts checks a packaged template):
 * GPU steps no allowed instance type can hold, IAM policies past IAM's size limits, SQS queue
 * names that would collide, http:// webhooks, and s3:ListBucket for roles that read keys that
 * may be missing.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { FARGATE_SIZES } from '../../src/compiler/placement.ts';
import { ASSUMPTIONS, DEFAULT_GPU_INSTANCE_TYPES, GPU_INSTANCES } from '../../src/cost/prices.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { Subscription } from '../../src/model/subscriptions.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';

type Json = Record<string, any>;
const require = createRequire(import.meta.url);
const lib = require('../../deploy/lib.cjs') as {
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; subscriptions?: Subscription[]; warn?: (line: string) => void }): Json;
};
const iam = require('../../deploy/iam.cjs') as { iamResources(model: Json): { Resources: Json } };
const queues = require('../../deploy/queues.cjs') as { queueResources(model: Json): { Resources: Json } };
const batch = require('../../deploy/batch.cjs') as { batchResources(model: Json): { Resources: Json } };
const capacity = require('../../deploy/capacity.cjs') as {
  GPU_INSTANCES: Record<string, { gpus: number; vcpus: number; memoryMb: number }>;
  USABLE_MEMORY: number;
  FARGATE: Array<[number, number[]]>;
};
const sizes = require('../../deploy/policy-size.cjs') as {
  resolver(resources: Json, region: string): (value: unknown) => string;
  roleInlineChars(role: Json, text: (value: unknown) => string): number;
};
const Guard = require('../../deploy/guard.cjs') as { templateProblems(template: Json, options?: { region?: string }): string[] };

const plan = (workflow: WorkflowInput) => compileWorkflow(workflow, { source: `workflows/${workflow.name}.yaml` });
function build(plans: TriggerPlan[], custom: object = {}, subscriptions: Subscription[] = []): { model: Json; warnings: string[] } {
  const warnings: string[] = [];
  const model = lib.buildModel({ service: 'joinflow', stage: 'test', region: 'us-east-1', custom, plans, subscriptions, warn: (l) => warnings.push(l) });
  return { model, warnings };
}
const gpuStep = (gpus: number, vcpus: number, memoryMb: number) =>
  plan({ name: 'big', steps: { train: { executor: { type: 'batch', image: 'train:1', command: ['train'], gpus, vcpus, memoryMb } } } });

describe('GPU steps must fit an allowed instance type', () => {
  it('refuses one no allowed type holds, naming the step, what it asks for, the largest type allowed and the setting', () => {
    expect(() => build([gpuStep(4, 8, 60_000)])).toThrow(
      'step big/train asks for 4 GPUs, 8 vCPUs and 60000 MiB, but no allowed GPU instance type holds it: the largest allowed is g4dn.xlarge (1 GPU, 4 vCPUs and 16384 MiB; not enough GPUs, vCPUs, memory)',
    );
    expect(() => build([gpuStep(4, 8, 60_000)])).toThrow(/RUNNABLE.*custom\.joinflow\.gpuInstanceTypes \(e\.g\. g4dn\.12xlarge: 4 GPUs, 48 vCPUs and 196608 MiB\)/);
  });

  it('checks GPUs, vCPUs and memory each', () => {
    expect(() => build([gpuStep(2, 4, 8000)])).toThrow(/not enough GPUs\)/);
    expect(() => build([gpuStep(1, 8, 8000)])).toThrow(/not enough vCPUs\).*e\.g\. g4dn\.2xlarge/);
    expect(() => build([gpuStep(1, 4, 20_000)])).toThrow(/not enough memory\)/);
  });

  it('packages it once a type that holds it is allowed', () => {
    const { model, warnings } = build([gpuStep(4, 8, 60_000)], { gpuInstanceTypes: ['g4dn.xlarge', 'g4dn.12xlarge'] });
    expect(model['batchSteps']).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('warns when only the memory is within the share the ECS agent keeps', () => {
    const { warnings } = build([gpuStep(1, 4, 16_000)]);
    expect(warnings).toEqual([expect.stringMatching(/^joinflow: step big\/train asks for 16000 MiB; g4dn\.xlarge has 16384 MiB installed.*may stay RUNNABLE: ask for at most 15564 MiB/)]);
    expect(build([gpuStep(1, 4, 15_000)]).warnings).toEqual([]);
  });

  it('does not guess about types it does not know: it warns instead of refusing', () => {
    const { warnings } = build([gpuStep(4, 8, 60_000)], { gpuInstanceTypes: ['g4dn.xlarge', 'p4d.24xlarge'] });
    expect(warnings).toContainEqual(expect.stringMatching(/step big\/train asks for 4 GPUs.*it cannot check p4d\.24xlarge/));
    expect(warnings).toContainEqual('joinflow: custom.joinflow.gpuInstanceTypes has p4d.24xlarge, which joinflow does not know: it cannot check that GPU steps fit them');
    expect(build([gpuStep(1, 4, 8000)], { gpuInstanceTypes: ['g4dn'] }).warnings).toHaveLength(1);
  });

  it("knows the same instance facts as the cost estimate's table", () => {
    expect(capacity.GPU_INSTANCES).toEqual(Object.fromEntries(GPU_INSTANCES.map(({ type, gpus, vcpus, memoryMb }) => [type, { gpus, vcpus, memoryMb }])));
    expect(capacity.USABLE_MEMORY).toBe(ASSUMPTIONS.gpuUsableMemoryShare);
    // joinflow plan prices GPU jobs on the types the stage allows: by default, the compute environment's.
    expect(build([]).model['settings'].gpuInstanceTypes).toEqual(DEFAULT_GPU_INSTANCE_TYPES);
  });

  it('checks Fargate sizes against the table placement uses (deploy/ is CommonJS and cannot import it)', () => {
    expect(capacity.FARGATE).toEqual(FARGATE_SIZES.map(([vcpus, memories]) => [vcpus, [...memories]]));
  });
});

/** `functions` function steps and `batches` batch steps (short names, so the environment fits). */
function manySteps(functions: number, batches: number): TriggerPlan {
  const steps: WorkflowInput['steps'] = {};
  for (let i = 0; i < functions; i++) steps[`f${i}`] = { executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' } };
  // An image each: a job definition each (steps of one image share theirs).
  for (let i = 0; i < batches; i++) steps[`b${i}`] = { executor: { type: 'batch', image: `img-${i}:1`, command: ['run'], vcpus: 1, memoryMb: 2048 } };
  return plan({ name: 'w', steps });
}

const statementsOf = (role: Json): Json[] => role['Properties']['Policies'].flatMap((p: Json) => p['PolicyDocument']['Statement']);
const dispatching = (role: Json, action: string) => statementsOf(role).filter((s) => s['Action'].includes(action));

describe('stage names and prefix ARNs', () => {
  it('names job definitions under the stage prefix and "-j-", so that the prefix ARN names no other stage\'s', () => {
    const { model } = build([gpuStep(1, 4, 8000)]);
    expect(model['batchSteps'].map((b: Json) => b['name'])).toEqual([expect.stringMatching(/^joinflow-test-j-big-train-/)]);
  });

  it('refuses a stage with "s", "j" or "q" as a part between dashes: another stage\'s prefix ARNs would match its resources', () => {
    const stage = (name: string) => () => lib.buildModel({ service: 'joinflow', stage: name, region: 'us-east-1', custom: {}, plans: [], warn: () => {} });
    // "dev-s"'s functions (joinflow-dev-s-s-...) would match "dev"'s joinflow-dev-s-*.
    expect(stage('dev-s')).toThrow('the name prefix "joinflow-dev-s" (service-stage) has "s" as a part between dashes');
    expect(stage('pr-j-7')).toThrow(/has "j" as a part between dashes: .*rename the stage \(any part but "s", "j", "q"\)/);
    expect(stage('q')).toThrow('has "q" as a part');
    // Others are fine, "dev-2" beside "dev" included: joinflow-dev-2-s-... does not start with joinflow-dev-s-.
    for (const ok of ['dev', 'dev-2', 'prod', 'pr-123', 'sq', 'js-x']) expect(stage(ok)).not.toThrow();
  });
});

describe('IAM policy sizes', () => {
  it('keeps the processor and timer roles under 10,240 characters with 80 steps, naming the stage prefix with specific actions', () => {
    const { model } = build([manySteps(40, 40)]);
    const { Resources } = iam.iamResources(model);
    const text = sizes.resolver(Resources, 'us-east-1');
    for (const id of ['ProcessorRole', 'TimerRole']) {
      expect(sizes.roleInlineChars(Resources[id], text), id).toBeLessThanOrEqual(10_240);
      const sub = (s: Json[]) => JSON.stringify(s.map((st) => st['Resource']));
      expect(sub(dispatching(Resources[id], 'lambda:InvokeFunction'))).toContain('function:joinflow-test-s-*');
      expect(sub(dispatching(Resources[id], 'batch:SubmitJob'))).toContain('job-definition/joinflow-test-j-*');
      expect(sub(dispatching(Resources[id], 'batch:SubmitJob'))).toContain('{"Ref":"CpuJobQueue"}');
      expect(sub(dispatching(Resources[id], 'sqs:SendMessage'))).toContain(':joinflow-test-q-*');
      for (const s of statementsOf(Resources[id])) for (const a of s['Action']) expect(a).not.toContain('*');
    }
    // The template as guard.cjs checks it passes too.
    expect(Guard.templateProblems({ Resources }, { region: 'us-east-1' })).toEqual([]);
  });

  it('lets the timer claim the attempts it dispatches (UpdateItem on the table) in a stage without Batch steps too', () => {
    for (const batches of [0, 1]) {
      const { Resources } = iam.iamResources(build([manySteps(2, batches)]).model);
      expect(dispatching(Resources['TimerRole'], 'dynamodb:UpdateItem').map((st) => st['Resource']), `${batches} batch steps`).toEqual([{ 'Fn::GetAtt': ['Table', 'Arn'] }]);
    }
  });

  it('names each step while the policy fits', () => {
    const { model } = build([manySteps(3, 3)]);
    const role = iam.iamResources(model).Resources['ProcessorRole'];
    const fns = dispatching(role, 'lambda:InvokeFunction')[0]!['Resource'] as Json[];
    expect(fns).toHaveLength(3);
    expect(fns.map((r) => r['Fn::Sub'])).toEqual(model['functionSteps'].map((f: Json) => `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${f['name']}`));
  });

  it('resolves ARNs as CloudFormation would, to an upper bound', () => {
    const text = sizes.resolver({ Q: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'joinflow-test-q-x' } }, Bucket: { Type: 'AWS::S3::Bucket', Properties: {} } }, 'eu-west-1');
    expect(text({ 'Fn::GetAtt': ['Q', 'Arn'] })).toBe('arn:aws-us-gov:sqs:eu-west-1:123456789012:joinflow-test-q-x');
    expect(text({ Ref: 'Q' })).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/joinflow-test-q-x');
    expect(text({ 'Fn::Sub': '${Bucket.Arn}/data/*' })).toBe(`arn:aws-us-gov:s3:::${'x'.repeat(63)}/data/*`);
    expect(text({ 'Fn::Sub': 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:f' })).toBe('arn:aws-us-gov:lambda:eu-west-1:123456789012:function:f');
  });

  it('guard.cjs refuses a role or a managed policy past the limits, with a remedy', () => {
    const arns = Array.from({ length: 200 }, (_, i) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/my-table-${i}` }));
    const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: arns }] };
    const template = {
      Resources: {
        BigRole: { Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyName: 'a', PolicyDocument: doc }] } },
        BigPolicy: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: doc } },
      },
    };
    const problems = Guard.templateProblems(template, { region: 'us-east-1' });
    expect(problems).toContainEqual(expect.stringMatching(/^role BigRole: its inline policies would have about \d+ characters once deployed, over IAM's 10240 per role \(.*aws\.cjs.*several services/));
    expect(problems).toContainEqual(expect.stringMatching(/^managed policy BigPolicy would have about \d+ characters once deployed, over IAM's 6144/));
  });
});

describe('SQS queue names', () => {
  it('a container queue named like another one\'s dead-letter queue gets a queue of its own', () => {
    const p = plan({
      name: 'q',
      steps: {
        a: { executor: { type: 'container', queue: 'gpu', command: 'echo' } },
        b: { executor: { type: 'container', queue: 'gpu-dlq', command: 'echo' } },
      },
    });
    const { model } = build([p]);
    const { Resources } = queues.queueResources(model);
    const names = Object.values(Resources).filter((r: Json) => r['Type'] === 'AWS::SQS::Queue').map((r: Json) => r['Properties']['QueueName'] as string);
    expect(names.sort()).toEqual(['joinflow-test-dlq-gpu', 'joinflow-test-dlq-gpu-dlq', 'joinflow-test-q-gpu', 'joinflow-test-q-gpu-dlq']);
    const all = [...names, 'joinflow-test-timer', 'joinflow-test-timer-dlq', 'joinflow-test-events-dlq'];
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('webhook subscriptions on AWS', () => {
  const webhook = (name: string, url: string): Subscription => ({
    name,
    pattern: { source: ['joinflow'] },
    target: { type: 'webhook', url, headers: {}, timeoutMs: 10_000, retry: { maxAttempts: 5, backoffMs: 1000, factor: 2, maxDelayMs: 60_000 } },
  });

  it('refuses an http:// URL, naming the subscription (API destinations call HTTPS only)', () => {
    expect(() => build([manySteps(1, 0)], {}, [webhook('ok', 'https://hooks.example.com/a'), webhook('lab.notify', 'http://lab.example.com/hook')])).toThrow(
      'subscription "lab.notify": its webhook URL http://lab.example.com/hook is not HTTPS, and EventBridge API destinations call only HTTPS endpoints: use an https:// URL (http:// works only on the embedded engine, e.g. joinflow dev)',
    );
    expect(build([manySteps(1, 0)], {}, [webhook('ok', 'https://hooks.example.com/a')]).model['subscriptions']).toHaveLength(1);
  });
});

/** `${Bucket.Arn}/<prefix>*` -> prefix; the s3:prefix patterns of ListBucket statements. */
function s3Reads(statements: Json[]): { reads: string[]; lists: string[] } {
  const reads: string[] = [];
  const lists: string[] = [];
  for (const s of statements) {
    const actions = [s['Action']].flat();
    if (actions.includes('s3:GetObject')) {
      for (const r of [s['Resource']].flat()) {
        const m = /^\$\{Bucket\.Arn\}\/(.*)\*$/.exec(r['Fn::Sub'] ?? '');
        if (m) reads.push(m[1]!);
      }
    }
    if (actions.includes('s3:ListBucket')) {
      expect(s['Resource']).toEqual({ 'Fn::GetAtt': ['Bucket', 'Arn'] });
      lists.push(...(s['Condition']['StringLike']['s3:prefix'] as string[]).map((p) => p.replace(/\*$/, '')));
    }
  }
  return { reads, lists };
}

describe('s3:ListBucket where a missing key must read as missing', () => {
  const { model } = build([gpuStep(1, 4, 15_000), manySteps(2, 0)]);
  const roles = { ...iam.iamResources(model).Resources, ...batch.batchResources(model).Resources };
  const worker = queues.queueResources(model).Resources['WorkerPolicy'];

  it('the Batch bridge may list outputs/ and data/ (a job without output, a declared file not written)', () => {
    const st = statementsOf(roles['BatchStateBridgeRole']).find((s) => s['Action'].includes('s3:ListBucket'));
    expect(st).toEqual({
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['joinflow/*', 'outputs/*', 'data/*'] } },
    });
  });

  it('every role and the worker policy may list exactly the prefixes it may read', () => {
    const docs: Array<[string, Json[]]> = [
      ...Object.entries(roles).filter(([, r]) => (r as Json)['Type'] === 'AWS::IAM::Role' && (r as Json)['Properties']['Policies']).map(([id, r]) => [id, statementsOf(r as Json)] as [string, Json[]]),
      ['WorkerPolicy', worker['Properties']['PolicyDocument']['Statement']],
    ];
    const checked: string[] = [];
    for (const [id, statements] of docs) {
      const { reads, lists } = s3Reads(statements);
      expect([...new Set(lists)].sort(), id).toEqual([...new Set(reads)].sort());
      if (reads.length > 0) checked.push(id);
    }
    // Step functions' roles read their workflow's uploads and data prefix (every one of them).
    const stepRoles = Object.keys(roles).filter((id) => id.startsWith('Step') && id.endsWith('Role'));
    expect(stepRoles.length).toBeGreaterThan(0);
    expect(checked.sort()).toEqual(['BatchJobRole', 'BatchStateBridgeRole', 'LambdaResultBridgeRole', 'ProcessorRole', 'S3StartBridgeRole', ...stepRoles, 'TimerRole', 'WorkerPolicy'].sort());
  });
});

describe('the memory of function steps (custom.joinflow.stepMemoryMb)', () => {
  const fnStep = plan({ name: 'mem', steps: { a: { executor: { type: 'function', module: 'h.ts', export: 'a' } } } });
  it('gives each function step 1,024 MB by default, and what the setting says', () => {
    expect(build([fnStep]).model['settings'].stepMemoryMb).toBe(1024);
    expect(build([fnStep], { stepMemoryMb: '2048' }).model['settings'].stepMemoryMb).toBe(2048);
    expect(build([fnStep], { stepMemoryMb: 10_240 }).model['settings'].stepMemoryMb).toBe(10_240);
  });

  it("refuses what Lambda would refuse at deploy (a whole number of MB from 128 to 10,240), naming the setting", () => {
    for (const bad of [64, 1024.5, 20_000, 0, 'lots']) {
      expect(() => build([fnStep], { stepMemoryMb: bad })).toThrow(`custom.joinflow.stepMemoryMb must be a whole number of MB from 128 to 10240, as Lambda takes a function's memory (got ${JSON.stringify(bad)})`);
    }
  });
});

describe('the compute environments\' MaxvCpus (custom.joinflow.gpuMaxvCpus, cpuMaxvCpus)', () => {
  const one = [plan({ name: 'w', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } } })];
  it('takes 64 by default and a whole number; refuses a fraction, which CloudFormation would refuse at deploy, naming the setting', () => {
    expect(build(one).model['settings']).toMatchObject({ gpuMaxvCpus: 64, cpuMaxvCpus: 64 });
    expect(build(one, { gpuMaxvCpus: '128', cpuMaxvCpus: 16 }).model['settings']).toMatchObject({ gpuMaxvCpus: 128, cpuMaxvCpus: 16 });
    for (const setting of ['gpuMaxvCpus', 'cpuMaxvCpus']) {
      for (const bad of [2.5, 0, -4, 'many']) {
        expect(() => build(one, { [setting]: bad })).toThrow(`custom.joinflow.${setting} must be a whole number, 1 or more (got ${JSON.stringify(bad)})`);
      }
    }
  });
});

describe('the prefix of uploads that start runs', () => {
  const one = [plan({ name: 'w', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } } })];

  it('refuses one that is empty or lacks its "/", and one that overlaps where the stage writes its own objects', () => {
    expect(() => build(one, { startPrefix: '' })).toThrow('custom.joinflow.startPrefix "" cannot be the prefix of the uploads that start runs: it overlaps joinflow/, where the stage writes its own objects (joinflow/, outputs/, data/, steps/)');
    expect(() => build(one, { startPrefix: 'runs' })).toThrow('custom.joinflow.startPrefix "runs" cannot be the prefix of the uploads that start runs: it must be one or more folder names, each followed by "/" (e.g. runs/ or inbox/runs/)');
    expect(() => build(one, { startPrefix: 'data/runs/' })).toThrow(/"data\/runs\/" cannot be .*: it overlaps data\//);
    expect(() => build(one, { startPrefix: '/runs/' })).toThrow(/must be one or more folder names/);
  });

  it('takes runs/ by default, and another folder', () => {
    expect(build(one).model['settings']['startPrefix']).toBe('runs/');
    expect(build(one, { startPrefix: 'inbox/runs/' }).model['settings']['startPrefix']).toBe('inbox/runs/');
  });
});

describe('where messages that can never be processed go', () => {
  const functionsCjs = require('../../deploy/functions.cjs') as { environments(model: Json): Record<string, Record<string, unknown>> };
  const { model } = build([plan({ name: 'boxed', steps: { a: { executor: { type: 'container', queue: 'gpu', command: 'echo' } } } })]);
  const sends = (statements: Json[]) => statements.filter((s) => [s['Action']].flat().includes('sqs:SendMessage')).flatMap((s) => [s['Resource']].flat());

  it('gives the timer the URL of the timer DLQ and lets it send there', () => {
    expect(functionsCjs.environments(model)['timer']!['JOINFLOW_TIMER_DLQ_URL']).toEqual({ Ref: 'TimerDeadLetterQueue' });
    expect(functionsCjs.environments(model)['processor']).not.toHaveProperty('JOINFLOW_TIMER_DLQ_URL');
    expect(sends(statementsOf(iam.iamResources(model).Resources['TimerRole']))).toContainEqual({ 'Fn::GetAtt': ['TimerDeadLetterQueue', 'Arn'] });
    expect(sends(statementsOf(iam.iamResources(model).Resources['ProcessorRole']))).not.toContainEqual({ 'Fn::GetAtt': ['TimerDeadLetterQueue', 'Arn'] });
  });

  it('gives the S3 start bridge the URL of the events DLQ and lets it send there (an upload that starts no run)', () => {
    expect(functionsCjs.environments(model)['s3StartBridge']!['JOINFLOW_DLQ_URL']).toEqual({ Ref: 'EventsDeadLetterQueue' });
    expect(sends(statementsOf(iam.iamResources(model).Resources['S3StartBridgeRole']))).toEqual([{ 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] }]);
  });

  it('lets the worker find its task queues\' DLQs (GetQueueUrl) and send to them', () => {
    const statements = queues.queueResources(model).Resources['WorkerPolicy']['Properties']['PolicyDocument']['Statement'] as Json[];
    const dlqs = model.taskQueues.map((q: Json) => ({ 'Fn::GetAtt': [q.dlqLogicalId, 'Arn'] }));
    expect(dlqs.length).toBeGreaterThan(0);
    expect(statements).toContainEqual({ Effect: 'Allow', Action: ['sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: dlqs });
    expect(sends(statements)).toEqual(dlqs);
  });
});
