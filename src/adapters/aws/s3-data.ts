/**
 * A run's data files on S3: `s3://<bucket>/data/<runId>/<file>` (DATA_PREFIX; deploy/lib.cjs
 * mirrors it for IAM). `joinflow worker` stages container command steps through it: inputs are
 * downloaded into a local directory per run before the command, outputs uploaded after it. Batch
 * jobs get the prefix in JOINFLOW_DATA_URI and stage themselves (see dispatch.ts).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { JoinflowError } from '../../model/errors.ts';
import type { Task } from '../../ports.ts';
import type { DataStage } from '../local/data-staging.ts';

/** Where runs' data files live in the bucket; outside the start prefix (runs/), so uploads start nothing. */
export const DATA_PREFIX = 'data/';

/** The key of one data file of a run. */
export function dataKey(runId: string, file: string): string {
  return `${DATA_PREFIX}${runId}/${file}`;
}

/** The S3 URI of a run's data prefix (ends with "/"), as jobs receive it in JOINFLOW_DATA_URI. */
export function dataUri(bucket: string, runId: string): string {
  return `s3://${bucket}/${DATA_PREFIX}${runId}/`;
}

/** Options of {@link createS3DataStage}. */
export type S3DataStageOptions = {
  client: S3Client;
  bucket: string;
  /** Local directory under which each run gets `<runId>/data`. */
  localRoot: string;
};

/** Outputs up to this size are uploaded from memory. */
const BUFFERED_UPLOAD_BYTES = 16 * 1024 * 1024;

const isMissing = (error: unknown): boolean => {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
};

/** The worker's stage: S3 is the run's data area, the local directory a cache of it. */
export function createS3DataStage(options: S3DataStageOptions): DataStage {
  const { client, bucket } = options;
  return {
    dir: (task) => path.join(options.localRoot, task.runId, 'data'),
    async fetch(task, names, dir) {
      const missing: string[] = [];
      // Sequential: a step's inputs are few, and a burst of parallel GETs per task times the
      // worker's concurrency would only compete for the same connection pool.
      for (const name of names) {
        let body: Readable;
        try {
          const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: dataKey(task.runId, name) }));
          // In Node the SDK's body is a Readable: data files can be large, so they are streamed to disk.
          body = (res.Body as Readable | undefined) ?? Readable.from([]);
        } catch (error) {
          if (isMissing(error)) {
            missing.push(name);
            continue;
          }
          throw new JoinflowError('DATA_FETCH_FAILED', `cannot download s3://${bucket}/${dataKey(task.runId, name)}: ${(error as Error).message}`, { cause: error });
        }
        const to = path.join(dir, name);
        await mkdir(path.dirname(to), { recursive: true });
        const tmp = `${to}.joinflow-${process.pid}-${Math.random().toString(36).slice(2)}`;
        try {
          await pipeline(body, createWriteStream(tmp));
          await rename(tmp, to);
        } finally {
          await rm(tmp, { force: true });
        }
      }
      return missing;
    },
    async store(task, names, dir) {
      for (const name of names) {
        const file = path.join(dir, name);
        const { size } = await stat(file);
        // A stream is uploaded aws-chunked with a trailing checksum, which not every S3-compatible
        // store understands; small files go as one buffer, only large ones are streamed.
        const body = size <= BUFFERED_UPLOAD_BYTES ? await readFile(file) : createReadStream(file);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: dataKey(task.runId, name), Body: body, ContentLength: size }));
      }
    },
    missingHint: (task: Task) => `no earlier step uploaded it to ${dataUri(bucket, task.runId)}: put the workflow's external inputs there before starting the run`,
  };
}

/** The declared outputs of a step that are not in the run's data prefix (the Batch bridge's check). */
export async function missingDataFiles(client: S3Client, bucket: string, runId: string, names: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: dataKey(runId, name) }));
    } catch (error) {
      if (isMissing(error)) missing.push(name);
      else throw error;
    }
  }
  return missing;
}
