/**
 * `serverless package` (offline, dummy credentials) and the CloudFormation template it produces:
 * one EventBridge rule per trigger, grouping past the rule budget and the pattern size limit, the
 * table / bucket / queues / Batch resources, one least-privilege role per function, and zips that
 * carry triggers/*.json next to the bundles.
 *
 * Two packages are built once each (beforeAll): the repository's triggers/, and a temporary plans
 * directory (JOINFLOW_TRIGGERS_DIR) with batch, container and function steps, a workflow whose join
 * pattern is over EventBridge's 2,048 characters, and a 400-trigger workflow.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanPackages, slsPackage, type Packaged } from '../helpers/serverless.ts';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { runWaitMs } from '../../src/runtime/waits.ts';
import { jobDefinitionName, stepFunctionName } from '../../src/adapters/aws/resource-names.ts';

const root = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const lib = require('../../deploy/lib.cjs') as {
  planRules(plans: TriggerPlan[], budget: number): Array<{ kind: 'trigger' | 'workflow'; workflow: string; reason?: string }>;
  buildModel(args: { service: string; stage: string; region: string; custom: object; plans: TriggerPlan[]; warn?: (line: string) => void }): {
    rules: Array<{ kind: string; logicalId: string; name: string; workflow: string }>;
    functionSteps: Array<{ key: string; name: string; logicalId: string }>;
  };
};

// Templates are untyped JSON.
type Json = Record<string, any>;
type Template = { Resources: Record<string, { Type: string; Properties: Json; DependsOn?: unknown }>; Outputs?: Json };


type ZipEntry = { name: string; method: number; size: number; local: number };

/** The entries of a zip's central directory, without an unzip binary. */
function zipDirectory(buf: Buffer, file: string): ZipEntry[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file} is not a zip`);
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    entries.push({ name: buf.toString('utf8', at + 46, at + 46 + nameLen), method: buf.readUInt16LE(at + 10), size: buf.readUInt32LE(at + 20), local: buf.readUInt32LE(at + 42) });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** File names inside a zip. */
function zipEntries(file: string): string[] {
  return zipDirectory(readFileSync(file), file).map((e) => e.name);
}

/** The text of one file inside a zip (stored or deflated). */
function zipText(file: string, name: string): string {
  const buf = readFileSync(file);
  const entry = zipDirectory(buf, file).find((e) => e.name === name);
  if (entry === undefined) throw new Error(`${file} has no ${name}`);
  // The local header repeats the name, and may have an extra field of another length.
  const start = entry.local + 30 + buf.readUInt16LE(entry.local + 26) + buf.readUInt16LE(entry.local + 28);
  const data = buf.subarray(start, start + entry.size);
  return (entry.method === 8 ? inflateRawSync(data) : data).toString('utf8');
}

function plansIn(dir: string): TriggerPlan[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as TriggerPlan);
}

function ofType(t: Template, type: string): Array<[string, Json]> {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties]);
}

/** The rule whose processor target names `<workflow>/<trigger>`. */
function triggerRules(t: Template): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const [, p] of ofType(t, 'AWS::Events::Rule')) {
    const template = p['Targets'][0]?.InputTransformer?.InputTemplate as string | undefined;
    const m = template && /^\{"trigger": "([^"]+)", "event": <aws\.events\.event\.json>\}$/.exec(template);
    if (m) {
      expect(out.has(m[1]!), `two rules for trigger ${m[1]}`).toBe(false);
      out.set(m[1]!, p);
    }
  }
  return out;
}

function groupRules(t: Template): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const [, p] of ofType(t, 'AWS::Events::Rule')) {
    const template = p['Targets'][0]?.InputTransformer?.InputTemplate as string | undefined;
    const m = template && /^\{"workflow": "([^"]+)", "event": <aws\.events\.event\.json>\}$/.exec(template);
    if (m) out.set(m[1]!, p);
  }
  return out;
}

/** Every IAM statement anywhere in the template (roles, managed policies, queue/bucket policies). */
function statements(value: unknown, out: Json[] = []): Json[] {
  if (Array.isArray(value)) for (const v of value) statements(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Json;
    if (typeof o['Effect'] === 'string' && ('Action' in o || 'NotAction' in o)) out.push(o);
    for (const v of Object.values(o)) statements(v, out);
  }
  return out;
}

function actions(st: Json): string[] {
  return [st['Action'] ?? [], st['NotAction'] ?? []].flat() as string[];
}

/** Checks every template must pass, whatever the plans. */
function commonChecks(t: Template): void {
  // Each function has a role of its own, defined in the template; serverless's shared role is gone.
  expect(t.Resources['IamRoleLambdaExecution']).toBeUndefined();
  const functions = ofType(t, 'AWS::Lambda::Function');
  const roles = functions.map(([id, p]) => {
    const role = p['Role'] as Json;
    expect(role['Fn::GetAtt']?.[1], `${id} role`).toBe('Arn');
    const roleId = role['Fn::GetAtt'][0] as string;
    expect(t.Resources[roleId]?.Type, `${id} role ${roleId}`).toBe('AWS::IAM::Role');
    // Its log permissions are for its own log group.
    const doc = JSON.stringify(t.Resources[roleId]!.Properties['Policies']);
    expect(doc).toContain(`log-group:/aws/lambda/${p['FunctionName']}:*`);
    return roleId;
  });
  expect(new Set(roles).size).toBe(functions.length);

  // No IAM statement grants a wildcard action. (The only `*` left is serverless's deployment
  // bucket policy, a Deny of s3:* over plain HTTP, which grants nothing.)
  const all = statements(t.Resources);
  expect(all.length).toBeGreaterThan(10);
  for (const st of all) {
    const wild = actions(st).filter((a) => typeof a === 'string' && a.includes('*'));
    if (st['Effect'] === 'Deny') {
      expect(st['Condition']).toEqual({ Bool: { 'aws:SecureTransport': false } });
      continue;
    }
    expect(wild, JSON.stringify(st)).toEqual([]);
    expect(st['NotAction']).toBeUndefined();
  }

  // Every rule target retries and dead-letters.
  for (const [id, p] of ofType(t, 'AWS::Events::Rule')) {
    for (const target of p['Targets'] as Json[]) {
      expect(target['RetryPolicy'], id).toEqual({ MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 });
      expect(target['DeadLetterConfig'], id).toEqual({ Arn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } });
    }
    expect((p['Name'] as string).length).toBeLessThanOrEqual(64);
    expect(id).toMatch(/^[A-Za-z0-9]+$/);
  }
  const busRules = ofType(t, 'AWS::Events::Rule').filter(([, p]) => p['EventBusName']?.Ref === 'EventBus');
  expect(busRules.length).toBeLessThanOrEqual(300);
  for (const [, p] of functions) expect((p['FunctionName'] as string).length).toBeLessThanOrEqual(64);
  expect(Object.keys(t.Resources).length).toBeLessThanOrEqual(500);

  // The table: keys, GSI, TTL.
  const table = t.Resources['Table']!.Properties;
  expect(table['BillingMode']).toBe('PAY_PER_REQUEST');
  expect(table['KeySchema']).toEqual([
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ]);
  expect(table['AttributeDefinitions']).toEqual(
    expect.arrayContaining([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'workflowStatus', AttributeType: 'S' },
      { AttributeName: 'startedAt', AttributeType: 'N' },
    ]),
  );
  expect(table['GlobalSecondaryIndexes']).toEqual([
    {
      IndexName: 'byWorkflowStatus',
      KeySchema: [
        { AttributeName: 'workflowStatus', KeyType: 'HASH' },
        { AttributeName: 'startedAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ]);
  expect(table['TimeToLiveSpecification']).toEqual({ AttributeName: 'expiresAt', Enabled: true });

  // Bucket notifications go to EventBridge; the custom bus exists.
  expect(t.Resources['Bucket']!.Properties['NotificationConfiguration']).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
  expect(t.Resources['EventBus']!.Properties['Name']).toBe('joinflow-test');

  // Queues with their DLQs.
  const redrive = (id: string) => t.Resources[id]!.Properties['RedrivePolicy'] as Json;
  expect(redrive('TimerQueue')).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': ['TimerDeadLetterQueue', 'Arn'] }, maxReceiveCount: 5 });
  expect(t.Resources['EventsDeadLetterQueue']!.Type).toBe('AWS::SQS::Queue');
  const dlqPolicy = t.Resources['EventsDeadLetterQueuePolicy']!.Properties['PolicyDocument'] as Json;
  expect(dlqPolicy['Statement'][0].Principal).toEqual({ Service: 'events.amazonaws.com' });

  // The timer consumes its queue; the processor and bridges dead-letter failed invocations.
  const esm = ofType(t, 'AWS::Lambda::EventSourceMapping');
  expect(esm.map(([, p]) => p['EventSourceArn'])).toEqual([{ 'Fn::GetAtt': ['TimerQueue', 'Arn'] }]);
  const processorConfig = t.Resources['ProcessorLambdaEvConf']!.Properties;
  expect(processorConfig['DestinationConfig']).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } } });

  // The claims' lease outlasts the invocation that holds them: each function's timeout + 5 s (deploy/leases.cjs).
  const lease = (id: string) => [t.Resources[id]!.Properties['Timeout'], (t.Resources[id]!.Properties['Environment'].Variables as Json)['JOINFLOW_LEASE_MS']];
  expect(lease('ProcessorLambdaFunction')).toEqual([50, '55000']);
  expect(lease('TimerLambdaFunction')).toEqual([60, '65000']);

  // EventBridge may invoke the processor (one permission for all rules of the stage's bus).
  const permissions = ofType(t, 'AWS::Lambda::Permission');
  expect(permissions).toContainEqual([
    'ProcessorEventsPermission',
    expect.objectContaining({ Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': ['ProcessorLambdaFunction', 'Arn'] } }),
  ]);
}

/** Checks that the rules of `plans` are one per trigger, with the compiled activation. */
function checkTriggerRules(t: Template, plans: TriggerPlan[]): void {
  const rules = triggerRules(t);
  for (const plan of plans) {
    for (const trigger of plan.triggers) {
      const rule = rules.get(`${plan.workflow}/${trigger.id}`);
      expect(rule, `rule of ${plan.workflow}/${trigger.id}`).toBeDefined();
      expect(rule!['EventPattern']).toEqual(trigger.activation);
      expect(rule!['EventBusName']).toEqual({ Ref: 'EventBus' });
      expect(rule!['Targets'][0].Arn).toEqual({ 'Fn::GetAtt': ['ProcessorLambdaFunction', 'Arn'] });
    }
  }
}

/** The name prefix the processor finds step functions and job definitions by (JOINFLOW_NAME_PREFIX). */
function namePrefix(t: Template): string {
  const env = t.Resources['ProcessorLambdaFunction']!.Properties['Environment'].Variables as Json;
  expect(env['JOINFLOW_FUNCTIONS']).toBeUndefined();
  expect(env['JOINFLOW_JOB_DEFINITIONS']).toBeUndefined();
  return env['JOINFLOW_NAME_PREFIX'] as string;
}

/** The Lambda function the processor invokes for each function step (shared ones by their shared key). */
function deployedFunctions(t: Template, plans: TriggerPlan[]): Record<string, string> {
  const prefix = namePrefix(t);
  const out: Record<string, string> = {};
  for (const plan of plans) {
    for (const [step, spec] of Object.entries(plan.steps)) {
      if (spec.executor.type !== 'function') continue;
      const e = spec.executor;
      out[e.params === undefined ? `${plan.workflow}/${step}` : `${plan.workflow}/@${e.module}#${e.export}`] = stepFunctionName(prefix, plan.workflow, step, e);
    }
  }
  return out;
}

/** The job definition the processor submits each batch step (or Batch fallback) to. */
function deployedJobDefinitions(t: Template, plans: TriggerPlan[]): Record<string, string> {
  const prefix = namePrefix(t);
  const out: Record<string, string> = {};
  for (const plan of plans) {
    for (const [step, spec] of Object.entries(plan.steps)) {
      if (spec.executor.type === 'batch') out[`${plan.workflow}/${step}`] = jobDefinitionName(prefix, plan.workflow, spec.executor);
      else if (spec.fallback !== undefined) out[`${plan.workflow}/${step}`] = jobDefinitionName(prefix, plan.workflow, spec.fallback.executor as { image: string; gpus: number });
    }
  }
  return out;
}

/** Checks one Lambda per function step, wired to the bus through destinations. */
function checkStepFunctions(t: Template, plans: TriggerPlan[]): void {
  const functions = new Map(ofType(t, 'AWS::Lambda::Function').map(([id, p]) => [id, p]));
  const registered = deployedFunctions(t, plans);
  const expected: string[] = [];
  for (const plan of plans) {
    for (const [step, spec] of Object.entries(plan.steps)) {
      if (spec.executor.type !== 'function') continue;
      const key = `${plan.workflow}/${step}`;
      // Steps that give params share their workflow's function of their handler (joinflow import asl).
      const shared = spec.executor.params === undefined ? undefined : `${plan.workflow}/@${spec.executor.module}#${spec.executor.export}`;
      if (!expected.includes(shared ?? key)) expected.push(shared ?? key);
      const name = registered[shared ?? key];
      expect(name, key).toBeDefined();
      const entry = [...functions.entries()].find(([, p]) => p['FunctionName'] === name);
      expect(entry, `function ${name}`).toBeDefined();
      const [id, p] = entry!;
      expect(p['Handler']).toBe(`${spec.executor.module.replace(/\.ts$/, '')}.${spec.executor.export}`);
      const seconds = Math.min(900, Math.ceil((spec.timeoutMs ?? 60_000) / 1000));
      if (shared) expect(p['Timeout']).toBeGreaterThanOrEqual(seconds);
      else expect(p['Timeout']).toBe(seconds);
      // An auto step placed on Lambda gets the memory its placement chose; others the stage's.
      expect(p['MemorySize']).toBe(spec.placement?.memoryMb ?? 1024);
      const extra = STEP_EXTRAS[key] ?? { env: {}, actions: [] };
      expect(p['Environment'].Variables).toEqual({ ...extra.env, JOINFLOW_WORKFLOW: plan.workflow, ...(shared ? {} : { JOINFLOW_STEP: step }), JOINFLOW_BUCKET: { Ref: 'Bucket' } });
      const config = t.Resources[id.replace(/LambdaFunction$/, 'LambdaEvConf')]!.Properties;
      expect(config['MaximumRetryAttempts']).toBe(0);
      const bus = { Destination: { 'Fn::GetAtt': ['EventBus', 'Arn'] } };
      expect(config['DestinationConfig']).toEqual({ OnSuccess: bus, OnFailure: bus });
      // The step's role may put events on the bus (its destinations), read its workflow's
      // uploaded inputs and read and write its workflow's data prefix, and nothing else but logs,
      // plus what its workflow's aws.cjs grants by name.
      const roleId = p['Role']['Fn::GetAtt'][0] as string;
      const all = statements(t.Resources[roleId]!.Properties['Policies']);
      const granted = all.flatMap(actions).sort();
      expect(granted).toEqual(['events:PutEvents', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:GetObject', 's3:PutObject', 's3:ListBucket', ...extra.actions].sort());
      const objectsOf = (action: string) => all.filter((x) => [x['Action']].flat().includes(action)).map((x) => x['Resource']['Fn::Sub']);
      expect(objectsOf('s3:GetObject').sort()).toEqual([`\${Bucket.Arn}/runs/${plan.workflow}/*`, `\${Bucket.Arn}/steps/${plan.workflow}/*`]);
      expect(objectsOf('s3:PutObject')).toEqual([`\${Bucket.Arn}/steps/${plan.workflow}/*`]);
    }
  }
  expect(Object.keys(registered).sort()).toEqual(expected.sort());
  // Every step function of the template is one the processor finds by the name it derives.
  const stepFunctions = [...functions.entries()].filter(([id]) => id.startsWith('Step')).map(([, p]) => p['FunctionName'] as string);
  expect(stepFunctions.sort()).toEqual(Object.values(registered).sort());
}

/** What workflows/<name>/aws.cjs files add to function steps (deploy/workflow-resources.cjs). */
const STEP_EXTRAS: Record<string, { env: Json; actions: string[] }> = {
  'classify-documents/store': { env: { CLASSIFY_RESULTS_TABLE: { Ref: 'ClassifyDocumentsResultsTable' } }, actions: ['dynamodb:BatchWriteItem', 'dynamodb:Query'] },
};

const planDirs: string[] = [];
afterAll(() => {
  cleanPackages();
  for (const dir of planDirs) rmSync(dir, { recursive: true, force: true });
});

describe('serverless package of the repository triggers/', () => {
  let pkg: Packaged;
  const plans = plansIn(path.join(root, 'triggers'));
  beforeAll(() => {
    pkg = slsPackage({});
  }, 300_000);

  it('has one rule per trigger of every plan, with the compiled pattern', () => {
    const total = plans.reduce((n, p) => n + p.triggers.length, 0);
    expect(total).toBeGreaterThan(0);
    expect(triggerRules(pkg.template).size).toBe(total);
    expect(groupRules(pkg.template).size).toBe(0);
    checkTriggerRules(pkg.template, plans);
  });

  it('passes the common checks (roles, no wildcard actions, table, queues, DLQs)', () => {
    commonChecks(pkg.template);
  });

  it("keeps claim checks claimCheckDays plus the plans' longest wait (video-objects waits over an hour: 31 days)", () => {
    const rule = (pkg.template.Resources['Bucket']!.Properties['LifecycleConfiguration'] as Json)['Rules'][0] as Json;
    const longest = Math.max(...plans.map((p) => runWaitMs(p)));
    expect(longest).toBeGreaterThan(0);
    expect(rule).toEqual({ Id: 'expire-claim-checks', Status: 'Enabled', Prefix: 'joinflow/', ExpirationInDays: 30 + Math.ceil(longest / 86_400_000) });
  });

  it("leaves nothing in the temp dir (serverless-esbuild's zip folders are removed)", () => {
    expect(pkg.leftInTmp.filter((e) => /-\d+-\d+-[0-9a-f]{8}$/.test(e))).toEqual([]);
  });

  it('runs every function on nodejs22.x (Lambda deprecated nodejs20.x), which serverless accepts without a configuration warning', () => {
    const runtimes = new Set(ofType(pkg.template, 'AWS::Lambda::Function').map(([, p]) => p['Runtime']));
    expect([...runtimes]).toEqual(['nodejs22.x']);
    expect(pkg.stderr).not.toContain('Invalid configuration');
  });

  it('has a Lambda per function step with destinations to the bus', () => {
    checkStepFunctions(pkg.template, plans);
  });

  it('ships triggers/*.json next to the bundles of the functions that read plans', () => {
    const planFiles = readdirSync(path.join(root, 'triggers')).filter((f) => f.endsWith('.json')).map((f) => `triggers/${f}`).sort();
    for (const [fn, bundle] of [
      ['processor', 'src/adapters/aws/handlers/processor.mjs'],
      ['timer', 'src/adapters/aws/handlers/timer.mjs'],
      ['lambdaResultBridge', 'src/adapters/aws/handlers/bridges.mjs'],
      ['s3StartBridge', 'src/adapters/aws/handlers/bridges.mjs'],
      ['batchStateBridge', 'src/adapters/aws/handlers/bridges.mjs'],
    ] as const) {
      const entries = zipEntries(path.join(pkg.dir, `${fn}.zip`));
      expect(entries.filter((e) => e.startsWith('triggers/')).sort(), fn).toEqual(planFiles);
      expect(entries, fn).toContain(bundle);
    }
    // Step functions carry their handler's bundle only.
    const step = ofType(pkg.template, 'AWS::Lambda::Function').find(([, p]) => (p['Handler'] as string).startsWith('workflows/'));
    expect(step).toBeDefined();
    const zip = path.basename(step![1]['Code'].S3Key as string);
    const entries = zipEntries(path.join(pkg.dir, zip));
    expect(entries).toEqual([`${(step![1]['Handler'] as string).replace(/\.[^.]+$/, '')}.mjs`]);
  });

  it('runs the steps of an imported state machine (sensor-report) in one Lambda function, its handler bundled', () => {
    const registered = deployedFunctions(pkg.template, plans);
    const plan = plans.find((p) => p.workflow === 'sensor-report')!;
    expect(Object.values(plan.steps).filter((s) => s.executor.type === 'function').length).toBeGreaterThan(10);
    expect(Object.keys(registered).filter((k) => k.startsWith('sensor-report/'))).toEqual(['sensor-report/@workflows/sensor-report/workflow-asl.ts#handler']);
    const fn = ofType(pkg.template, 'AWS::Lambda::Function').find(([, p]) => p['FunctionName'] === registered['sensor-report/@workflows/sensor-report/workflow-asl.ts#handler'])!;
    expect(fn[1]['Handler']).toBe('workflows/sensor-report/workflow-asl.handler');
    const zip = path.join(pkg.dir, path.basename(fn[1]['Code'].S3Key as string));
    expect(zipEntries(zip)).toEqual(['workflows/sensor-report/workflow-asl.mjs']);
    // Its `import { aslHandler } from 'joinflow/asl'` is bundled from the sources (the condition
    // joinflow-source in serverless.yml), not from the compiled dist/ that plain Node gets.
    const bundled = [...zipText(zip, 'workflows/sensor-report/workflow-asl.mjs').matchAll(/^\/\/ ((?:src|dist)\/\S+)$/gm)].map((m) => m[1]);
    expect(bundled).toContain('src/asl.ts');
    expect(bundled.filter((f) => f!.startsWith('dist/'))).toEqual([]);
  });

  it('has the results table classify-documents brings (its aws.cjs), scoped to the store step', () => {
    const tables = ofType(pkg.template, 'AWS::DynamoDB::Table').map(([id]) => id).sort();
    expect(tables).toEqual(['ClassifyDocumentsResultsTable', 'Table']);
    const results = pkg.template.Resources['ClassifyDocumentsResultsTable']!.Properties;
    expect(results['TableName']).toBe('joinflow-test-classify-results');
    expect(results['KeySchema']).toEqual([{ AttributeName: 'document', KeyType: 'HASH' }, { AttributeName: 'idx', KeyType: 'RANGE' }]);
    expect(pkg.template.Outputs?.['ClassifyDocumentsResultsTableName']).toEqual({ Value: { Ref: 'ClassifyDocumentsResultsTable' } });
    // Only the store step's role names the table.
    const roles = ofType(pkg.template, 'AWS::IAM::Role').filter(([, p]) => JSON.stringify(p).includes('ClassifyDocumentsResultsTable'));
    expect(roles).toHaveLength(1);
    expect(JSON.stringify(roles[0]![1]['Description'])).toContain('classify-documents/store');
  });

  it('has a Batch job definition per workflow, image and platform of its batch steps, and Batch resources only when there is one', () => {
    // Batch steps, and Lambda-placed auto steps with a Batch fallback (they get a job definition too).
    const batchSteps = plans.flatMap((p) => Object.values(p.steps).filter((st) => st.executor.type === 'batch' || st.fallback !== undefined));
    const kinds = new Set(plans.flatMap((p) => Object.values(p.steps).flatMap((st) => {
      const e = (st.executor.type === 'batch' ? st.executor : st.fallback?.executor) as { image: string; gpus: number } | undefined;
      return e ? [`${p.workflow}/${e.image}/${e.gpus > 0 ? 'gpu' : 'cpu'}`] : [];
    })));
    expect(kinds.size).toBeLessThan(batchSteps.length);
    expect(ofType(pkg.template, 'AWS::Batch::JobDefinition')).toHaveLength(kinds.size);
    expect(ofType(pkg.template, 'AWS::Batch::ComputeEnvironment')).toHaveLength(batchSteps.length > 0 ? 2 : 0);
    expect(require('../../deploy/batch.cjs').batchResources({ hasBatch: false })).toEqual({ Resources: {} });
    // Packaged without a network: said at package time, not only when deploy refuses it.
    if (batchSteps.length > 0) expect(pkg.stderr).toMatch(/joinflow: \S+ and \S+ have no subnets: this package is fine to inspect, but deploy refuses it until JOINFLOW_SUBNETS/);
  });

  it('packages the auto steps of workflows/hybrid.ts where they were placed: Lambda size and timeout, Batch GPU and CPU jobs, the fallback job', () => {
    const hybrid = plans.find((p) => p.workflow === 'hybrid')!;
    expect(Object.fromEntries(Object.entries(hybrid.steps).map(([id, s]) => [id, s.placement?.target]))).toEqual({
      thumbnail: 'lambda', detect: 'batch-gpu', index: 'batch-cpu', summarize: 'lambda',
    });
    const fns = deployedFunctions(pkg.template, plans);
    const fn = (step: string) => ofType(pkg.template, 'AWS::Lambda::Function').find(([, p]) => p['FunctionName'] === fns[`hybrid/${step}`])![1];
    expect([fn('thumbnail')['MemorySize'], fn('thumbnail')['Timeout']]).toEqual([512, 900]);
    expect([fn('summarize')['MemorySize'], fn('summarize')['Timeout']]).toEqual([3538, 120]);
    expect(fns['hybrid/detect']).toBeUndefined();

    const defs = new Map(ofType(pkg.template, 'AWS::Batch::JobDefinition').map(([, p]) => [p['JobDefinitionName'] as string, p]));
    const registered = deployedJobDefinitions(pkg.template, plans);
    expect(Object.keys(registered).filter((k) => k.startsWith('hybrid/')).sort()).toEqual(['hybrid/detect', 'hybrid/index', 'hybrid/summarize']);
    expect(Object.keys(registered).filter((k) => !k.startsWith('hybrid/')).sort()).toEqual(['video-objects/detect', 'video-objects/merge', 'video-objects/split']);
    // A definition per workflow, image and platform: hybrid's steps share one image (GPU for
    // detect; CPU for index and summarize's fallback), and so do video-objects' three.
    expect(defs.size).toBe(4);
    expect(registered['hybrid/summarize']).toBe(registered['hybrid/index']);
    const detect = defs.get(registered['hybrid/detect']!)!;
    expect(detect['PlatformCapabilities']).toEqual(['EC2']);
    // The step's command goes with each job (dispatch.test.ts), not in the shared definition.
    expect(detect['ContainerProperties'].Command).toBeUndefined();
    expect(detect['ContainerProperties'].ResourceRequirements).toEqual([
      { Type: 'VCPU', Value: '4' },
      { Type: 'MEMORY', Value: '15000' },
      { Type: 'GPU', Value: '1' },
    ]);
    const index = defs.get(registered['hybrid/index']!)!;
    expect(index['PlatformCapabilities']).toEqual(['FARGATE']);
    expect(index['ContainerProperties'].ResourceRequirements).toEqual([{ Type: 'VCPU', Value: '2' }, { Type: 'MEMORY', Value: '4096' }]);
    // summarize runs on Lambda; its job definition is the fallback after a Lambda timeout, unbounded by it.
    const fallback = defs.get(registered['hybrid/summarize']!)!;
    expect(fallback['PlatformCapabilities']).toEqual(['FARGATE']);
    expect(fallback['ContainerProperties'].ResourceRequirements).toEqual([{ Type: 'VCPU', Value: '2' }, { Type: 'MEMORY', Value: '4096' }]);
    expect(fallback['Timeout']).toBeUndefined();
    expect(ofType(pkg.template, 'AWS::Batch::JobQueue').map(([id]) => id).sort()).toEqual(['CpuJobQueue', 'GpuJobQueue']);
  });
});

/** A workflow with function, GPU and CPU batch, and container steps (compiled, not committed). */
const gpuDemo: WorkflowInput = {
  name: 'gpu-demo',
  steps: {
    prepare: { executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeA' }, timeoutMs: 120_000 },
    train: {
      needs: ['prepare'],
      executor: { type: 'batch', image: 'public.ecr.aws/joinflow/train:1', command: ['python', 'train.py'], vcpus: 4, memoryMb: 15_000, gpus: 1, env: { EPOCHS: '3' } },
      timeoutMs: 3_600_000,
    },
    featurize: { needs: ['prepare'], executor: { type: 'batch', image: 'public.ecr.aws/joinflow/features:1', command: ['featurize'] } },
    'score.v2:final-with-a-rather-long-step-name-to-exercise-name-limits': {
      needs: ['train', 'featurize'],
      executor: { type: 'function', module: 'handlers/diamond.ts', export: 'nodeB' },
      timeoutMs: 2_000_000,
    },
    report: { needs: ['score.v2:final-with-a-rather-long-step-name-to-exercise-name-limits'], executor: { type: 'container', queue: 'reports', module: 'handlers/diamond.ts', export: 'nodeC' } },
    notify: { needs: ['report'], executor: { type: 'container', command: 'echo' } },
  },
};

/** 30 long-named roots joined by one step: that join's pattern is over 2,048 characters. */
function wideJoin(): WorkflowInput {
  const roots = Array.from({ length: 30 }, (_, i) => `branch-${String(i).padStart(2, '0')}-${'x'.repeat(60)}`);
  return {
    name: 'wide-join',
    steps: {
      ...Object.fromEntries(roots.map((id) => [id, { executor: { type: 'simulate', durationMs: 1 } }])),
      join: { needs: roots, executor: { type: 'simulate', durationMs: 1 } },
    },
  };
}

/** A chain of 397 steps: 400 triggers with $succeed, $retry and $fail, every pattern small. */
function synthetic400(): WorkflowInput {
  return {
    name: 'synthetic-400',
    steps: Object.fromEntries(
      Array.from({ length: 397 }, (_, i) => [`s${i}`, { needs: i === 0 ? [] : [`s${i - 1}`], executor: { type: 'simulate', durationMs: 1 } }]),
    ),
  };
}

describe('serverless package of plans with batch, container steps and grouping', () => {
  let pkg: Packaged;
  let plans: TriggerPlan[];
  beforeAll(() => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'joinflow-plans-'));
    planDirs.push(dir);
    const triggers = path.join(dir, 'triggers');
    mkdirSync(triggers);
    plans = [
      compileWorkflow(gpuDemo, { source: 'workflows/gpu-demo.yaml' }),
      compileWorkflow(wideJoin(), { source: 'workflows/wide-join.yaml' }),
      compileWorkflow(synthetic400(), { source: 'workflows/synthetic-400.yaml' }),
    ];
    for (const plan of plans) writeFileSync(path.join(triggers, `${plan.workflow}.json`), serializePlan(plan));
    pkg = slsPackage({ JOINFLOW_TRIGGERS_DIR: triggers, JOINFLOW_SUBNETS: 'subnet-aaa, subnet-bbb', JOINFLOW_SECURITY_GROUPS: 'sg-123' });
  }, 300_000);

  it('compiles the fixtures as intended', () => {
    const [, wide, synthetic] = plans;
    expect(synthetic!.triggers).toHaveLength(400);
    expect(Math.max(...synthetic!.triggers.map((t) => JSON.stringify(t.activation).length))).toBeLessThan(2048);
    expect(Math.max(...wide!.triggers.map((t) => JSON.stringify(t.activation).length))).toBeGreaterThan(2048);
  });

  it('groups the oversized and the over-budget workflow, one rule each, and says why', () => {
    const groups = groupRules(pkg.template);
    expect([...groups.keys()].sort()).toEqual(['synthetic-400', 'wide-join']);
    for (const [wf, rule] of groups) {
      expect(rule['EventPattern']).toEqual({ source: ['joinflow'], detail: { workflow: [wf] } });
      expect(rule['EventBusName']).toEqual({ Ref: 'EventBus' });
    }
    const rules = triggerRules(pkg.template);
    expect([...rules.keys()].filter((k) => !k.startsWith('gpu-demo/'))).toEqual([]);
    checkTriggerRules(pkg.template, [plans[0]!]);
    expect(ofType(pkg.template, 'AWS::Events::Rule').length).toBeLessThanOrEqual(300);
    const lines = pkg.stderr.split('\n').filter((l) => l.startsWith('joinflow: workflow "'));
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes('"wide-join"'))).toMatch(/over EventBridge's 2048/);
    expect(lines.find((l) => l.includes('"synthetic-400"'))).toMatch(/budget of 250 rules/);
  });

  it('passes the common checks', () => {
    commonChecks(pkg.template);
    checkStepFunctions(pkg.template, plans);
  });

  it('has a GPU (EC2, min 0 vCPUs) and a Fargate compute environment with the configured network', () => {
    expect(pkg.stderr).not.toContain('have no subnets');
    const envs = new Map(ofType(pkg.template, 'AWS::Batch::ComputeEnvironment'));
    const gpu = envs.get('GpuComputeEnvironment')!;
    expect(gpu['Type']).toBe('MANAGED');
    expect(gpu['ComputeResources']).toMatchObject({
      Type: 'EC2',
      MinvCpus: 0,
      MaxvCpus: 64,
      InstanceTypes: ['g4dn.xlarge', 'g5.xlarge'],
      Subnets: ['subnet-aaa', 'subnet-bbb'],
      SecurityGroupIds: ['sg-123'],
      InstanceRole: { 'Fn::GetAtt': ['BatchInstanceProfile', 'Arn'] },
      // Amazon Linux 2023's GPU image: Amazon Linux 2's is at its end of support.
      Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }],
    });
    expect(envs.get('CpuComputeEnvironment')!['ComputeResources']).toMatchObject({ Type: 'FARGATE', Subnets: ['subnet-aaa', 'subnet-bbb'] });
    expect(ofType(pkg.template, 'AWS::Batch::JobQueue').map(([id]) => id).sort()).toEqual(['CpuJobQueue', 'GpuJobQueue']);
  });

  it('has a job definition per image and platform (two images here), with GPU requirements when gpus > 0', () => {
    const defs = new Map(ofType(pkg.template, 'AWS::Batch::JobDefinition').map(([, p]) => [p['JobDefinitionName'] as string, p]));
    expect(defs.size).toBe(2);
    const registered = deployedJobDefinitions(pkg.template, plans);
    expect(Object.keys(registered).sort()).toEqual(['gpu-demo/featurize', 'gpu-demo/train']);
    // Every job definition of the template is one the processor finds by the name it derives.
    expect([...defs.keys()].sort()).toEqual(Object.values(registered).sort());
    const train = defs.get(registered['gpu-demo/train']!)!;
    expect(train['PlatformCapabilities']).toEqual(['EC2']);
    expect(train['ContainerProperties'].Image).toBe('public.ecr.aws/joinflow/train:1');
    // Command, the step's variables and time-out go with each job (dispatch.test.ts).
    expect(train['ContainerProperties'].Command).toBeUndefined();
    expect(train['ContainerProperties'].ResourceRequirements).toEqual([
      { Type: 'VCPU', Value: '4' },
      { Type: 'MEMORY', Value: '15000' },
      { Type: 'GPU', Value: '1' },
    ]);
    expect(train['ContainerProperties'].Environment).toEqual([{ Name: 'JOINFLOW_WORKFLOW', Value: 'gpu-demo' }]);
    expect(train['Timeout']).toBeUndefined();
    const featurize = defs.get(registered['gpu-demo/featurize']!)!;
    expect(featurize['PlatformCapabilities']).toEqual(['FARGATE']);
    expect(featurize['ContainerProperties'].ResourceRequirements).toEqual([
      { Type: 'VCPU', Value: '1' },
      { Type: 'MEMORY', Value: '2048' },
    ]);
    expect(featurize['ContainerProperties'].ExecutionRoleArn).toEqual({ 'Fn::GetAtt': ['BatchExecutionRole', 'Arn'] });
    const env = pkg.template.Resources['ProcessorLambdaFunction']!.Properties['Environment'].Variables as Json;
    expect(env['JOINFLOW_JOB_QUEUES']).toEqual({
      'Fn::Sub': ['{"cpu":"${v0}","gpu":"${v1}"}', { v0: { Ref: 'CpuJobQueue' }, v1: { Ref: 'GpuJobQueue' } }],
    });
    // The processor may submit to exactly these queues and definitions.
    const submit = statements(pkg.template.Resources['ProcessorRole']!.Properties['Policies']).find((s) => actions(s).includes('batch:SubmitJob'))!;
    expect(submit['Resource']).toEqual(expect.arrayContaining([{ Ref: 'CpuJobQueue' }, { Ref: 'GpuJobQueue' }]));
    expect(JSON.stringify(submit['Resource'])).toContain(`job-definition/${registered['gpu-demo/train']}`);
  });

  it('routes Batch job state changes of its queues from the default bus to the bridge', () => {
    const rule = pkg.template.Resources['BatchStateRule']!.Properties;
    expect(rule['EventBusName']).toBeUndefined();
    expect(rule['EventPattern']).toEqual({
      source: ['aws.batch'],
      'detail-type': ['Batch Job State Change'],
      detail: { status: ['SUCCEEDED', 'FAILED'], jobQueue: [{ Ref: 'CpuJobQueue' }, { Ref: 'GpuJobQueue' }] },
    });
    expect(rule['Targets'][0].Arn).toEqual({ 'Fn::GetAtt': ['BatchStateBridgeLambdaFunction', 'Arn'] });
  });

  it('has a task queue with a DLQ per container queue name', () => {
    const env = pkg.template.Resources['ProcessorLambdaFunction']!.Properties['Environment'].Variables as Json;
    const [text, refs] = env['JOINFLOW_QUEUE_URLS']['Fn::Sub'] as [string, Record<string, { Ref: string }>];
    const names = Object.keys(JSON.parse(text.replace(/\$\{\w+\}/g, 'url')) as object);
    expect(names.sort()).toEqual(['default', 'reports']);
    for (const { Ref } of Object.values(refs)) {
      const queue = pkg.template.Resources[Ref]!;
      expect(queue.Type).toBe('AWS::SQS::Queue');
      const dlq = queue.Properties['RedrivePolicy'].deadLetterTargetArn['Fn::GetAtt'][0] as string;
      expect(pkg.template.Resources[dlq]!.Type).toBe('AWS::SQS::Queue');
      expect(queue.Properties['RedrivePolicy'].maxReceiveCount).toBe(5);
    }
  });
});

describe('rule planning (deploy/lib.cjs)', () => {
  const plan = (name: string, steps: number) =>
    compileWorkflow(
      { name, steps: Object.fromEntries(Array.from({ length: steps }, (_, i) => [`s${i}`, { executor: { type: 'simulate', durationMs: 1 } }])) },
      { source: `workflows/${name}.yaml` },
    );

  it('keeps one rule per trigger under the budget', () => {
    const rules = lib.planRules([plan('a', 10), plan('b', 10)], 250);
    expect(rules.every((r) => r.kind === 'trigger')).toBe(true);
    expect(rules).toHaveLength(26);
  });

  it('groups the largest workflows first until the deployment fits', () => {
    const plans = Array.from({ length: 40 }, (_, i) => plan(`wf${String(i).padStart(2, '0')}`, 7)); // 40 x 10 triggers
    const rules = lib.planRules(plans, 250);
    expect(rules.length).toBeLessThanOrEqual(250);
    const grouped = rules.filter((r) => r.kind === 'workflow');
    expect(grouped.length).toBeGreaterThan(0);
    expect(grouped.every((r) => /budget of 250/.test(r.reason ?? ''))).toBe(true);
  });

  it('groups a workflow with a pattern over 2,048 characters even under the budget', () => {
    const wide = compileWorkflow(wideJoin(), { source: 'workflows/wide-join.yaml' });
    const rules = lib.planRules([wide, plan('small', 2)], 250);
    expect(rules.filter((r) => r.kind === 'workflow').map((r) => r.workflow)).toEqual(['wide-join']);
    expect(rules.filter((r) => r.kind === 'trigger')).toHaveLength(5);
  });

  it('names rules and functions deterministically within AWS limits', () => {
    const plans = [compileWorkflow(gpuDemo, { source: 'workflows/gpu-demo.yaml' }), plan('b', 3)];
    const build = () => lib.buildModel({ service: 'joinflow', stage: 'a-rather-long-stage', region: 'us-east-1', custom: {}, plans, warn: () => {} });
    const one = build();
    expect(build()).toEqual(one);
    for (const r of one.rules) {
      expect(r.name.length).toBeLessThanOrEqual(64);
      expect(r.logicalId).toMatch(/^[A-Za-z0-9]{1,255}$/);
    }
    for (const f of one.functionSteps) {
      expect(f.name.length).toBeLessThanOrEqual(64);
      expect(f.name).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(f.key).toMatch(/^[A-Za-z0-9]+$/);
    }
  });
});
