/**
 * The other side of a Batch step's contract (dispatch.ts, the Batch bridge), for code that runs
 * inside the job: the step event from $JOINFLOW_EVENT or the S3 object at $JOINFLOW_EVENT_URI,
 * and the output written as JSON to $JOINFLOW_OUTPUT_URI.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { JoinflowError } from '../../model/errors.ts';
import { clientOptions, configFromEnv } from './config.ts';
import { parseS3Ref } from './s3-blobs.ts';

/** Reads the job's event and writes its output. */
export type BatchJobIo = {
  /** The event text, or undefined when the environment names none (not a Batch job). */
  readEvent(): Promise<string | undefined>;
  /** Writes the output where the Batch bridge reads it; false when the job has no output URI. */
  writeOutput(json: string): Promise<boolean>;
};

/** Creates the job's I/O from its environment; `client` replaces the S3 client (tests). */
export function createBatchJobIo(env: NodeJS.ProcessEnv = process.env, client?: S3Client): BatchJobIo {
  let s3 = client;
  const s3Client = (): S3Client => (s3 ??= new S3Client(clientOptions(configFromEnv(env), 's3', env)));
  const ref = (name: string): { bucket: string; key: string } | undefined => {
    const uri = env[name];
    if (uri === undefined || uri === '') return undefined;
    const parsed = parseS3Ref(uri);
    if (!parsed) throw new JoinflowError('BATCH_JOB_ENV', `$${name} must be an s3://<bucket>/<key> URI, got ${JSON.stringify(uri)}`);
    return parsed;
  };
  // Both URIs are checked before the job does any work: a bad one would waste the whole run.
  const eventAt = ref('JOINFLOW_EVENT_URI');
  const outputAt = ref('JOINFLOW_OUTPUT_URI');
  return {
    async readEvent() {
      const inline = env['JOINFLOW_EVENT'];
      if (inline !== undefined) return inline;
      const at = eventAt;
      if (!at) return undefined;
      const res = await s3Client().send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key }));
      return (await res.Body?.transformToString('utf-8')) ?? '';
    },
    async writeOutput(json) {
      const at = outputAt;
      if (!at) return false;
      await s3Client().send(new PutObjectCommand({ Bucket: at.bucket, Key: at.key, Body: json, ContentType: 'application/json; charset=utf-8' }));
      return true;
    },
  };
}
