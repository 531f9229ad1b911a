/**
 * Fallback to Batch on AWS, through the real handlers: the processor Lambda invokes the step's
 * Lambda (its payload marks the fallback); the Lambda-result bridge turns a Lambda timeout into a
 * retrying Step Failed even on the last attempt; the processor then submits the next attempt to
 * AWS Batch (SubmitJob on the CPU queue with the fallback job definition, its size, placement and
 * no Lambda timeout); the Batch bridge's Step Completed finishes the run. DynamoDB on dynalite, no
 * bucket, no queues; EventBridge, Lambda and Batch (no emulators) through aws-sdk-client-mock
 * (handler-emulators.ts).
 */
import { randomUUID } from 'node:crypto';
import { SubmitJobCommand } from '@aws-sdk/client-batch';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { batchState, lambdaResult } from '../../src/adapters/aws/handlers/bridges.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { handlersOnEmulators, type Envelope } from '../helpers/handler-emulators.ts';

const fbw = {
  name: 'fbw',
  steps: {
    slow: {
      executor: { type: 'auto', module: './handlers/slow.ts', export: 'slow', image: 'example/slow:1', command: ['slow'], env: { MODE: 'full' } },
      resources: { memoryMb: 1024, expectedSeconds: 60 },
      timeoutMs: 30_000,
      fallback: 'batch',
    },
  },
};
// No bucket and no queues: the retry goes to Batch at once, not through a timer queue.
const world = handlersOnEmulators({ name: 'fallback', workflows: [fbw], jobDefinitions: { 'fbw/slow': 'joinflow-test-fbw-slow' }, bucket: false, queues: [] });
const { eb, lambda, batch, table: TABLE } = world;

/** Events the handlers put on the bus, as EventBridge would deliver them to a rule target. */
function delivered(detailType: string): Envelope[] {
  return eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? [])
    .filter((e) => e.DetailType === detailType)
    .map((e) => ({ id: randomUUID(), source: e.Source!, 'detail-type': e.DetailType!, time: new Date().toISOString(), detail: JSON.parse(e.Detail!) }));
}

const awsEvent = (type: string, detail: Record<string, unknown>) => ({ id: randomUUID(), source: 'joinflow', 'detail-type': type, time: new Date().toISOString(), detail });

describe('fallback to Batch on AWS', () => {
  it('moves a timed-out Lambda attempt to a Batch job and finishes the run from its result', async () => {
    await processor({ trigger: 'fbw/slow', event: awsEvent('Run Requested', { workflow: 'fbw', runId: 'fb-1', input: { x: 1 } }) });

    // Attempt 1 on Lambda; the payload tells the result bridge that a timeout falls back.
    const invokes = lambda.commandCalls(InvokeCommand);
    expect(invokes).toHaveLength(1);
    expect(invokes[0]!.args[0].input.FunctionName).toBe('joinflow-test-s-fbw-slow');
    const payload = JSON.parse(new TextDecoder().decode(invokes[0]!.args[0].input.Payload as Uint8Array));
    expect(payload).toEqual({
      input: { x: 1 },
      results: {},
      joinflow: { workflow: 'fbw', runId: 'fb-1', step: 'slow', attempt: 1, maxAttempts: 1, placement: 'lambda', fallback: 'batch', runStartedAt: expect.any(Number) },
    });

    // Lambda times out (its destination record): retrying, although attempt 1 of 1.
    await lambdaResult({
      id: 'd1', source: 'lambda', 'detail-type': 'Lambda Function Invocation Result - Failure', time: '',
      detail: { requestPayload: payload, responsePayload: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 30.00 seconds' }, responseContext: { functionError: 'Unhandled' } },
    });
    const failed = delivered('Step Failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.detail).toMatchObject({ step: 'slow', attempt: 1, retrying: true, placement: 'lambda', error: { type: 'StepTimeout' } });

    // The retry trigger submits attempt 2 to Batch at once (no timer queue is configured).
    await processor({ trigger: 'fbw/$retry', event: failed[0]! });
    const submits = batch.commandCalls(SubmitJobCommand);
    expect(submits).toHaveLength(1);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    const job = submits[0]!.args[0].input;
    expect(job.jobQueue).toBe('arn:aws:batch:us-east-1:1:job-queue/cpu');
    expect(job.jobDefinition).toBe('joinflow-test-fbw-slow');
    expect(job.jobName).toBe('jf-fbw-slow-x-2');
    // Fargate, at least the CPU the step had on Lambda (1,024 MB there is 0.58 vCPU).
    expect(job.containerOverrides?.resourceRequirements).toEqual([
      { type: 'VCPU', value: '1' },
      { type: 'MEMORY', value: '2048' },
    ]);
    const env = Object.fromEntries((job.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));
    // The job definition is shared by the workflow's steps of this image: the step's command and
    // its own variables go with the job.
    expect(job.containerOverrides?.command).toEqual(['slow']);
    expect(env).toEqual({
      MODE: 'full',
      JOINFLOW_WORKFLOW: 'fbw',
      JOINFLOW_RUN_ID: 'fb-1',
      JOINFLOW_STEP: 'slow',
      JOINFLOW_ATTEMPT: '2',
      JOINFLOW_MAX_ATTEMPTS: '2',
      JOINFLOW_PLACEMENT: 'batch-cpu',
      JOINFLOW_EVENT: JSON.stringify({ input: { x: 1 }, results: {} }),
    });
    // The Lambda timeout does not bound the Batch attempt.
    expect(job.timeout).toBeUndefined();

    // Batch reports the job; its Step Completed says where it ran, and the run succeeds.
    await batchState({
      id: 'b1', source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: '',
      detail: { jobName: job.jobName!, status: 'SUCCEEDED', container: { environment: job.containerOverrides!.environment!.map((e) => ({ name: e.name!, value: e.value! })) } },
    });
    const completed = delivered('Step Completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]!.detail).toMatchObject({ workflow: 'fbw', runId: 'fb-1', step: 'slow', attempt: 2, placement: 'batch-cpu', output: null });
    await processor({ trigger: 'fbw/$succeed', event: completed[0]! });
    const status = await readRunStatus(world.dynamo.client, TABLE, 'fb-1');
    expect(status?.run).toMatchObject({ status: 'succeeded', output: { slow: null } });
  });

  it('fails the step for good when the Batch fallback attempt fails on its last attempt', async () => {
    await batchState({
      id: 'b2', source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: '',
      detail: {
        jobName: 'j', status: 'FAILED', statusReason: 'Essential container in task exited',
        container: { exitCode: 1, environment: Object.entries({ JOINFLOW_WORKFLOW: 'fbw', JOINFLOW_RUN_ID: 'fb-2', JOINFLOW_STEP: 'slow', JOINFLOW_ATTEMPT: '2', JOINFLOW_MAX_ATTEMPTS: '2', JOINFLOW_PLACEMENT: 'batch-cpu' }).map(([name, value]) => ({ name, value })) },
      },
    });
    const failed = delivered('Step Failed').filter((e) => e.detail['runId'] === 'fb-2');
    expect(failed.map((e) => e.detail)).toEqual([expect.objectContaining({ attempt: 2, placement: 'batch-cpu', retrying: false, error: { type: 'BatchJobFailed', message: 'Essential container in task exited; exit code 1' } })]);
  });
});
