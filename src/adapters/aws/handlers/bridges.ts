/**
 * Bridges turn what AWS services report into joinflow's events: Lambda destination records and
 * Batch job state changes become Step Completed / Step Failed; an S3 upload becomes Run Requested.
 * They are stateless and idempotent: a redelivered record re-emits the same step result, which
 * the join counts once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DetailType, JOINFLOW_SOURCE, stepRef, type EventEnvelope } from '../../../model/events.ts';
import { retriesAfter, STEP_TIMEOUT } from '../../../runtime/fallback.ts';
import { outputKey, type TaskMeta } from '../dispatch.ts';
import { carryOut, stepFailed } from '../effects.ts';
import { log } from '../log.ts';
import { dataUri, missingDataFiles } from '../s3-data.ts';
import { readUpload } from '../upload-input.ts';
import { wiring } from '../wiring.ts';

type AwsEvent<D> = { id: string; source: string; 'detail-type': string; time: string; detail: D };

/** Lambda destination record (EventBridge destination), as AWS documents it. */
type LambdaResult = {
  requestPayload?: { joinflow?: TaskMeta };
  responsePayload?: unknown;
  responseContext?: { functionError?: string };
  /** Why Lambda gave up: RetriesExhausted, or EventAgeExceeded (queued too long; maybe never run). */
  requestContext?: { condition?: string; approximateInvokeCount?: number };
};

/** Lambda "Invocation Result - Success/Failure" -> Step Completed / Step Failed. */
export async function lambdaResult(event: AwsEvent<LambdaResult>): Promise<void> {
  const w = wiring();
  const meta = event.detail.requestPayload?.joinflow;
  if (!meta) {
    log('warn', 'Lambda result without joinflow metadata: not a step invocation', {});
    return;
  }
  const ids = { now: Date.now, newId: randomUUID };
  if (event['detail-type'].endsWith('Success')) {
    await w.bus.publish([stepCompleted(meta, event.detail.responsePayload ?? null)]);
    return;
  }
  const payload = (event.detail.responsePayload ?? {}) as { errorType?: string; errorMessage?: string };
  const type = payload.errorType ?? event.detail.responseContext?.functionError ?? 'Error';
  const timedOut = lambdaTimedOut(payload);
  const retriable = type !== 'NonRetriableStepError';
  const error = timedOut
    ? { type: STEP_TIMEOUT, message: `step "${meta.step}" timed out (attempt ${meta.attempt}): ${payload.errorMessage ?? ''}`.trim() }
    : payload.errorMessage === undefined && payload.errorType === undefined
      ? withoutPayload(meta, event.detail.requestContext, type)
      : { type, message: payload.errorMessage ?? 'the function failed without a message' };
  log('warn', `step failed: ${error.message}`, { runId: meta.runId, step: meta.step, attempt: meta.attempt });
  await w.bus.publish([stepFailed(meta, error, retriesAfter(meta, error, retriable), ids)]);
}

/**
 * A failure record with no error of the function's: Lambda gave up on the invocation itself. With
 * EventAgeExceeded the event waited in Lambda's queue past its maximum age (the function throttled,
 * out of concurrency) and the step may never have run; another attempt may well get through.
 */
function withoutPayload(meta: TaskMeta, context: LambdaResult['requestContext'], type: string): { type: string; message: string } {
  const count = context?.approximateInvokeCount;
  const tried = count === undefined ? '' : `, ${count} invocation${count === 1 ? '' : 's'} made`;
  if (context?.condition === 'EventAgeExceeded') {
    return {
      type: 'LambdaEventAgeExceeded',
      message: `Lambda dropped step "${meta.step}" (attempt ${meta.attempt}): the invocation stayed queued past the function's maximum event age (EventAgeExceeded${tried}), so it may never have run: the function was throttled or out of concurrency`,
    };
  }
  const why = context?.condition === undefined ? '' : ` (${context.condition}${tried})`;
  return { type, message: `the function failed without a message${why}` };
}

/**
 * Whether Lambda stopped the invocation at its timeout: errorType Sandbox.Timedout, or, from
 * runtimes that give no errorType, Lambda's own "Task timed out after N seconds". A handler's own
 * error that mentions a timeout (connect ETIMEDOUT, a query timeout) has an errorType and is not
 * one: it must not move the step to its Batch fallback, nor be retried for free.
 */
function lambdaTimedOut(payload: { errorType?: string; errorMessage?: string }): boolean {
  if (payload.errorType !== undefined) return payload.errorType === 'Sandbox.Timedout';
  return /\bTask timed out after \d+(?:\.\d+)? seconds\b/.test(payload.errorMessage ?? '');
}

/** Batch "Job State Change" (SUCCEEDED / FAILED) as AWS documents it. */
type BatchJob = {
  jobId?: string;
  jobName?: string;
  status?: string;
  statusReason?: string;
  container?: { environment?: Array<{ name: string; value: string }>; exitCode?: number; reason?: string };
};

/** Batch job SUCCEEDED / FAILED -> Step Completed (output from S3 when written) / Step Failed. */
export async function batchState(event: AwsEvent<BatchJob>): Promise<void> {
  const w = wiring();
  const env = Object.fromEntries((event.detail.container?.environment ?? []).map((e) => [e.name, e.value]));
  if (!env['JOINFLOW_RUN_ID'] || !env['JOINFLOW_STEP'] || !env['JOINFLOW_WORKFLOW']) {
    log('warn', `Batch job ${event.detail.jobName ?? '?'} has no joinflow environment: ignored`, {});
    return;
  }
  const meta: TaskMeta = {
    workflow: env['JOINFLOW_WORKFLOW'],
    runId: env['JOINFLOW_RUN_ID'],
    step: env['JOINFLOW_STEP'],
    attempt: Number(env['JOINFLOW_ATTEMPT'] ?? 1),
    maxAttempts: Number(env['JOINFLOW_MAX_ATTEMPTS'] ?? 1),
    ...(env['JOINFLOW_ITEM'] === undefined ? {} : { item: Number(env['JOINFLOW_ITEM']) }),
    ...(env['JOINFLOW_PLACEMENT'] === undefined ? {} : { placement: env['JOINFLOW_PLACEMENT'] }),
  };
  await reportJob(meta, event.detail);
  // The job ended: its run's end has nothing to stop (batch-jobs.ts). After the report: a failed
  // write retries the whole invocation, and the join counts the re-sent step event once.
  if (event.detail.jobId) await w.jobs.ended(meta, event.detail.jobId);
}

/** A job that ended, as Step Completed or Step Failed. */
async function reportJob(meta: TaskMeta, detail: BatchJob): Promise<void> {
  const w = wiring();
  if (detail.status === 'SUCCEEDED') {
    // A job that exited 0 without writing a declared data file did not do its work.
    const outputs = w.plans.find((p) => p.workflow === meta.workflow)?.steps[meta.step]?.files?.outputs ?? [];
    const missing = outputs.length > 0 && w.config.bucket ? await missingDataFiles(w.s3, w.config.bucket, meta.runId, outputs) : [];
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).map((m) => JSON.stringify(m)).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
      const error = { type: 'MissingOutput', message: `step "${meta.step}": the Batch job succeeded but did not upload its output file(s) ${shown} to ${dataUri(w.config.bucket!, meta.runId)}` };
      await w.bus.publish([stepFailed(meta, error, meta.attempt < meta.maxAttempts, { now: Date.now, newId: randomUUID })]);
      return;
    }
    const output = await readOutput(meta);
    if (output instanceof SyntaxError) {
      // Failing the bridge instead would fail every redelivery alike, and the run would wait for good.
      const error = { type: 'InvalidOutput', message: `step "${meta.step}": the Batch job succeeded but its output s3://${w.config.bucket}/${outputKey(meta)} is not JSON (${output.message}); write JSON to $JOINFLOW_OUTPUT_URI` };
      await w.bus.publish([stepFailed(meta, error, meta.attempt < meta.maxAttempts, { now: Date.now, newId: randomUUID })]);
      return;
    }
    await w.bus.publish([stepCompleted(meta, output)]);
    return;
  }
  const c = detail.container;
  const message = [detail.statusReason, c?.reason, c?.exitCode === undefined ? undefined : `exit code ${c.exitCode}`].filter(Boolean).join('; ');
  await w.bus.publish([stepFailed(meta, { type: 'BatchJobFailed', message: message || 'the job failed' }, meta.attempt < meta.maxAttempts, { now: Date.now, newId: randomUUID })]);
}

/** A job's output: the JSON it wrote to $JOINFLOW_OUTPUT_URI, null when it wrote none, the SyntaxError when it is not JSON. */
async function readOutput(meta: TaskMeta): Promise<unknown> {
  const w = wiring();
  if (!w.config.bucket) return null;
  let text: string;
  try {
    const res = await w.s3.send(new GetObjectCommand({ Bucket: w.config.bucket, Key: outputKey(meta) }));
    text = (await res.Body?.transformToString()) ?? '';
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return null;
    throw error;
  }
  try {
    return text === '' ? null : JSON.parse(text);
  } catch (error) {
    return error as SyntaxError;
  }
}

/** S3 "Object Created" (EventBridge notification), as AWS documents it. */
type ObjectCreated = { bucket?: { name?: string }; object?: { key?: string; size?: number; etag?: string; 'version-id'?: string; sequencer?: string } };

/**
 * An upload under `<prefix><workflow>/...` starts a run of that workflow with the object as input
 * (upload-input.ts). The run id derives from the bucket, key, ETag and the upload's version id and
 * sequencer (S3 gives each write of a key its own), so a redelivered notification starts no
 * second run, and uploading the same file again starts a new one. An upload that cannot start a
 * run (no such workflow, the object gone or overwritten) goes to the events DLQ at once, with the
 * reason; a "folder" (a key ending in "/", as the S3 console creates) starts nothing.
 */
export async function s3Start(event: AwsEvent<ObjectCreated>): Promise<void> {
  const w = wiring();
  const bucket = event.detail?.bucket?.name;
  const object = event.detail?.object;
  const key = object?.key;
  const deadLetter = (reason: string) => carryOut([{ type: 'dead-letter', event, reason }], w.effects);
  if (!bucket || !key) return deadLetter('not an S3 Object Created event: it names no bucket and key (detail.bucket.name, detail.object.key)');
  const prefix = process.env['JOINFLOW_START_PREFIX'] ?? 'runs/';
  if (key.endsWith('/')) {
    log('info', `upload s3://${bucket}/${key} is a folder, not a file: it starts no run`, {});
    return;
  }
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const workflow = rest.split('/')[0] ?? '';
  if (!w.plans.some((p) => p.workflow === workflow)) {
    const names = w.plans.map((p) => p.workflow).sort();
    const known = names.length === 0 ? 'none' : names.length <= 20 ? names.join(', ') : `${names.slice(0, 20).join(', ')} and ${names.length - 20} more`;
    return deadLetter(`upload s3://${bucket}/${key} starts no run: the stage has no workflow "${workflow}" (an upload to ${prefix}<workflow>/<file> starts a run of <workflow>; deployed: ${known})`);
  }
  const read = await readUpload(w.s3, { bucket, key, size: object?.size ?? 0, etag: object?.etag });
  if ('reason' in read) return deadLetter(read.reason);
  // A redelivery repeats all of them; another write of the key has another sequencer (and version).
  const version = `#${object?.etag ?? ''}${object?.['version-id'] ? `#v:${object['version-id']}` : ''}${object?.sequencer ? `#s:${object.sequencer}` : ''}`;
  const digest = createHash('sha256').update(`${bucket}/${key}${version}`).digest('hex').slice(0, 32);
  const runId = `s3-${digest}`;
  log('info', `upload ${key} starts a run`, { runId, workflow });
  await w.bus.publish([runRequested(workflow, runId, read.input)]);
}

function stepCompleted(meta: TaskMeta, output: unknown): EventEnvelope {
  return {
    id: randomUUID(),
    source: JOINFLOW_SOURCE,
    'detail-type': DetailType.StepCompleted,
    time: new Date().toISOString(),
    detail: { ...stepRef(meta), output },
  };
}

function runRequested(workflow: string, runId: string, input: unknown): EventEnvelope {
  return { id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunRequested, time: new Date().toISOString(), detail: { workflow, runId, input } };
}
