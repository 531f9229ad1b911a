/**
 * The AWS handlers called in process by the tests of one file, on emulators: DynamoDB on
 * dynalite (the store's table); S3 on s3rver (the bucket that keeps claim-checked results),
 * unless the file asks for none; SQS on fauxqs for the queues the file asks for (by default the
 * events DLQ and the timer queue of retries and delayed starts; the timer DLQ too, or none at
 * all, and then no fauxqs); the plans of the file's workflows deployed, each step with its
 * function's name; EventBridge, Lambda and Batch (no emulators) through aws-sdk-client-mock,
 * reset before each test to accept every call. The emulators start before the file's tests and
 * stop after them; the wiring is rebuilt and the clock made real after each test, and the
 * environment is restored after the file.
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
import type { TriggerPlan } from '../../src/model/plan.ts';
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

/** A queue on fauxqs a file can ask for, and the variable that names it to the handlers. */
const QUEUE_ENV = { dlq: 'JOINFLOW_DLQ_URL', timer: 'JOINFLOW_TIMER_QUEUE_URL', 'timer-dlq': 'JOINFLOW_TIMER_DLQ_URL' } as const;
type QueueName = keyof typeof QUEUE_ENV;

/** What {@link handlersOnEmulators} sets up. */
export type EmulatorOptions = {
  /** Names the table (`joinflow-<name>`), bucket, queues (`<name>-dlq`, ...) and temp dirs. */
  name: string;
  workflows: ReadonlyArray<{ name: string; steps: Record<string, unknown> }>;
  /** The job definition of each Batch step, by `<workflow>/<step>`. */
  jobDefinitions: Record<string, string>;
  /** false: no s3rver and no JOINFLOW_BUCKET (a result too large for an item is not kept). Default true. */
  bucket?: boolean;
  /** The queues made on fauxqs and named in the environment; none: no fauxqs. Default: the events DLQ and the timer queue. */
  queues?: ReadonlyArray<QueueName>;
};

/**
 * Starts the emulators around the file's tests, with the plans of `workflows` deployed (each
 * step's function named `joinflow-test-s-<workflow>-<step>`) and `jobDefinitions` for its Batch
 * steps. Call it at the top of the file, before the file's own hooks.
 */
export function handlersOnEmulators(o: EmulatorOptions) {
  const eb = mockClient(EventBridgeClient);
  const lambda = mockClient(LambdaClient);
  const batch = mockClient(BatchClient);
  const saved = { ...process.env };
  const tmp = tempDirs(`jf-aws-${o.name}-`);
  const table = `joinflow-${o.name}`;
  const queues = o.queues ?? ['dlq', 'timer'];
  const plans = new Map<string, TriggerPlan>();
  const queueUrls: Partial<Record<QueueName, string>> = {};
  let dynamo: DynaliteHandle;
  let s3: S3rverHandle | undefined;
  let fauxqs: FauxqsServer | undefined;
  let sqs: SQSClient | undefined;

  beforeAll(async () => {
    dynamo = await startDynalite();
    await dynamo.client.send(new CreateTableCommand(tableDefinition(table)));
    const triggers = path.join(tmp(), 'triggers');
    mkdirSync(triggers);
    const functions: Record<string, string> = {};
    for (const w of o.workflows) {
      const plan = compileWorkflow(w, { source: `workflows/${w.name}.yaml` });
      plans.set(w.name, plan);
      writeFileSync(path.join(triggers, `${w.name}.json`), serializePlan(plan));
      for (const step of Object.keys(w.steps)) functions[`${w.name}/${step}`] = `joinflow-test-s-${w.name}-${step}`;
    }
    useHandlerEnv({ triggers, table, dynamoEndpoint: dynamo.endpoint, functions, jobDefinitions: o.jobDefinitions });
    if (o.bucket ?? true) {
      s3 = await startS3rver(`${o.name}-bucket`);
      // s3rver checks its own credentials; dynalite and fauxqs take any.
      Object.assign(process.env, { JOINFLOW_BUCKET: s3.bucket, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    }
    if (queues.length > 0) {
      fauxqs = await startFauxqs({ port: 0, logger: false });
      const endpoint = `http://127.0.0.1:${fauxqs.port}`;
      sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      process.env['AWS_ENDPOINT_URL_SQS'] = endpoint;
      for (const q of queues) {
        queueUrls[q] = (await sqs.send(new CreateQueueCommand({ QueueName: `${o.name}-${q}` }))).QueueUrl!;
        process.env[QUEUE_ENV[q]] = queueUrls[q];
      }
    }
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

  /** Moves the handlers' clock (Date.now, which the wiring reads) forward by `ms`. */
  const later = (ms: number): void => {
    const now = Date.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now + ms);
    // The wiring keeps the Date.now it was built with.
    resetWiring();
  };

  /** The URL of a queue the file asked for. */
  const queueUrl = (q: QueueName): string => started(queueUrls[q], `the ${q} queue`);

  return {
    eb,
    lambda,
    batch,
    submitsJobs,
    /** The store's table. */
    table,
    /** The compiled plans of the workflows, by name (filled before the file's tests). */
    plans: plans as ReadonlyMap<string, TriggerPlan>,
    /** dynalite, with a client (inside a test: started before the file's tests). */
    get dynamo(): DynaliteHandle {
      return dynamo;
    },
    /** The bucket (inside a test: started before the file's tests). */
    get s3(): S3rverHandle {
      return started(s3, 'the bucket');
    },
    /** A client of fauxqs (inside a test: started before the file's tests). */
    get sqs(): SQSClient {
      return started(sqs, 'fauxqs');
    },
    queueUrl,
    /** The detail types of the events put on the bus since the test began, in order. */
    publishedTypes: () => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).map((e) => e.DetailType),
    /** The timer queue's messages (retries and delayed starts), read off it. */
    async timerMessages<T = unknown>(): Promise<T[]> {
      const got = await started(sqs, 'fauxqs').send(new ReceiveMessageCommand({ QueueUrl: queueUrl('timer'), MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      return (got.Messages ?? []).map((m) => JSON.parse(m.Body!) as T);
    },
    /** The events DLQ's messages, read off it. */
    async deadLetters<T = { reason: string }>(): Promise<T[]> {
      const out: T[] = [];
      for (;;) {
        const got = await started(sqs, 'fauxqs').send(new ReceiveMessageCommand({ QueueUrl: queueUrl('dlq'), MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
        if (!got.Messages?.length) return out;
        out.push(...got.Messages.map((m) => JSON.parse(m.Body!) as T));
      }
    },
    later,
    /** Moves the handlers' clock past the processor's lease. */
    pastTheLease: (): void => later(120_000),
  };
}

/** `value`, which the file's options start; a test of a file that did not ask for it fails saying so. */
function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`handlersOnEmulators: ${what} was not asked for (or is not started yet)`);
  return value;
}
