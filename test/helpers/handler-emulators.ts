/**
 * The AWS handlers called in process by the tests of one file, on emulators: DynamoDB on
 * dynalite (the store's table), S3 on s3rver (the bucket that keeps claim-checked results), the
 * events DLQ on fauxqs; EventBridge, Lambda and Batch (no emulators) through aws-sdk-client-mock,
 * reset before each test to accept every call; the timer queue (retries) on fauxqs too. The emulators start before the file's tests and
 * stop after them, and the environment is restored.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, beforeEach, vi } from 'vitest';
import { tableDefinition } from '../../src/adapters/aws/dynamodb-store.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import { compileWorkflow, serializePlan } from '../../src/compiler/compile.ts';
import { startDynalite, type DynaliteHandle } from './dynalite.ts';
import { useHandlerEnv } from './handler-env.ts';
import { startS3rver, type S3rverHandle } from './s3rver.ts';
import { tempDirs } from './tmp.ts';

/** An event as the processor receives it from EventBridge. */
export type Envelope = { id: string; source: string; 'detail-type': string; time: string; detail: Record<string, unknown> };

/** A Lambda function step running export `name` of the test's handler module. */
export const fn = (name: string) => ({ type: 'function', module: './handlers/h.ts', export: name }) as const;

/** A Batch job step. */
export const job = { type: 'batch', image: 'i:1', command: ['c'], vcpus: 1, memoryMb: 2048 } as const;

/** Over the 350 KB a DynamoDB item keeps: the store puts it in the bucket and keeps a reference. */
export const large = (tag: string) => ({ tag, pad: 'x'.repeat(360 * 1024) });

/**
 * Starts the emulators around the file's tests, with the plans of `workflows` deployed (each
 * step's function named `joinflow-test-s-<workflow>-<step>`) and `jobDefinitions` for its Batch
 * steps. `name` names the table, bucket, queue and temp dirs. Call it at the top of the file.
 */
export function handlersOnEmulators(o: { name: string; workflows: ReadonlyArray<{ name: string; steps: Record<string, unknown> }>; jobDefinitions: Record<string, string> }) {
  const eb = mockClient(EventBridgeClient);
  const lambda = mockClient(LambdaClient);
  const batch = mockClient(BatchClient);
  const saved = { ...process.env };
  const tmp = tempDirs(`jf-aws-${o.name}-`);
  const table = `joinflow-${o.name}`;
  let dynamo: DynaliteHandle;
  let s3: S3rverHandle;
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let dlq: string;
  let timerQueue: string;

  beforeAll(async () => {
    dynamo = await startDynalite();
    await dynamo.client.send(new CreateTableCommand(tableDefinition(table)));
    s3 = await startS3rver(`${o.name}-bucket`);
    fauxqs = await startFauxqs({ port: 0, logger: false });
    const endpoint = `http://127.0.0.1:${fauxqs.port}`;
    sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `${o.name}-dlq` }))).QueueUrl!;
    timerQueue = (await sqs.send(new CreateQueueCommand({ QueueName: `${o.name}-timer` }))).QueueUrl!;
    const triggers = path.join(tmp(), 'triggers');
    mkdirSync(triggers);
    const functions: Record<string, string> = {};
    for (const w of o.workflows) {
      writeFileSync(path.join(triggers, `${w.name}.json`), serializePlan(compileWorkflow(w, { source: `workflows/${w.name}.yaml` })));
      for (const step of Object.keys(w.steps)) functions[`${w.name}/${step}`] = `joinflow-test-s-${w.name}-${step}`;
    }
    useHandlerEnv({ triggers, table, dynamoEndpoint: dynamo.endpoint, functions, jobDefinitions: o.jobDefinitions });
    // s3rver checks its own credentials; dynalite and fauxqs take any.
    Object.assign(process.env, { JOINFLOW_BUCKET: s3.bucket, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_ENDPOINT_URL_SQS: endpoint, JOINFLOW_DLQ_URL: dlq, JOINFLOW_TIMER_QUEUE_URL: timerQueue });
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

  /** Batch accepts every job, with a fresh job id. */
  const submitsJobs = () => batch.on(SubmitJobCommand).callsFake(async (input: { jobName?: string }) => ({ jobId: `job-${randomUUID()}`, jobName: input.jobName }));

  beforeEach(() => {
    eb.reset();
    lambda.reset();
    batch.reset();
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    submitsJobs();
  });

  afterEach(() => {
    vi.useRealTimers();
    resetWiring();
  });

  return {
    eb,
    lambda,
    batch,
    submitsJobs,
    /** The bucket (inside a test: started before the file's tests). */
    get s3(): S3rverHandle {
      return s3;
    },
    /** The detail types of the events put on the bus since the test began, in order. */
    publishedTypes: () => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).map((e) => e.DetailType),
    /** The timer queue's messages (retries and delayed starts), read off it. */
    async timerMessages<T = unknown>(): Promise<T[]> {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: timerQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      return (got.Messages ?? []).map((m) => JSON.parse(m.Body!) as T);
    },
    /** The events DLQ's messages, read off it. */
    async deadLetters<T = { reason: string }>(): Promise<T[]> {
      const out: T[] = [];
      for (;;) {
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
        if (!got.Messages?.length) return out;
        out.push(...got.Messages.map((m) => JSON.parse(m.Body!) as T));
      }
    },
    /** Moves the handlers' clock (Date.now, which the wiring reads) past the processor's lease. */
    pastTheLease(): void {
      const now = Date.now();
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(now + 120_000);
      resetWiring();
    },
  };
}
