/**
 * The bridges: Lambda destination records and Batch job state changes become Step Completed /
 * Step Failed; an S3 upload becomes Run Requested (idempotently). Real handlers, S3 on s3rver,
 * EventBridge captured with aws-sdk-client-mock.
 */
import path from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outputKey } from '../../src/adapters/aws/dispatch.ts';
import { batchState, lambdaResult, s3Start } from '../../src/adapters/aws/handlers/bridges.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import { s3HandlerEnv, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

const root = path.resolve(import.meta.dirname, '../..');
const eb = mockClient(EventBridgeClient);
let s3: S3rverHandle;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startS3rver('bridge-bucket');
  Object.assign(process.env, s3HandlerEnv(s3, path.join(root, 'triggers')));
  resetWiring();
});
afterAll(async () => {
  process.env = saved;
  resetWiring();
  eb.restore();
  await s3.close();
});
beforeEach(() => {
  eb.reset();
  eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
});

function published(): Array<{ type: string; detail: Record<string, unknown>; bus: string }> {
  return eb.commandCalls(PutEventsCommand).flatMap((c) =>
    (c.args[0].input.Entries ?? []).map((e) => ({ type: e.DetailType!, detail: JSON.parse(e.Detail!), bus: e.EventBusName! })),
  );
}

const meta = { workflow: 'diamond', runId: 'r1', step: 'nodeA', attempt: 1, maxAttempts: 3 };
const result = (type: string, detail: Record<string, unknown>) => ({ id: 'e', source: 'lambda', 'detail-type': type, time: '', detail });

describe('Lambda result bridge', () => {
  it('turns a success record into Step Completed with the response as output', async () => {
    await lambdaResult(result('Lambda Function Invocation Result - Success', { requestPayload: { input: 1, joinflow: meta }, responsePayload: { a: 2 } }));
    expect(published()).toEqual([{ type: 'Step Completed', bus: 'joinflow-test', detail: expect.objectContaining({ workflow: 'diamond', runId: 'r1', step: 'nodeA', attempt: 1, output: { a: 2 } }) }]);
  });

  it('turns a failure into Step Failed, retrying while attempts remain, never for NonRetriableStepError', async () => {
    await lambdaResult(result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: meta }, responsePayload: { errorType: 'Error', errorMessage: 'boom' } }));
    await lambdaResult(result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: meta }, responsePayload: { errorType: 'NonRetriableStepError', errorMessage: 'bad input' } }));
    await lambdaResult(result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: { ...meta, attempt: 3 } }, responsePayload: { errorType: 'Error', errorMessage: 'boom' } }));
    const [a, b, c] = published();
    expect(a).toMatchObject({ type: 'Step Failed', detail: { error: { type: 'Error', message: 'boom' }, retrying: true } });
    expect(b).toMatchObject({ type: 'Step Failed', detail: { error: { type: 'NonRetriableStepError' }, retrying: false } });
    expect(c).toMatchObject({ type: 'Step Failed', detail: { attempt: 3, retrying: false } });
  });

  it('says when Lambda gave up on an invocation it may never have run (EventAgeExceeded: throttled), and retries it', async () => {
    const dropped = { requestPayload: { joinflow: meta }, requestContext: { condition: 'EventAgeExceeded', approximateInvokeCount: 0 }, responseContext: { statusCode: 200 } };
    await lambdaResult(result('Lambda Function Invocation Result - Failure', dropped));
    await lambdaResult(result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: meta }, requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 } }));
    const [age, exhausted] = published();
    expect(age).toMatchObject({ type: 'Step Failed', detail: { error: { type: 'LambdaEventAgeExceeded' }, retrying: true } });
    expect((age!.detail['error'] as { message: string }).message).toBe('Lambda dropped step "nodeA" (attempt 1): the invocation stayed queued past the function\'s maximum event age (EventAgeExceeded, 0 invocations made), so it may never have run: the function was throttled or out of concurrency');
    expect(exhausted).toMatchObject({ detail: { error: { type: 'Error', message: 'the function failed without a message (RetriesExhausted, 3 invocations made)' } } });
  });

  it('reports a Lambda timeout as StepTimeout, and ignores invocations that are not steps', async () => {
    await lambdaResult(result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: meta }, responsePayload: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 60.00 seconds' } }));
    await lambdaResult(result('Lambda Function Invocation Result - Success', { requestPayload: { other: true }, responsePayload: 1 }));
    expect(published()).toHaveLength(1);
    expect(published()[0]).toMatchObject({ detail: { error: { type: 'StepTimeout' }, retrying: true } });
  });
});

describe('Lambda result bridge: what is a timeout', () => {
  // The last attempt of a step with a Batch fallback: only a timeout goes on (to Batch).
  const failure = (payload: Record<string, unknown>, context: Record<string, unknown> = { functionError: 'Unhandled' }) =>
    result('Lambda Function Invocation Result - Failure', { requestPayload: { joinflow: { ...meta, attempt: 3, fallback: 'batch' } }, responsePayload: payload, responseContext: context });

  it("takes Lambda's own timeout records, with and without errorType, as StepTimeout", async () => {
    await lambdaResult(failure({ errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: 3c4e Error: Task timed out after 30.00 seconds' }));
    // Older runtimes: no errorType, the message after a timestamp and the request id.
    await lambdaResult(failure({ errorMessage: '2019-11-24T21:52:47.694Z 8d6a2c4e Task timed out after 3.00 seconds' }));
    expect(published().map((e) => e.detail['error'])).toEqual([
      expect.objectContaining({ type: 'StepTimeout' }),
      expect.objectContaining({ type: 'StepTimeout' }),
    ]);
    expect(published().map((e) => e.detail['retrying'])).toEqual([true, true]);
  });

  it("keeps a handler's own error that mentions a timeout (ETIMEDOUT, a query timeout) as it is: no free move to the fallback", async () => {
    await lambdaResult(failure({ errorType: 'Error', errorMessage: 'connect ETIMEDOUT 10.0.0.1:5432' }));
    await lambdaResult(failure({ errorType: 'QueryTimeoutError', errorMessage: 'query timed out after 5 s' }));
    await lambdaResult(failure({ errorType: 'Error', errorMessage: 'upstream timeout' }, { functionError: 'Unhandled' }));
    expect(published().map((e) => e.detail['error'])).toEqual([
      { type: 'Error', message: 'connect ETIMEDOUT 10.0.0.1:5432' },
      { type: 'QueryTimeoutError', message: 'query timed out after 5 s' },
      { type: 'Error', message: 'upstream timeout' },
    ]);
    expect(published().map((e) => e.detail['retrying'])).toEqual([false, false, false]);
  });
});

describe('Batch job state bridge', () => {
  const env = (extra: Record<string, string> = {}) =>
    Object.entries({ JOINFLOW_WORKFLOW: 'wf', JOINFLOW_RUN_ID: 'r2', JOINFLOW_STEP: 'detect', JOINFLOW_ATTEMPT: '1', JOINFLOW_MAX_ATTEMPTS: '2', JOINFLOW_ITEM: '4', ...extra }).map(([name, value]) => ({ name, value }));
  const job = (status: string, extra: Record<string, unknown> = {}) => ({ id: 'e', source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: '', detail: { jobName: 'j', status, container: { environment: env() }, ...extra } });

  it('reads the output the job wrote to its output URI', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: outputKey({ runId: 'r2', step: 'detect', item: 4, attempt: 1 }), Body: JSON.stringify({ boxes: 3 }) }));
    await batchState(job('SUCCEEDED'));
    expect(published()).toEqual([{ type: 'Step Completed', bus: 'joinflow-test', detail: expect.objectContaining({ workflow: 'wf', runId: 'r2', step: 'detect', item: 4, attempt: 1, output: { boxes: 3 } }) }]);
  });

  it('fails the attempt, naming the object, when the job wrote an output that is not JSON (rather than failing the bridge for good)', async () => {
    const key = outputKey({ runId: 'r5', step: 'detect', item: 4, attempt: 1 });
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: 'boxes: 3\n' }));
    await batchState({ ...job('SUCCEEDED'), detail: { ...job('SUCCEEDED').detail, container: { environment: env({ JOINFLOW_RUN_ID: 'r5' }) } } });
    const [failed] = published();
    expect(failed).toMatchObject({ type: 'Step Failed', detail: { runId: 'r5', step: 'detect', item: 4, attempt: 1, retrying: true, error: { type: 'InvalidOutput' } } });
    expect((failed!.detail['error'] as { message: string }).message).toContain(`s3://${s3.bucket}/${key} is not JSON`);
  });

  it('gives null output when the job wrote none, and Step Failed with the reason on failure', async () => {
    await batchState({ ...job('SUCCEEDED'), detail: { ...job('SUCCEEDED').detail, container: { environment: env({ JOINFLOW_RUN_ID: 'r3' }) } } });
    await batchState(job('FAILED', { statusReason: 'Essential container in task exited', container: { environment: env(), exitCode: 137 } }));
    const [ok, failed] = published();
    expect(ok!.detail['output']).toBeNull();
    expect(failed).toMatchObject({ type: 'Step Failed', detail: { retrying: true, error: { type: 'BatchJobFailed' } } });
    expect((failed!.detail['error'] as { message: string }).message).toBe('Essential container in task exited; exit code 137');
  });
});

describe('S3 upload starts a run', () => {
  const created = (key: string, etag: string, object: Record<string, unknown> = {}) => ({ id: 'e', source: 'aws.s3', 'detail-type': 'Object Created', time: '', detail: { bucket: { name: s3.bucket }, object: { key, size: 20, etag, ...object } } });
  /** Uploads `body` and returns its ETag as S3's events give it (without quotes). */
  const upload = async (key: string, body: string | Uint8Array) => {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    return (await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))).ETag!.replace(/"/g, '');
  };

  it('starts the workflow named by the key with the JSON object as input, once per write of the object', async () => {
    const etag = await upload('runs/diamond/in.json', '{"x": 2}');
    await s3Start(created('runs/diamond/in.json', etag, { sequencer: '0064D3901D00059242' }));
    await s3Start(created('runs/diamond/in.json', etag, { sequencer: '0064D3901D00059242' }));
    // The same file uploaded again: the same ETag, another sequencer (S3 orders a key's writes by it).
    await s3Start(created('runs/diamond/in.json', etag, { sequencer: '0064D3901D00059250' }));
    const runs = published();
    expect(runs.map((r) => r.type)).toEqual(['Run Requested', 'Run Requested', 'Run Requested']);
    expect(runs[0]!.detail).toMatchObject({ workflow: 'diamond', input: { x: 2 } });
    // A redelivered notification names the same run (idempotent); another upload is another run.
    expect(runs[1]!.detail['runId']).toBe(runs[0]!.detail['runId']);
    expect(runs[2]!.detail['runId']).not.toBe(runs[0]!.detail['runId']);
  });

  it('passes a text object as text with a reference, a binary one (not UTF-8) by reference only, and starts nothing for a folder', async () => {
    const text = await upload('runs/fanout/notes.txt', 'hello');
    const binary = await upload('runs/fanout/image.bin', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe, 0x00, 0x01]));
    await s3Start(created('runs/fanout/notes.txt', text, { size: 5 }));
    await s3Start(created('runs/fanout/image.bin', binary, { size: 8 }));
    await s3Start(created('runs/fanout/', await upload('runs/fanout/', ''), { size: 0 }));
    expect(published().map((r) => r.detail['input'])).toEqual([
      { object: { bucket: s3.bucket, key: 'runs/fanout/notes.txt', size: 5 }, text: 'hello' },
      { object: { bucket: s3.bucket, key: 'runs/fanout/image.bin', size: 8 } },
    ]);
  });

  it('starts no run for a key of a workflow the stage does not have, and fails the invocation saying why when it has no DLQ to send it to', async () => {
    const etag = await upload('runs/nosuch/file.json', '{}');
    await expect(s3Start(created('runs/nosuch/file.json', etag))).rejects.toThrow(`cannot dead-letter an event (upload s3://${s3.bucket}/runs/nosuch/file.json starts no run: the stage has no workflow "nosuch"`);
    expect(published()).toEqual([]);
  });
});
