/**
 * A stand-in for a deployed stage, built from the packaged CloudFormation template: DynamoDB on
 * dynalite, S3 on s3rver and SQS on fauxqs (real protocols), while EventBridge and Lambda —
 * which have no emulator — are replaced by an in-process router. The router applies the
 * template's rules (patterns, InputTransformers, targets) to every PutEvents entry and runs the
 * targets' real handlers; Lambda async invokes run the function's handler and then emit the
 * destination record the template configures. Every delivery can be repeated (at-least-once).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { tableDefinition } from '../../src/adapters/aws/dynamodb-store.ts';
import { compilePattern } from '../../src/model/pattern.ts';
import { startDynalite, type DynaliteHandle } from './dynalite.ts';
import { startS3rver, type S3rverHandle } from './s3rver.ts';

type Resource = { Type: string; Properties?: Record<string, unknown> };
/** The parts of a CloudFormation template the world reads. */
export type Template = { Resources: Record<string, Resource> };

type Fn = { logicalId: string; name: string; handler: string; env: Record<string, string>; onSuccess?: string; onFailure?: string };
type Rule = { bus: string; test: (e: unknown) => boolean; targets: Array<{ fn: Fn; template?: string }> };
type AwsEvent = { version: '0'; id: string; source: string; 'detail-type': string; account: string; time: string; region: string; resources: string[]; detail: unknown };
type Job = { kind: 'event'; bus: string; event: AwsEvent } | { kind: 'invoke'; fn: Fn; payload: unknown };

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

/** A running world; `drain()` delivers until nothing is left to do. */
export type AwsWorld = {
  dynamo: DynaliteHandle;
  s3: S3rverHandle;
  table: string;
  /** Handler invocations per function logical id. */
  invocations: Map<string, number>;
  /** Payloads each function step received. */
  stepCalls: Array<{ function: string; payload: Record<string, unknown> }>;
  drain(): Promise<void>;
  close(): Promise<void>;
};

/** Builds the world from a packaged template. `root` resolves handler modules. */
export async function createAwsWorld(template: Template, options: { root: string; deliveries?: number; triggersDir: string }): Promise<AwsWorld> {
  const deliveries = options.deliveries ?? 2;
  const dynamo = await startDynalite();
  const s3 = await startS3rver('joinflow-world');
  const fauxqs: FauxqsServer = await startFauxqs({ port: 0, logger: false });
  const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  const sqs = new SQSClient({ region: REGION, endpoint: sqsEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

  const res = template.Resources;
  const byType = (type: string) => Object.entries(res).filter(([, r]) => r.Type === type);
  const names = new Map<string, string>();
  const arns = new Map<string, string>();
  for (const [id, r] of byType('AWS::DynamoDB::Table')) names.set(id, String(r.Properties?.['TableName'] ?? id));
  for (const [id] of byType('AWS::S3::Bucket')) names.set(id, s3.bucket);
  for (const [id, r] of byType('AWS::Events::EventBus')) names.set(id, String(r.Properties?.['Name'] ?? id));
  for (const [id, r] of byType('AWS::Lambda::Function')) names.set(id, String(r.Properties?.['FunctionName'] ?? id));
  const resolve = (v: unknown): unknown => resolveIntrinsics(v, res, names, arns);
  // Names first (they may be Fn::Sub of the stage), then the queues that need them.
  for (const [id, r] of Object.entries(res)) {
    const n = r.Properties?.['TableName'] ?? r.Properties?.['Name'] ?? r.Properties?.['FunctionName'];
    if (n !== undefined && r.Type !== 'AWS::S3::Bucket') names.set(id, String(resolve(n)));
  }
  for (const [id, r] of byType('AWS::SQS::Queue')) {
    const name = String(resolve(r.Properties?.['QueueName'] ?? id)).replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
    const created = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    names.set(id, created.QueueUrl!);
    arns.set(id, `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`);
  }
  const [tableId] = byType('AWS::DynamoDB::Table')[0] ?? [];
  if (!tableId) throw new Error('template has no DynamoDB table');
  const table = names.get(tableId)!;
  await dynamo.client.send(new CreateTableCommand(tableDefinition(table)));

  const functions = new Map<string, Fn>();
  for (const [id, r] of byType('AWS::Lambda::Function')) {
    const env = (resolve((r.Properties?.['Environment'] as { Variables?: unknown } | undefined)?.Variables ?? {}) ?? {}) as Record<string, unknown>;
    functions.set(id, { logicalId: id, name: names.get(id)!, handler: String(r.Properties?.['Handler']), env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) });
  }
  const fnByArn = (arn: unknown): Fn | undefined => [...functions.values()].find((f) => String(arn).endsWith(`:function:${f.name}`) || String(arn) === f.name);
  for (const [, r] of byType('AWS::Lambda::EventInvokeConfig')) {
    const fn = fnByArn(resolve(r.Properties?.['FunctionName'])) ?? [...functions.values()].find((f) => f.name === resolve(r.Properties?.['FunctionName']));
    const dest = r.Properties?.['DestinationConfig'] as { OnSuccess?: { Destination?: unknown }; OnFailure?: { Destination?: unknown } } | undefined;
    if (!fn || !dest) continue;
    if (dest.OnSuccess?.Destination) fn.onSuccess = String(resolve(dest.OnSuccess.Destination));
    if (dest.OnFailure?.Destination) fn.onFailure = String(resolve(dest.OnFailure.Destination));
  }
  const rules: Rule[] = [];
  for (const [, r] of byType('AWS::Events::Rule')) {
    const p = r.Properties ?? {};
    const bus = p['EventBusName'] === undefined ? 'default' : busName(String(resolve(p['EventBusName'])));
    const pattern = resolve(p['EventPattern']) as Record<string, unknown>;
    const targets = ((p['Targets'] as Array<Record<string, unknown>>) ?? []).flatMap((t) => {
      const fn = fnByArn(resolve(t['Arn']));
      if (!fn) return [];
      const it = t['InputTransformer'] as { InputTemplate?: unknown } | undefined;
      return [{ fn, ...(it?.InputTemplate ? { template: String(resolve(it.InputTemplate)) } : {}) }];
    });
    rules.push({ bus, test: compilePattern(pattern), targets });
  }

  // Handlers read their configuration from the environment, as in Lambda; the stage's AWS
  // functions share one environment here (the union of theirs) and one wiring.
  const saved = { ...process.env };
  for (const f of functions.values()) Object.assign(process.env, f.env);
  Object.assign(process.env, {
    JOINFLOW_TRIGGERS_DIR: options.triggersDir,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SQS: sqsEndpoint,
    // s3rver checks its own fixed credentials; dynalite and fauxqs accept any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: REGION,
    JOINFLOW_LOG_LEVEL: process.env['JOINFLOW_LOG_LEVEL'] ?? 'error',
  });
  delete process.env['AWS_ENDPOINT_URL'];
  (await import('../../src/adapters/aws/wiring.ts')).resetWiring();

  const jobs: Job[] = [];
  const invocations = new Map<string, number>();
  const stepCalls: AwsWorld['stepCalls'] = [];
  const eb = mockClient(EventBridgeClient);
  eb.on(PutEventsCommand).callsFake(async (input: { Entries?: PutEventsRequestEntry[] }) => {
    const entries = input.Entries ?? [];
    for (const e of entries) {
      jobs.push({ kind: 'event', bus: busName(e.EventBusName ?? 'default'), event: awsEvent(e.Source!, e.DetailType!, JSON.parse(e.Detail!)) });
    }
    return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) };
  });
  const lambda = mockClient(LambdaClient);
  lambda.on(InvokeCommand).callsFake(async (input: { FunctionName?: string; InvocationType?: string; Payload?: Uint8Array }) => {
    const fn = fnByArn(input.FunctionName);
    if (!fn) throw Object.assign(new Error(`Function not found: ${input.FunctionName}`), { name: 'ResourceNotFoundException' });
    if (input.InvocationType !== 'Event') throw new Error(`expected an asynchronous invoke, got ${input.InvocationType}`);
    jobs.push({ kind: 'invoke', fn, payload: JSON.parse(new TextDecoder().decode(input.Payload)) });
    return { StatusCode: 202 };
  });

  const handlerCache = new Map<string, (event: unknown, context: unknown) => Promise<unknown>>();
  async function handlerOf(fn: Fn): Promise<(event: unknown, context: unknown) => Promise<unknown>> {
    let h = handlerCache.get(fn.handler);
    if (!h) {
      // As Lambda's Node.js runtime reads a handler: the file name up to its first dot is the
      // module, the rest the export (a path of properties).
      const dot = fn.handler.indexOf('.', fn.handler.lastIndexOf('/') + 1);
      const base = path.join(options.root, fn.handler.slice(0, dot));
      const file = ['.ts', '.mjs', '.js'].map((x) => base + x).find((f) => existsSync(f));
      if (!file) throw new Error(`handler module for ${fn.handler} not found`);
      const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      h = fn.handler.slice(dot + 1).split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], mod) as (event: unknown, context: unknown) => Promise<unknown>;
      if (typeof h !== 'function') throw new Error(`${fn.handler} is not a function`);
      handlerCache.set(fn.handler, h);
    }
    return h;
  }
  const context = (fn: Fn) => ({ functionName: fn.name, awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 60_000 });
  const count = (fn: Fn) => invocations.set(fn.logicalId, (invocations.get(fn.logicalId) ?? 0) + 1);

  async function run(job: Job): Promise<void> {
    if (job.kind === 'event') {
      for (const rule of rules) {
        if (rule.bus !== job.bus || !rule.test(job.event)) continue;
        for (const target of rule.targets) {
          // <aws.events.event.json> is the whole event; <aws.events.event> the event without detail.
          const { detail: _d, ...withoutDetail } = job.event;
          const input = target.template
            ? JSON.parse(target.template.replace('<aws.events.event.json>', JSON.stringify(job.event)).replace('<aws.events.event>', JSON.stringify(withoutDetail)))
            : job.event;
          for (let i = 0; i < deliveries; i++) {
            count(target.fn);
            await (await handlerOf(target.fn))(structuredClone(input), context(target.fn));
          }
        }
      }
      return;
    }
    // An async invoke runs once per invoke call; its destination record then goes to the bus.
    const { fn, payload } = job;
    count(fn);
    stepCalls.push({ function: fn.logicalId, payload: payload as Record<string, unknown> });
    let ok = true;
    let response: unknown;
    try {
      response = (await (await handlerOf(fn))(structuredClone(payload), context(fn))) ?? null;
    } catch (error) {
      ok = false;
      response = { errorType: (error as Error).name, errorMessage: (error as Error).message };
    }
    const dest = ok ? fn.onSuccess : fn.onFailure;
    if (!dest) return;
    jobs.push({
      kind: 'event',
      bus: busName(dest),
      event: awsEvent('lambda', `Lambda Function Invocation Result - ${ok ? 'Success' : 'Failure'}`, {
        version: '1.0',
        timestamp: new Date().toISOString(),
        requestContext: { requestId: randomUUID(), functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fn.name}:$LATEST`, condition: ok ? 'Success' : 'RetriesExhausted', approximateInvokeCount: 1 },
        requestPayload: payload,
        responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(ok ? {} : { functionError: 'Unhandled' }) },
        responsePayload: response,
      }),
    });
  }

  return {
    dynamo,
    s3,
    table,
    invocations,
    stepCalls,
    async drain() {
      for (let guard = 0; jobs.length > 0; guard++) {
        if (guard > 100_000) throw new Error('the world did not settle');
        await run(jobs.shift()!);
      }
    },
    async close() {
      eb.restore();
      lambda.restore();
      process.env = saved;
      (await import('../../src/adapters/aws/wiring.ts')).resetWiring();
      await Promise.all([dynamo.close(), s3.close(), fauxqs.stop()]);
    },
  };
}

function awsEvent(source: string, detailType: string, detail: unknown): AwsEvent {
  return { version: '0', id: randomUUID(), source, 'detail-type': detailType, account: ACCOUNT, time: new Date().toISOString(), region: REGION, resources: [], detail };
}

/** "arn:aws:events:...:event-bus/NAME" or NAME -> NAME. */
function busName(nameOrArn: string): string {
  const i = nameOrArn.indexOf('event-bus/');
  return i >= 0 ? nameOrArn.slice(i + 'event-bus/'.length) : nameOrArn;
}

const SERVICE_OF: Record<string, string> = {
  'AWS::Lambda::Function': 'lambda',
  'AWS::Events::EventBus': 'events',
  'AWS::DynamoDB::Table': 'dynamodb',
  'AWS::SQS::Queue': 'sqs',
  'AWS::S3::Bucket': 's3',
};

/** Resolves the CloudFormation intrinsics serverless emits (Ref, GetAtt, Sub, Join, Select). */
function resolveIntrinsics(v: unknown, res: Record<string, Resource>, names: Map<string, string>, arns: Map<string, string>): unknown {
  const again = (x: unknown) => resolveIntrinsics(x, res, names, arns);
  const pseudo: Record<string, string> = { 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::Partition': 'aws', 'AWS::StackName': 'joinflow-test', 'AWS::URLSuffix': 'amazonaws.com' };
  const arnOf = (id: string): string => {
    if (arns.has(id)) return arns.get(id)!;
    const r = res[id];
    const svc = SERVICE_OF[r?.Type ?? ''] ?? 'unknown';
    const name = names.get(id) ?? id;
    if (svc === 'lambda') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
    if (svc === 'events') return `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${name}`;
    if (svc === 'dynamodb') return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
    if (svc === 's3') return `arn:aws:s3:::${name}`;
    return `arn:aws:${svc}:${REGION}:${ACCOUNT}:${name}`;
  };
  const ref = (id: string): string => pseudo[id] ?? names.get(id) ?? id;
  const getAtt = (id: string, attr: string): string => {
    if (attr === 'Arn') return arnOf(id);
    if (attr === 'QueueUrl') return names.get(id) ?? id;
    if (attr === 'QueueName' || attr === 'Name') return (names.get(id) ?? id).split('/').pop()!;
    return `${id}.${attr}`;
  };
  if (Array.isArray(v)) return v.map(again);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const a = o[k];
    if (k === 'Ref') return ref(String(a));
    if (k === 'Fn::GetAtt') {
      const [id, attr] = Array.isArray(a) ? (a as string[]) : String(a).split('.');
      return getAtt(id!, attr!);
    }
    if (k === 'Fn::Sub') {
      const [text, vars] = Array.isArray(a) ? (a as [string, Record<string, unknown>]) : [String(a), {}];
      return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
        if (name in vars) return String(again(vars[name]));
        const dot = name.indexOf('.');
        return dot > 0 && !name.startsWith('AWS::') ? getAtt(name.slice(0, dot), name.slice(dot + 1)) : ref(name);
      });
    }
    if (k === 'Fn::Join') {
      const [sep, list] = a as [string, unknown[]];
      return (again(list) as unknown[]).map(String).join(sep);
    }
    if (k === 'Fn::Select') {
      const [i, list] = a as [number, unknown[]];
      return (again(list) as unknown[])[Number(i)];
    }
  }
  return Object.fromEntries(keys.map((k) => [k, again(o[k])]));
}
