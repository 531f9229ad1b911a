/** Client-side operations against a deployed stage, for the CLI: start, list, read and cancel runs. */
import { randomUUID } from 'node:crypto';
import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DetailType, JOINFLOW_SOURCE, runCancelledDetail, type RunRequested } from '../../model/events.ts';
import { JoinflowError } from '../../model/errors.ts';
import { createJobBook, stopRunJobs, type StopReport } from './batch-jobs.ts';
import { clientOptions, type AwsConfig } from './config.ts';
import { createEventBridgeBus } from './eventbridge-bus.ts';
import type { RunRecord, RunStatus } from '../../ports.ts';
import { createDynamoDbStore } from './dynamodb-store.ts';
import { listStageRuns } from './run-list.ts';
import { readRunStatus } from './run-status.ts';

/**
 * Puts "Run Requested" on the stage's bus. A loopback endpoint (`joinflow dev`, an emulator)
 * checks no signature: without credentials configured (AWS_ACCESS_KEY_ID, AWS_PROFILE), the
 * request is signed with placeholders rather than refused by the SDK. `token` is what
 * `joinflow dev --token` requires, sent as the x-joinflow-token header.
 */
export async function requestRun(config: AwsConfig, detail: RunRequested & { runId: string }, options: { token?: string } = {}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const base = clientOptions(config, 'eventbridge', env);
  const local = base.endpoint !== undefined && isLoopback(base.endpoint) && !env['AWS_ACCESS_KEY_ID'] && !env['AWS_PROFILE'];
  const client = new EventBridgeClient({ ...base, ...(local ? { credentials: { accessKeyId: 'joinflow-local', secretAccessKey: 'joinflow-local' } } : {}) });
  const token = options.token;
  if (token !== undefined) {
    client.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-joinflow-token'] = token;
        return next(args);
      },
      { step: 'build', name: 'joinflowDevToken' },
    );
  }
  const bus = createEventBridgeBus({ client, busName: config.bus });
  try {
    await bus.publish([{ id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunRequested, time: new Date().toISOString(), detail }]);
  } catch (err) {
    if (!(err instanceof JoinflowError && err.code === 'PAYLOAD_TOO_LARGE')) throw err;
    const bytes = Buffer.byteLength(JSON.stringify(detail.input ?? null));
    throw new JoinflowError(
      'INPUT_TOO_LARGE',
      `the run's input (${bytes} bytes of JSON) does not fit in a Run Requested event (joinflow puts at most 200,000 bytes in one EventBridge entry, which takes 256 KB): ` +
        `upload it instead, which starts the run with it: aws s3 cp input.json s3://<the stage's bucket>/<its start prefix, runs/ unless custom.joinflow.startPrefix says otherwise>${detail.workflow}/input.json`,
      { cause: err },
    );
  }
}

/**
 * A run and its steps from the stage's table. A failed read (no credentials, no such table, no
 * endpoint) is a JoinflowError naming the table and what to check.
 */
export async function stageRunStatus(config: AwsConfig, runId: string): ReturnType<typeof readRunStatus> {
  try {
    return await readRunStatus(new DynamoDBClient(clientOptions(config, 'dynamodb')), config.table, runId);
  } catch (err) {
    throw stageError(config, 'STATUS_READ_FAILED', `reading run "${runId}" from`, err);
  }
}

/** The stage's runs, newest first (see listStageRuns); failures as for stageRunStatus. */
export async function stageRuns(config: AwsConfig, filter: { workflow?: string; status?: RunStatus; limit?: number }): Promise<RunRecord[]> {
  try {
    return await listStageRuns(new DynamoDBClient(clientOptions(config, 'dynamodb')), config.table, filter);
  } catch (err) {
    throw stageError(config, 'LIST_READ_FAILED', 'listing the runs of', err);
  }
}

/**
 * What cancelling a run of a stage did: `cancelled` (with what stopping its Batch jobs did: `jobs`,
 * or `jobsError` when they could not be read), or why not (no such run, or it had ended).
 */
export type StageCancel =
  /** eventError: the run is cancelled in the table and its jobs were stopped, but Run Cancelled could not be put on the bus (why). */
  | { outcome: 'cancelled'; run: RunRecord; jobs: StopReport; jobsError?: string; eventError?: string }
  | { outcome: 'unknown' }
  | { outcome: 'ended'; run: RunRecord; jobs: StopReport; jobsError?: string };

/**
 * Cancels a running run of a stage: its META item becomes `cancelled` (a conditional write, so
 * a run that ends at the same moment is left as it ended), then Run Cancelled goes on the bus.
 * From then on the trigger processor ignores the run's events: nothing new is dispatched. Its
 * Batch jobs that have not ended are stopped (TerminateJob; batch-jobs.ts); a Lambda invocation
 * cannot be stopped, and finishes unheeded.
 */
export async function cancelStageRun(config: AwsConfig, runId: string, reason: string, now = Date.now()): Promise<StageCancel> {
  const dynamo = new DynamoDBClient(clientOptions(config, 'dynamodb'));
  const store = createDynamoDbStore({ client: dynamo, table: config.table });
  // The record without its output: an output kept in S3 (claim-checked) would need the stage's
  // bucket, and a cancel needs only the status.
  const readRun = async () => store.getRun(runId, { output: false });
  let run: RunRecord | undefined;
  try {
    run = await readRun();
    if (!run) return { outcome: 'unknown' };
    // An ended run may have left Batch jobs running (its processor could not stop them all): those stop now.
    if (run.status !== 'running') return { outcome: 'ended', run, ...(await stopJobs(config, dynamo, runId, `joinflow: run ${runId} ${run.status}`)) };
    const { error } = runCancelledDetail(run.workflow, runId, reason);
    if (!(await store.finishRun(runId, { status: 'cancelled', finishedAt: now, error }))) {
      const ended = (await readRun()) ?? run;
      return { outcome: 'ended', run: ended, ...(await stopJobs(config, dynamo, runId, `joinflow: run ${runId} ${ended.status}`)) };
    }
    run = { ...run, status: 'cancelled', finishedAt: now, error };
  } catch (err) {
    throw stageError(config, 'CANCEL_FAILED', `cancelling run "${runId}" in`, err);
  }
  let eventError: string | undefined;
  try {
    const bus = createEventBridgeBus({ client: new EventBridgeClient(clientOptions(config, 'eventbridge')), busName: config.bus });
    await bus.publish([{ id: randomUUID(), source: JOINFLOW_SOURCE, 'detail-type': DetailType.RunCancelled, time: new Date(now).toISOString(), detail: runCancelledDetail(run.workflow, runId, reason) }]);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    eventError = e instanceof JoinflowError ? e.message : `${e.name}: ${firstLine(e.message)}`;
  }
  // The jobs are stopped whether or not the event went out: the run is cancelled in the table, and
  // nothing else would stop them (a second cancel finds the run ended, and puts no event).
  const stopped = await stopJobs(config, dynamo, runId, `joinflow: run ${runId} cancelled (${reason})`);
  return { outcome: 'cancelled', run, ...stopped, ...(eventError === undefined ? {} : { eventError }) };
}

/** Stops the run's Batch jobs that have not ended (batch-jobs.ts); a list that cannot be read is `jobsError`. */
async function stopJobs(config: AwsConfig, dynamo: DynamoDBClient, runId: string, reason: string): Promise<{ jobs: StopReport; jobsError?: string }> {
  try {
    return { jobs: await stopRunJobs(createJobBook(dynamo, config.table), new BatchClient(clientOptions(config, 'batch')), runId, reason) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { jobs: { stopped: [], failed: [], left: 0, unsought: [] }, jobsError: `${e.name}: ${firstLine(e.message)}` };
  }
}

/** A failed call to the stage's table as a JoinflowError naming the table and what to check. */
function stageError(config: AwsConfig, code: string, what: string, err: unknown): JoinflowError {
  if (err instanceof JoinflowError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const where = `table "${config.table}" (region ${config.region}${config.endpoint ? `, endpoint ${config.endpoint}` : ''})`;
  const hint =
    e.name === 'ResourceNotFoundException' ? `: is stage "${config.stage}" deployed? (npx serverless deploy --stage ${config.stage})` :
    e.name === 'CredentialsProviderError' ? ': give AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)' : '';
  return new JoinflowError(code, `${what} ${where} failed: ${e.name}: ${firstLine(e.message)}${hint}`, { cause: err });
}

function isLoopback(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
