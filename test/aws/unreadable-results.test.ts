/**
 * A step result kept by reference (over 350 KB: an S3 claim check) that is gone or damaged when
 * the processor needs it: the event is dead-lettered at once with a reason naming the run, the
 * step and the object, nothing of the fire is carried out (no dispatch, no acknowledgement), and
 * the other triggers the same event fired keep their effects; the event put again once the
 * object is back fires the trigger, once. DynamoDB on dynalite, S3 on s3rver, the events DLQ on
 * fauxqs; EventBridge and Lambda (no emulators) through aws-sdk-client-mock. The lease is judged
 * on Date.now, which the tests move forward instead of waiting.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskMeta } from '../../src/adapters/aws/dispatch.ts';
import { tableDefinition } from '../../src/adapters/aws/dynamodb-store.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { startDynalite, type DynaliteHandle } from '../helpers/dynalite.ts';
import { useHandlerEnv } from '../helpers/handler-env.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { tempDirs } from '../helpers/tmp.ts';

const eb = mockClient(EventBridgeClient);
const lambda = mockClient(LambdaClient);
const batch = mockClient(BatchClient);
const saved = { ...process.env };
const tmp = tempDirs('jf-aws-unreadable-');
const TABLE = 'joinflow-unreadable';
let dynamo: DynaliteHandle;
let s3: S3rverHandle;
let fauxqs: FauxqsServer;
let sqs: SQSClient;
let dlq: string;

const fn = (name: string) => ({ type: 'function', module: './handlers/h.ts', export: name }) as const;
const job = { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } as const;
const workflows = [
  // c joins a and b (a Batch job: a's result is too large for a Lambda event); y needs b alone: b's completion fires both.
  { name: 'dia', steps: { a: { executor: fn('a') }, b: { executor: fn('b') }, c: { executor: job, needs: ['a', 'b'] }, y: { executor: fn('y'), needs: ['b'] } } },
  // sq, a forEach over split's result, waits for other too.
  { name: 'fan', steps: { split: { executor: fn('split') }, other: { executor: fn('other') }, sq: { executor: fn('sq'), needs: ['split', 'other'], forEach: { step: 'split' } } } },
];

/** Over the 350 KB a DynamoDB item keeps: the store puts it in the bucket and keeps a reference. */
const large = (tag: string) => ({ tag, pad: 'x'.repeat(360 * 1024) });

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.client.send(new CreateTableCommand(tableDefinition(TABLE)));
  s3 = await startS3rver('unreadable-bucket');
  fauxqs = await startFauxqs({ port: 0, logger: false });
  const endpoint = `http://127.0.0.1:${fauxqs.port}`;
  sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  dlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'unreadable-dlq' }))).QueueUrl!;
  const triggers = path.join(tmp(), 'triggers');
  mkdirSync(triggers);
  const functions: Record<string, string> = {};
  for (const w of workflows) {
    writeFileSync(path.join(triggers, `${w.name}.json`), serializePlan(compileWorkflow(w, { source: `workflows/${w.name}.yaml` })));
    for (const step of Object.keys(w.steps)) functions[`${w.name}/${step}`] = `joinflow-test-s-${w.name}-${step}`;
  }
  useHandlerEnv({ triggers, table: TABLE, dynamoEndpoint: dynamo.endpoint, functions, jobDefinitions: { 'dia/c': 'joinflow-test-jd-c' } });
  // s3rver checks its own credentials; dynalite and fauxqs take any.
  Object.assign(process.env, { JOINFLOW_BUCKET: s3.bucket, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_ENDPOINT_URL_SQS: endpoint, JOINFLOW_DLQ_URL: dlq });
  resetWiring();
}, 60_000);

afterAll(async () => {
  process.env = saved;
  resetWiring();
  eb.restore();
  lambda.restore();
  batch.restore();
  sqs?.destroy();
  await fauxqs?.stop();
  await s3?.close();
  await dynamo?.close();
});

beforeEach(() => {
  eb.reset();
  lambda.reset();
  eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
  batch.reset();
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  batch.on(SubmitJobCommand).callsFake(async (input: { jobName?: string }) => ({ jobId: `job-${randomUUID()}`, jobName: input.jobName }));
});

afterEach(() => {
  vi.useRealTimers();
  resetWiring();
});

type Envelope = { id: string; source: string; 'detail-type': string; time: string; detail: Record<string, unknown> };

const runRequested = (workflow: string, runId: string): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow, runId, input: {} } });
const completed = (workflow: string, runId: string, step: string, output: unknown): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Completed', time: new Date().toISOString(), detail: { workflow, runId, step, attempt: 1, output } });

/** The steps invoked (Lambda) or submitted (Batch) since the test began, as `step[item]`. */
const invoked = () => [
  ...lambda.commandCalls(InvokeCommand)
    .map((c) => (JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as { joinflow: TaskMeta }).joinflow)
    .map((m) => `${m.step}${m.item === undefined ? '' : `[${m.item}]`}`),
  ...batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input.containerOverrides?.environment?.find((e) => e.name === 'JOINFLOW_STEP')?.value),
].sort();
const publishedTypes = () => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).map((e) => e.DetailType);

/** The events DLQ's messages, read off it. */
async function deadLetters(): Promise<Array<{ reason: string; event: Envelope }>> {
  const out: Array<{ reason: string; event: Envelope }> = [];
  for (;;) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
    if (!got.Messages?.length) return out;
    out.push(...got.Messages.map((m) => JSON.parse(m.Body!) as { reason: string; event: Envelope }));
  }
}

/** The object the store claim-checked a result into (`joinflow/results/<run>/<step>.<digest>.json`): its key and body. */
async function resultObject(runId: string, step: string): Promise<{ key: string; body: string }> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `joinflow/results/${runId}/${step}.` }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!);
  expect(keys).toHaveLength(1);
  const body = await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keys[0]! }))).Body!.transformToString();
  return { key: keys[0]!, body };
}

/** Moves the handlers' clock (Date.now, which the wiring reads) past the processor's lease. */
function pastTheLease(): void {
  const now = Date.now();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(now + 120_000);
  resetWiring();
}

describe('a result kept by reference that the processor cannot read', () => {
  it('dead-letters the fire at once, naming the run, the step and the object, dispatches nothing of it, and fires it once when the event comes again after the object is back', async () => {
    const runId = 'unreadable-join';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    expect(invoked()).toEqual(['a', 'b']);
    await processor({ trigger: 'dia/c', event: completed('dia', runId, 'a', large('A')) });
    const object = await resultObject(runId, 'a');
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: object.key }));
    const events = publishedTypes().length;

    const joined = completed('dia', runId, 'b', { b: 1 });
    await expect(processor({ trigger: 'dia/c', event: joined })).resolves.toEqual({ effects: 1 });
    const [letter, ...more] = await deadLetters();
    expect(more).toEqual([]);
    expect(letter!.event.id).toBe(joined.id);
    expect(letter!.reason).toBe(
      `trigger "c" of run "${runId}" (workflow "dia") did not fire: the result of step "a" of run "${runId}" is stored by reference at s3://${s3.bucket}/${object.key}, ` +
        'and that object does not exist (deleted by the bucket\'s lifecycle rule, custom.joinflow.claimCheckDays, or by hand?). ' +
        'Nothing of it was carried out: restore the object and put this event again, or cancel the run',
    );
    // Nothing of the fire: no invocation of c, no event.
    expect(invoked()).toEqual(['a', 'b']);
    expect(publishedTypes()).toHaveLength(events);

    // The object back, the event put again after the lease: c runs, once, with a's result.
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: object.key, Body: object.body }));
    pastTheLease();
    await processor({ trigger: 'dia/c', event: { ...joined, id: randomUUID() } });
    await processor({ trigger: 'dia/c', event: { ...joined, id: randomUUID() } });
    expect(invoked()).toEqual(['a', 'b', 'c']);
    // Its event, too large for the job's environment, is in the bucket.
    const uri = batch.commandCalls(SubmitJobCommand)[0]!.args[0].input.containerOverrides!.environment!.find((e) => e.name === 'JOINFLOW_EVENT_URI')!.value!;
    const event = await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: uri.slice(`s3://${s3.bucket}/`.length) }))).Body!.transformToString();
    expect((JSON.parse(event) as { results: unknown }).results).toEqual({ a: large('A'), b: { b: 1 } });
    expect(await deadLetters()).toEqual([]);
  });

  it('keeps the effects of the other triggers the event fired (a rule grouped per workflow): only the fire that needs the object is dead-lettered', async () => {
    const runId = 'unreadable-grouped';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    await processor({ workflow: 'dia', event: completed('dia', runId, 'a', large('A')) });
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: (await resultObject(runId, 'a')).key }));
    lambda.resetHistory();

    await expect(processor({ workflow: 'dia', event: completed('dia', runId, 'b', { b: 1 }) })).resolves.toEqual({ effects: 3 });
    // y (needs b alone) is dispatched; c (needs a, whose object is gone) is not.
    expect(invoked()).toEqual(['y']);
    const letters = await deadLetters();
    expect(letters.map((l) => l.reason.slice(0, l.reason.indexOf(':')))).toEqual([`trigger "c" of run "${runId}" (workflow "dia") did not fire`]);
    expect(letters[0]!.reason).toContain(`the result of step "a" of run "${runId}" is stored by reference at s3://${s3.bucket}/joinflow/results/${runId}/a.`);
  });

  it('dispatches no item of a forEach whose list is a damaged object, naming it as not JSON', async () => {
    const runId = 'unreadable-fan';
    await processor({ workflow: 'fan', event: runRequested('fan', runId) });
    const items = Array.from({ length: 4 }, (_, i) => ({ i, pad: 'y'.repeat(100 * 1024) }));
    await processor({ workflow: 'fan', event: completed('fan', runId, 'split', items) });
    const object = await resultObject(runId, 'split');
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: object.key, Body: object.body.slice(0, 1000) }));
    lambda.resetHistory();

    await expect(processor({ trigger: 'fan/sq', event: completed('fan', runId, 'other', 'ready') })).resolves.toEqual({ effects: 1 });
    expect(invoked()).toEqual([]);
    const letters = await deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(new RegExp(`^trigger "sq" of run "${runId}" \\(workflow "fan"\\) did not fire: the result of step "split" of run "${runId}" is stored by reference at s3://${s3.bucket}/joinflow/results/${runId}/split\\.[0-9a-f]{32}\\.json, and that object is not JSON \\(`));
  });

  it('drops a Step Failed of a step that has its result without reading the result (its object gone here): a duplicate execution\'s failure', async () => {
    const runId = 'unreadable-failed';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    await processor({ workflow: 'dia', event: completed('dia', runId, 'a', large('A')) });
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: (await resultObject(runId, 'a')).key }));
    const events = publishedTypes().length;
    const failed = { id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Failed', time: new Date().toISOString(), detail: { workflow: 'dia', runId, step: 'a', attempt: 1, error: { type: 'Error', message: 'a duplicate execution failed' }, retrying: false } };

    await expect(processor({ trigger: 'dia/$fail', event: failed })).resolves.toEqual({ effects: 0 });
    expect(publishedTypes()).toHaveLength(events);
    expect(await deadLetters()).toEqual([]);
  });

  it('dead-letters a Step Failed of a forEach item checked against the list it fans out over, whose object is gone, before any trigger, naming the step and the object', async () => {
    const runId = 'unreadable-item-failed';
    await processor({ workflow: 'fan', event: runRequested('fan', runId) });
    await processor({ workflow: 'fan', event: completed('fan', runId, 'split', Array.from({ length: 4 }, (_, i) => ({ i, pad: 'y'.repeat(100 * 1024) }))) });
    const object = await resultObject(runId, 'split');
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: object.key }));
    const events = publishedTypes().length;
    const failed = { id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Failed', time: new Date().toISOString(), detail: { workflow: 'fan', runId, step: 'sq', item: 0, attempt: 1, error: { type: 'Error', message: 'item 0 failed' }, retrying: false } };

    await expect(processor({ workflow: 'fan', event: failed })).resolves.toEqual({ effects: 0 });
    expect(publishedTypes()).toHaveLength(events);
    expect(await deadLetters()).toEqual([{
      reason: `the result of step "split" of run "${runId}" is stored by reference at s3://${s3.bucket}/${object.key}, and that object does not exist (deleted by the bucket's lifecycle rule, custom.joinflow.claimCheckDays, or by hand?)`,
      event: failed,
    }]);
  });
});
