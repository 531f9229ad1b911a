/** Starts s3rver (a real S3 protocol emulator) in-process on a free port, with a fresh directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

/** The part of s3rver's (untyped, CommonJS) API the tests use. */
type S3rverServer = { run(): Promise<AddressInfo>; close(): Promise<void> };
type S3rverClass = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverServer;

// s3rver ships no type declarations; loading it through require keeps the cast in one place.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** A running emulator, a client pointed at it, and a way to tear both down. */
export type S3rverHandle = {
  endpoint: string;
  bucket: string;
  client: S3Client;
  close(): Promise<void>;
};

/** Starts s3rver with `bucket` created; call `close()` in afterAll. */
export async function startS3rver(bucket = 'test-bucket'): Promise<S3rverHandle> {
  const directory = await mkdtemp(path.join(tmpdir(), 'joinflow-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { address, port } = await server.run();
  const endpoint = `http://${address}:${port}`;
  const client = new S3Client({
    endpoint,
    // s3rver serves buckets by path (http://host/bucket/key), not as virtual hosts.
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    bucket,
    client,
    async close() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * The environment the AWS handlers read when wired to `s3` (bucket, bus, plans, endpoint).
 * s3rver checks its own fixed credentials; dynalite and fauxqs accept any.
 */
export function s3HandlerEnv(s3: S3rverHandle, triggersDir: string): Record<string, string> {
  return {
    JOINFLOW_BUCKET: s3.bucket,
    JOINFLOW_BUS: 'joinflow-test',
    JOINFLOW_TRIGGERS_DIR: triggersDir,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    JOINFLOW_LOG_LEVEL: 'off',
  };
}
