/** `joinflow worker`'s worker with its SDK clients built from names (worker.ts does the work). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { clientOptions } from './config.ts';
import { runStatusOf } from './dynamodb-keys.ts';
import { createEventBridgeBus } from './eventbridge-bus.ts';
import { createS3BlobStore } from './s3-blobs.ts';
import { createS3DataStage } from './s3-data.ts';
import { createWorker, type Worker, type WorkerOptions } from './worker.ts';

/** Options of {@link createAwsWorker}: names instead of clients. */
export type AwsWorkerOptions = Omit<WorkerOptions, 'sqs' | 'bus'> & {
  busName: string;
  region: string;
  /** Points the clients at an emulator (a service's own AWS_ENDPOINT_URL_<SERVICE> still wins, as in config.ts). */
  endpoint?: string;
  /** S3 bucket for outputs too big for an event (claim check) and for steps' data files. */
  bucket?: string;
  /** Local directory under which the data files of each run are staged (default <tmpdir>/joinflow-worker). */
  dataRoot?: string;
  /** The stage's table: a task whose run has ended is not run, or is stopped (see WorkerOptions.runStatus). */
  table?: string;
};

/**
 * A worker with its SDK clients built from names: the CLI's entry point, since only
 * src/adapters/aws/ may import the AWS SDK. `close()` releases the clients' sockets.
 */
export function createAwsWorker(options: AwsWorkerOptions): Worker & { close(): void } {
  const { busName, region, endpoint, bucket, dataRoot, table, ...rest } = options;
  const at = { region, endpoint };
  const sqs = new SQSClient(clientOptions(at, 'sqs'));
  const eventBridge = new EventBridgeClient(clientOptions(at, 'eventbridge'));
  const s3 = bucket === undefined ? undefined : new S3Client(clientOptions(at, 's3'));
  const blobs = s3 && bucket ? { blobs: createS3BlobStore({ client: s3, bucket }) } : {};
  const data = s3 && bucket ? { data: createS3DataStage({ client: s3, bucket, localRoot: dataRoot ?? join(tmpdir(), 'joinflow-worker') }) } : {};
  const dynamo = table === undefined ? undefined : new DynamoDBClient(clientOptions(at, 'dynamodb'));
  const runStatus = dynamo && table ? (runId: string) => runStatusOf(dynamo, table, runId) : undefined;
  const worker = createWorker({ ...rest, ...data, ...(runStatus ? { runStatus } : {}), sqs, bus: createEventBridgeBus({ client: eventBridge, busName, ...blobs }) });
  return {
    ...worker,
    close() {
      sqs.destroy();
      eventBridge.destroy();
      s3?.destroy();
      dynamo?.destroy();
    },
  };
}
