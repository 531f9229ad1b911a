/**
 * Builds the AWS adapters a handler needs, once per Lambda container (cold start), from the
 * environment. Tests build it with emulator endpoints through the same function.
 */
import { randomUUID } from 'node:crypto';
import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { runIdCommand } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { BlobStore, EventBus, TriggerStore } from '../../ports.ts';
import { TriggerProcessor } from '../../runtime/processor.ts';
import { clientOptions, configFromEnv, type AwsConfig } from './config.ts';
import { createJobBook, stopRunJobs, type JobBook, type JobRef, type RunJob } from './batch-jobs.ts';
import { dispatchTask } from './dispatch.ts';
import { createDynamoDbStore } from './dynamodb-store.ts';
import type { EffectDeps } from './effects.ts';
import { createEventBridgeBus } from './eventbridge-bus.ts';
import { awsWidest } from './foreach-width.ts';
import { loadPlans } from './plans.ts';
import { createRetention } from './retention.ts';
import { createS3BlobStore } from './s3-blobs.ts';
import { createDueNotes } from './timer-dues.ts';
import { log } from './log.ts';
import { createSqsDispatcher } from './sqs-executor.ts';

/** Everything a handler uses. */
export type Wiring = {
  config: AwsConfig;
  plans: TriggerPlan[];
  store: TriggerStore;
  bus: EventBus;
  blobs: BlobStore | undefined;
  s3: S3Client;
  processor: TriggerProcessor;
  effects: EffectDeps;
  /** The runs' Batch jobs (batch-jobs.ts): noted at dispatch, stopped when their run ends. */
  jobs: JobBook;
};

let cached: Wiring | undefined;

/** The wiring of this container (built on first use). */
export function wiring(): Wiring {
  cached ??= buildWiring(configFromEnv(), loadPlans());
  return cached;
}

/** Forgets the cached wiring (tests change the environment between cases). */
export function resetWiring(): void {
  cached = undefined;
}

/** Builds the wiring for a configuration and plans. */
export function buildWiring(config: AwsConfig, plans: TriggerPlan[]): Wiring {
  const s3 = new S3Client(clientOptions(config, 's3'));
  const sqs = new SQSClient(clientOptions(config, 'sqs'));
  const blobs = config.bucket ? createS3BlobStore({ client: s3, bucket: config.bucket }) : undefined;
  const dynamo = new DynamoDBClient(clientOptions(config, 'dynamodb'));
  const store = createDynamoDbStore({ client: dynamo, table: config.table, plans, ...(blobs ? { blobs } : {}) });
  // The same expiry as the store's items: a Batch job's note lives as long as its run's other items.
  const retention = createRetention({ plans });
  const jobs = createJobBook(dynamo, config.table, retention);
  const bus = createEventBridgeBus({ client: new EventBridgeClient(clientOptions(config, 'eventbridge')), busName: config.bus, ...(blobs ? { blobs } : {}) });
  const clock = { now: Date.now };
  // carryOut ends a run in the table, then puts its Run Succeeded / Failed: a redelivery announces what a crash between them lost.
  // The lease outlasts the invocation (config.leaseMs): a claim is never taken over from a live processor.
  const processor = new TriggerProcessor({ store, clock, newId: randomUUID, widest: awsWidest(), reannounceEndings: true, leaseMs: config.leaseMs });
  for (const plan of plans) processor.register(plan);
  const lambda = new LambdaClient(clientOptions(config, 'lambda'));
  // Batch takes at most 50 SubmitJob calls a second per account (fixed), and a forEach's jobs go
  // 32 at a time: throttled calls are retried, the client slowing down, rather than failing the
  // invocation after the SDK's default 3 attempts.
  const batch = new BatchClient({ ...clientOptions(config, 'batch'), retryMode: 'adaptive', maxAttempts: 8 });
  const queue = createSqsDispatcher({
    client: sqs,
    queueUrl: (name) => {
      const url = config.queueUrls[name];
      if (!url) throw new Error(`no SQS queue is deployed for container queue "${name}": redeploy`);
      return url;
    },
  });
  const effects: EffectDeps = {
    store,
    bus,
    sqs,
    dispatch: (task) =>
      dispatchTask(task, {
        config,
        lambda,
        batch,
        sendToQueue: (t) => queue.dispatch(t),
        noteSubmit: (t, job) => jobs.submitting(t, job, clock.now()),
        recordJob: async (t, jobId) => {
          const unnoted = await jobs.submitted(t, jobId, clock.now()).then(() => undefined, (error: unknown) => error);
          // A run that ended while this job was submitted may have read its list before the job
          // joined it: then its end stops nothing of this job, so the job is stopped here (found
          // by its name when its id could not be noted).
          const status = await jobs.runStatus(t.runId).catch((error: unknown) => {
            log('warn', `could not read the run's status after submitting Batch job ${jobId} (${(error as Error).message}): if the run has just ended, the job runs to its end`, { runId: t.runId, step: t.step });
            return undefined;
          });
          if (status !== undefined && status !== 'running') await stopJobsOf(jobs, batch, t.runId, status, unnoted === undefined ? undefined : { ref: t, jobId });
          if (unnoted !== undefined) throw unnoted;
        },
        ...(blobs ? { putBlob: (k: string, b: string) => blobs.put(k, b) } : {}),
      }),
    timerQueueUrl: config.timerQueueUrl,
    dlqUrl: config.dlqUrl,
    now: clock.now,
    newId: randomUUID,
    blobs,
    // When a delayed start or a retry is due, beside the claim the timer starts it with: for `status`.
    noteDue: createDueNotes(dynamo, config.table, retention),
    // Only a stage with Batch steps has jobs to stop: the others' runs end without a query.
    ...(Object.keys(config.jobDefinitions).length > 0 || (config.namePrefix !== undefined && plans.some(hasBatchStep)) ? { stopJobs: (runId: string, status: string) => stopJobsOf(jobs, batch, runId, status) } : {}),
  };
  return { config, plans, store, bus, blobs, s3, processor, effects, jobs };
}

/** Whether a plan submits Batch jobs: a batch step, or an `auto` step's Batch fallback. */
function hasBatchStep(plan: TriggerPlan): boolean {
  return Object.values(plan.steps).some((s) => s.executor.type === 'batch' || s.fallback !== undefined);
}

/** How long the processor spends stopping an ended run's Batch jobs (its timeout is 50 s, the timer's 60 s). */
const STOP_BUDGET_MS = 40_000;
/** What an invocation keeps after stopping jobs: its logs, its commit, its answer. */
const END_MARGIN_MS = 10_000;

/** The part of Lambda's context object joinflow reads. */
export type LambdaContext = { getRemainingTimeInMillis?: () => number };

/** When the running Lambda invocation times out (epoch ms), if its context said; see beginInvocation. */
let invocationEnd: number | undefined;

/**
 * Notes when the running invocation times out (the context's getRemainingTimeInMillis), so that
 * stopping jobs stops in time even when one invocation ends several runs (a timer batch of 10).
 */
export function beginInvocation(context?: LambdaContext): void {
  const left = context?.getRemainingTimeInMillis?.();
  invocationEnd = typeof left === 'number' && Number.isFinite(left) ? Date.now() + left : undefined;
}

/**
 * Stops the Batch jobs an ended run left running, logging each. Never throws: the run has ended,
 * and a failed invocation would not end it again (a job left running is logged as an error).
 */
async function stopJobsOf(jobs: JobBook, batch: BatchClient, runId: string, status: string, known?: { ref: JobRef; jobId: string }): Promise<void> {
  try {
    // The processor Lambda has 50 s: leave it time to finish its invocation.
    const deadline = Math.min(Date.now() + STOP_BUDGET_MS, invocationEnd === undefined ? Infinity : invocationEnd - END_MARGIN_MS);
    const report = await stopRunJobs(jobs, batch, runId, `joinflow: run ${runId} ${status}`, { deadline, ...(known === undefined ? {} : { known }) });
    for (const { job, jobId } of report.stopped) log('info', `stopped Batch job ${jobId}: the run ${status}`, ref(job));
    for (const { job, jobId, error } of report.failed) log('error', `could not stop Batch job ${jobId} (${error}): it runs to its end`, ref(job));
    for (const { job, error } of report.unsought) log('error', `could not look for the Batch job named ${job.unnoted!.name} in queue ${job.unnoted!.queue}, whose id was not noted (${error}): if it was submitted, it runs to its end`, ref(job));
    if (report.left > 0) log('error', `${report.left} Batch job(s) of the run were not stopped in time: \`${runIdCommand('cancel', runId, ' --stage <stage>')}\` stops them`, { runId });
  } catch (error) {
    log('error', `could not read the run's Batch jobs to stop them (${(error as Error).message}): those still running run to their end`, { runId });
  }
}

function ref(job: RunJob): { runId: string; step: string; attempt: number; item?: number } {
  return { runId: job.runId, step: job.step, attempt: job.attempt, ...(job.item === undefined ? {} : { item: job.item }) };
}
