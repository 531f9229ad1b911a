/**
 * Where the example's data lives: a local path on the embedded engine, an `s3://bucket/key` URI
 * in a Batch job. Events carry these locations, never pixels. The S3 client is loaded only when
 * an s3:// location is used, so local runs never touch the AWS SDK.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';

const S3_URI = /^s3:\/\/([^/]+)\/(.*)$/;

/** Splits `s3://bucket/key`; undefined for a local path. */
export function parseS3Uri(location: string): { bucket: string; key: string } | undefined {
  const m = S3_URI.exec(location);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/** `name` inside the directory (or S3 prefix) `base`. */
export function joinLocation(base: string, name: string): string {
  if (base.startsWith('s3://')) return `${base.replace(/\/+$/, '')}/${name}`;
  return path.join(base, name);
}

/** The directory (or S3 prefix) that holds `location`. */
export function parentLocation(location: string): string {
  const s3 = parseS3Uri(location);
  if (!s3) return path.dirname(location);
  const slash = s3.key.lastIndexOf('/');
  return `s3://${s3.bucket}/${slash < 0 ? '' : s3.key.slice(0, slash)}`;
}

let client: Promise<S3Client> | undefined;

/** One client per process; AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL point it at an emulator. */
function s3(): Promise<S3Client> {
  client ??= import('@aws-sdk/client-s3').then(({ S3Client: Client }) => {
    const endpoint = process.env['AWS_ENDPOINT_URL_S3'] || process.env['AWS_ENDPOINT_URL'];
    // Not every container gets AWS_REGION; a bucket in another region answers with a redirect.
    const region = process.env['AWS_REGION'] || process.env['AWS_DEFAULT_REGION'] || 'us-east-1';
    // Emulators serve buckets by path rather than as virtual hosts.
    return new Client(endpoint ? { region, endpoint, forcePathStyle: true } : { region, followRegionRedirects: true });
  });
  return client;
}

/** Reads a whole file or object. */
export async function readBytes(location: string): Promise<Uint8Array> {
  const uri = parseS3Uri(location);
  if (!uri) {
    try {
      return await readFile(location);
    } catch (error) {
      // The steps run in the repository root (their `cwd` in workflow.ts), not where joinflow was started.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${location}: no such file (a relative path is taken from the current directory, ${process.cwd()}: for the steps, the repository root; give an absolute path otherwise)`);
      if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new Error(`${location}: a directory, not a file`);
      throw error;
    }
  }
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    const res = await (await s3()).send(new GetObjectCommand({ Bucket: uri.bucket, Key: uri.key }));
    if (!res.Body) throw new Error(`${location}: the object has no body`);
    return await res.Body.transformToByteArray();
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound') throw new Error(`${location}: no such object`, { cause: error });
    if (name === 'AccessDenied') throw new Error(`${location}: access denied (the Batch job role may read only its stage's bucket)`, { cause: error });
    throw error;
  }
}

/** Reads and parses a JSON file or object. */
export async function readJson<T>(location: string): Promise<T> {
  const text = Buffer.from(await readBytes(location)).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${location}: not JSON (${(error as Error).message})`);
  }
}

/** Writes a whole file or object; a local file appears complete or not at all. */
export async function writeBytes(location: string, body: Uint8Array | string): Promise<void> {
  const uri = parseS3Uri(location);
  if (!uri) {
    await mkdir(path.dirname(location), { recursive: true });
    // A retried step may run while a reader looks: rename makes the switch atomic.
    const tmp = `${location}.${process.pid}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, location);
    return;
  }
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await (await s3()).send(new PutObjectCommand({ Bucket: uri.bucket, Key: uri.key, Body: body }));
}

/** Writes a JSON file or object. */
export function writeJson(location: string, value: unknown): Promise<void> {
  return writeBytes(location, `${JSON.stringify(value)}\n`);
}

/** Releases the S3 client's sockets, so that a step's process can exit. */
export async function closeStorage(): Promise<void> {
  if (client) (await client).destroy();
  client = undefined;
}
