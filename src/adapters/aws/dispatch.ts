/**
 * Hands tasks to AWS executors: `function` steps to their Lambda (async invoke, results come
 * back through Lambda destinations), `batch` steps to AWS Batch, `container` steps to their SQS
 * queue. `process` and `simulate` steps only exist on the embedded engine.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SubmitJobCommand, type BatchClient } from '@aws-sdk/client-batch';
import type { Task } from '../../ports.ts';
import type { AwsConfig } from './config.ts';
import { log } from './log.ts';
import { jobDefinitionName, stepFunctionName } from './resource-names.ts';
import { dataUri } from './s3-data.ts';

/** What a dispatcher needs. `sqs` sends container tasks (see sqs-executor.ts). */
export type DispatchDeps = {
  config: AwsConfig;
  lambda: LambdaClient;
  batch: BatchClient;
  sendToQueue: (task: Task) => Promise<void>;
  /**
   * Notes, before SubmitJob, the job about to be submitted (batch-jobs.ts): a failure stops the
   * dispatch before anything runs, and a job whose id is never noted can still be found. False:
   * a job of this attempt was submitted and noted already, so it is not submitted again.
   */
  noteSubmit?: (task: Task, job: { name: string; queue: string }) => Promise<boolean | void>;
  /** Notes a submitted Batch job in the run's items (batch-jobs.ts), so that its run's end can stop it. */
  recordJob?: (task: Task, jobId: string) => Promise<void>;
  /** Stores a large task event and returns its reference (S3 claim check). */
  putBlob?: (key: string, body: string) => Promise<string>;
};

/** Why a task cannot run on AWS: reported as a non-retriable Step Failed by the caller. */
export class UndispatchableError extends Error {}

/** Lambda's limit on an asynchronous invocation's payload. */
const ASYNC_INVOKE_LIMIT = 256 * 1024;
/** Batch environment variables are small; larger events go to S3. */
const BATCH_ENV_LIMIT = 4 * 1024;
/** A job's command and environment, as JSON: SubmitJob's payload is at most 30 KiB, with room left for the rest. */
const SUBMIT_OVERRIDES_LIMIT = 28 * 1024;
/** File lists longer than this go to S3 as JSON too (container overrides are capped at 8 KB). */
const BATCH_FILES_LIMIT = 2 * 1024;

/** The metadata joinflow adds to a function step's event, read back by the result bridge. */
export type TaskMeta = {
  workflow: string;
  runId: string;
  step: string;
  attempt: number;
  maxAttempts: number;
  item?: number;
  /** Placed (`auto`) steps: where the attempt runs, and whether a timeout falls back to Batch. */
  placement?: string;
  fallback?: 'batch';
  /** When the run started (ms since the epoch): a Lambda context cannot carry the StepContext's `runStartedAt`. */
  runStartedAt?: number;
};

/** Task metadata without the payload. */
export function taskMeta(task: Task): TaskMeta {
  return {
    workflow: task.workflow,
    runId: task.runId,
    step: task.step,
    attempt: task.attempt,
    maxAttempts: task.maxAttempts,
    ...(task.item === undefined ? {} : { item: task.item }),
    ...(task.placement === undefined ? {} : { placement: task.placement }),
    ...(task.fallback === undefined ? {} : { fallback: task.fallback }),
    ...(task.runStartedAt === undefined ? {} : { runStartedAt: task.runStartedAt }),
  };
}

/** Sends one task to where it runs on AWS. */
export async function dispatchTask(task: Task, deps: DispatchDeps): Promise<void> {
  const key = `${task.workflow}/${task.step}`;
  switch (task.executor.type) {
    case 'function': {
      // Steps that differ only by params share their workflow's function of that handler (deploy/lib.cjs).
      const { namePrefix } = deps.config;
      const fn =
        deps.config.functions[key] ??
        (task.executor.params === undefined ? undefined : deps.config.functions[`${task.workflow}/@${task.executor.module}#${task.executor.export}`]) ??
        (namePrefix === undefined ? undefined : stepFunctionName(namePrefix, task.workflow, task.step, task.executor));
      if (!fn) throw new UndispatchableError(`no Lambda function is deployed for function step "${key}": redeploy (serverless deploy)`);
      // The handler sees the ordinary step event; `joinflow` rides along for the result bridge.
      const payload = JSON.stringify({ ...task.event, joinflow: taskMeta(task) });
      // The user's handler is the Lambda handler itself, so it cannot resolve a claim check:
      // an event past the async-invoke limit fails the step with advice instead.
      const bytes = Buffer.byteLength(payload);
      if (bytes > ASYNC_INVOKE_LIMIT) {
        throw new UndispatchableError(`the event of function step "${key}" is ${bytes} bytes, over Lambda's 256 KB asynchronous invocation limit: pass large data by reference (an S3 key) or use a container or batch step`);
      }
      await deps.lambda.send(new InvokeCommand({ FunctionName: fn, InvocationType: 'Event', Payload: new TextEncoder().encode(payload) }));
      return;
    }
    case 'batch': {
      const definition = deps.config.jobDefinitions[key] ?? (deps.config.namePrefix === undefined ? undefined : jobDefinitionName(deps.config.namePrefix, task.workflow, task.executor));
      const queue = task.executor.gpus > 0 ? deps.config.jobQueues.gpu : deps.config.jobQueues.cpu;
      if (!definition || !queue) throw new UndispatchableError(`no Batch job definition or queue is deployed for batch step "${key}": redeploy`);
      const event = JSON.stringify(task.event);
      // The step's own variables, then joinflow's: the job definition is shared by the workflow's steps of this image.
      const env: Array<{ name: string; value: string }> = Object.entries({
        ...task.executor.env,
        JOINFLOW_WORKFLOW: task.workflow,
        JOINFLOW_RUN_ID: task.runId,
        JOINFLOW_STEP: task.step,
        JOINFLOW_ATTEMPT: String(task.attempt),
        JOINFLOW_MAX_ATTEMPTS: String(task.maxAttempts),
        ...(task.item === undefined ? {} : { JOINFLOW_ITEM: String(task.item) }),
        // Read back by the Batch bridge: a fallback attempt's failure must say it ran on Batch.
        ...(task.placement === undefined ? {} : { JOINFLOW_PLACEMENT: task.placement }),
        ...(deps.config.bucket ? { JOINFLOW_OUTPUT_URI: `s3://${deps.config.bucket}/${outputKey(task)}` } : {}),
      }).map(([name, value]) => ({ name, value }));
      if (Buffer.byteLength(event) <= BATCH_ENV_LIMIT) env.push({ name: 'JOINFLOW_EVENT', value: event });
      else if (deps.putBlob) env.push({ name: 'JOINFLOW_EVENT_URI', value: await deps.putBlob(`runs/${task.runId}/events/${task.step}.${task.item ?? ''}.${task.attempt}.json`, event) });
      else throw new UndispatchableError(`the event of batch step "${key}" is too large for the job environment and no bucket is configured`);
      if (task.files) env.push(...(await dataEnv(task, key, deps)));
      // Batch takes at most 30 KiB of SubmitJob payload; the command and variables are most of it.
      const overrides = Buffer.byteLength(JSON.stringify([task.executor.command, env]));
      if (overrides > SUBMIT_OVERRIDES_LIMIT) {
        throw new UndispatchableError(`the command and environment of batch step "${key}" are ${overrides} bytes, over the ${SUBMIT_OVERRIDES_LIMIT} a Batch job may be given (SubmitJob takes at most 30 KiB): shorten its command or its data file lists`);
      }
      const e = task.executor;
      const name = jobName(task);
      if ((await deps.noteSubmit?.(task, { name, queue })) === false) {
        // A job of this very attempt was submitted and noted (a duplicate or taken-over dispatch).
        log('info', `Batch job ${name} was submitted already: not submitted again`, { runId: task.runId, step: task.step, attempt: task.attempt });
        return;
      }
      const submitted = await deps.batch.send(new SubmitJobCommand({
        jobName: name,
        jobQueue: queue,
        jobDefinition: definition,
        containerOverrides: {
          ...(task.executor.command.length > 0 ? { command: task.executor.command } : {}),
          environment: env,
          resourceRequirements: [
            { type: 'VCPU', value: String(e.vcpus) },
            { type: 'MEMORY', value: String(e.memoryMb) },
            ...(e.gpus > 0 ? [{ type: 'GPU' as const, value: String(e.gpus) }] : []),
          ],
        },
        ...(task.timeoutMs === undefined ? {} : { timeout: { attemptDurationSeconds: Math.max(60, Math.ceil(task.timeoutMs / 1000)) } }),
        tags: { 'joinflow:run': task.runId, 'joinflow:step': task.step },
      }));
      const jobId = submitted?.jobId;
      if (jobId && deps.recordJob) {
        // Failing here must not submit the job again (a retried invocation would): say so and go on.
        try {
          await deps.recordJob(task, jobId);
        } catch (error) {
          log('warn', `Batch job ${jobId} was submitted but its id could not be noted in the table (${(error as Error).message}): if its run ends first, it is looked for by its name (${name}) in queue ${queue}`, { runId: task.runId, step: task.step, attempt: task.attempt });
        }
      }
      return;
    }
    case 'container':
      await deps.sendToQueue(task);
      return;
    case 'process':
    case 'simulate':
      throw new UndispatchableError(`step "${key}" is a ${task.executor.type} step, which runs only on the embedded engine; use a batch or container step on AWS`);
  }
}

/**
 * A batch step's data files: the run's S3 prefix in JOINFLOW_DATA_URI and the names, one per
 * line, in JOINFLOW_INPUTS / JOINFLOW_OUTPUTS — or, when the lists are long, as JSON
 * {inputs, outputs} in the object JOINFLOW_FILES_URI names. The job downloads and uploads them.
 */
async function dataEnv(task: Task, key: string, deps: DispatchDeps): Promise<Array<{ name: string; value: string }>> {
  const files = task.files!;
  const bucket = deps.config.bucket;
  if (!bucket) throw new UndispatchableError(`batch step "${key}" declares data files, which live under s3://<bucket>/data/<runId>/, but no bucket is configured`);
  const out = [{ name: 'JOINFLOW_DATA_URI', value: dataUri(bucket, task.runId) }];
  const inputs = files.inputs.join('\n');
  const outputs = files.outputs.join('\n');
  if (Buffer.byteLength(inputs) + Buffer.byteLength(outputs) <= BATCH_FILES_LIMIT) {
    out.push({ name: 'JOINFLOW_INPUTS', value: inputs }, { name: 'JOINFLOW_OUTPUTS', value: outputs });
  } else if (deps.putBlob) {
    out.push({ name: 'JOINFLOW_FILES_URI', value: await deps.putBlob(`runs/${task.runId}/files/${task.step}.json`, JSON.stringify(files)) });
  } else throw new UndispatchableError(`the file lists of batch step "${key}" are too long for the job environment and no blob store is configured`);
  return out;
}

/** Where a Batch job may write its output (JSON), read back by the Batch bridge. */
export function outputKey(t: { runId: string; step: string; item?: number; attempt: number }): string {
  return `outputs/${t.runId}/${t.step}${t.item === undefined ? '' : `.${t.item}`}.${t.attempt}.json`;
}

/** Batch job names: up to 128 letters, digits, hyphens and underscores. */
function jobName(task: Task): string {
  const raw = `jf-${task.workflow}-${task.step}-${task.item ?? 'x'}-${task.attempt}`;
  return raw.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
}
