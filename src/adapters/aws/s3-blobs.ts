/**
 * BlobStore on Amazon S3: the claim-check store for payloads too big for an event (DESIGN.md,
 * "AWS mapping"). References are `s3://<bucket>/<key>` URIs, the form the AWS CLI and console use.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { JoinflowError } from '../../model/errors.ts';
import type { BlobStore } from '../../ports.ts';

/** Options of createS3BlobStore. */
export type S3BlobStoreOptions = {
  client: S3Client;
  bucket: string;
  /** Prepended to every key, so joinflow's objects share a bucket without colliding (and lifecycle rules can target them). */
  prefix?: string;
};

/** Splits an `s3://bucket/key` reference; undefined when `ref` is not of that form. */
export function parseS3Ref(ref: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/** A BlobStore that keeps each blob as one S3 object under `prefix` in `bucket`. */
export function createS3BlobStore(options: S3BlobStoreOptions): BlobStore {
  const { client, bucket, prefix = 'joinflow/' } = options;

  return {
    async put(key, body) {
      const fullKey = `${prefix}${key}`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: fullKey, Body: body, ContentType: 'application/json; charset=utf-8' }));
      return `s3://${bucket}/${fullKey}`;
    },

    async get(ref) {
      const parsed = parseS3Ref(ref);
      if (!parsed) {
        throw new JoinflowError('INVALID_BLOB_REF', `blob reference "${ref}" is not an s3://<bucket>/<key> URI; it must be a value returned by BlobStore.put`);
      }
      // Refs arrive inside events, which anyone allowed to PutEvents can write: only follow refs
      // into the bucket this store owns, never wherever an event points.
      if (parsed.bucket !== bucket) {
        throw new JoinflowError('INVALID_BLOB_REF', `blob reference "${ref}" points into bucket "${parsed.bucket}", but this blob store reads only bucket "${bucket}"`);
      }
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: parsed.key }));
        if (!res.Body) throw new JoinflowError('BLOB_NOT_FOUND', `blob "${ref}" has no body`);
        return await res.Body.transformToString('utf-8');
      } catch (err) {
        // Translate the SDK's vendor error at the edge, so callers see one joinflow code.
        if (err instanceof Error && (err.name === 'NoSuchKey' || err.name === 'NotFound')) {
          throw new JoinflowError('BLOB_NOT_FOUND', `blob "${ref}" does not exist (was it deleted by a lifecycle rule before the event was processed?)`, { cause: err });
        }
        throw err;
      }
    },
  };
}
