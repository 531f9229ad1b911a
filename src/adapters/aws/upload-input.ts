/**
 * What an upload under the start prefix gives the run it starts (handlers/bridges.ts s3Start):
 * the object read as the S3 event announced it, or why it cannot be. An upload deleted or
 * overwritten before the bridge reads it, or archived out of reach, reads the same on every
 * retry: such an event is dead-lettered at once, with the bucket and key. S3 unreachable,
 * throttled or refusing is thrown, so that Lambda retries the invocation.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Largest object passed inline as a run's input; larger ones are passed by reference. */
export const INLINE_INPUT_BYTES = 200 * 1024;

/** The object an S3 "Object Created" event announces. */
export type Upload = { bucket: string; key: string; size: number; etag?: string | undefined };

/** The run's input, or why the upload cannot start a run (said at once, not retried). */
export type UploadInput = { input: unknown } | { reason: string };

/** S3 errors that no retry cures: the object is gone, or archived (GetObject refuses it until it is restored). */
const GONE = new Set(['NoSuchKey', 'NotFound']);
const ARCHIVED = new Set(['InvalidObjectState']);

/**
 * Reads the upload: parsed JSON when it is JSON, else `{object, text}`; `{object}` alone when it
 * is larger than {@link INLINE_INPUT_BYTES}, or is no UTF-8 text (a binary file), or its text
 * would make an input larger than that (a reference the steps read is better than a mangled copy).
 * When the event names the object's ETag, the object read must still have it: an upload
 * overwritten since then starts a run of its own, from its own event.
 */
export async function readUpload(s3: S3Client, upload: Upload): Promise<UploadInput> {
  const { bucket, key, size, etag } = upload;
  const where = `s3://${bucket}/${key}`;
  const object = { bucket, key, size };
  const inline = size <= INLINE_INPUT_BYTES;
  let found: { etag: string | undefined; bytes: Uint8Array | undefined };
  try {
    if (inline) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      found = { etag: res.ETag, bytes: (await res.Body?.transformToByteArray()) ?? new Uint8Array() };
    } else {
      // Passed by reference: only checked to be there, as announced.
      found = { etag: (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag, bytes: undefined };
    }
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (GONE.has(name)) return { reason: `upload ${where} is gone: it was deleted before the S3 start bridge read it, so it starts no run (upload it again to start one)` };
    if (ARCHIVED.has(name)) return { reason: `upload ${where} cannot be read: its storage class archives it (${name}), so it starts no run (restore it, or upload it in a storage class that can be read at once)` };
    throw error;
  }
  if (etag !== undefined && found.etag !== undefined && bare(found.etag) !== bare(etag)) {
    return { reason: `upload ${where} was overwritten before the S3 start bridge read it (its ETag is ${bare(found.etag)}, the upload's was ${bare(etag)}): this upload starts no run; the one that overwrote it starts its own` };
  }
  if (found.bytes === undefined) return { input: { object } };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(found.bytes);
  } catch {
    return { input: { object } };
  }
  try {
    return { input: JSON.parse(text) };
  } catch {
    const input = { object, text };
    return { input: Buffer.byteLength(JSON.stringify(input)) <= INLINE_INPUT_BYTES ? input : { object } };
  }
}

/** An ETag without the quotes S3 puts around it in headers (events give it without). */
function bare(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}
