/**
 * S3 blob store against s3rver (the real S3 protocol, in-process), and the claim check end to end:
 * EventBridge bus (mocked client, no emulator exists) + real S3 store -> entry -> envelope -> detail.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventBridgeBus, resolveClaimChecks, toEnvelope } from '../../src/adapters/aws/eventbridge-bus.ts';
import { createS3BlobStore } from '../../src/adapters/aws/s3-blobs.ts';
import { JoinflowError } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver('test-bucket');
});
afterAll(async () => {
  await s3?.close();
});

/** About `bytes` UTF-8 bytes of mixed 1-, 2-, 3- and 4-byte characters. */
function unicodeText(bytes: number): string {
  const unit = 'plain ascii, ünïcödé, 日本語のテキスト, emoji 🚀🧪 — ';
  return unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
}

async function code(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JoinflowError);
  return `${(err as JoinflowError).code}: ${(err as JoinflowError).message}`;
}

describe('S3 blob store on s3rver', () => {
  it('round-trips a 1 MB unicode payload under the prefix', async () => {
    const blobs = createS3BlobStore({ client: s3.client, bucket: 'test-bucket' });
    const body = unicodeText(1024 * 1024);
    expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(1024 * 1024);

    const ref = await blobs.put('runs/r1/big.json', body);
    expect(ref).toBe('s3://test-bucket/joinflow/runs/r1/big.json');
    expect(await blobs.get(ref)).toBe(body);

    // The object really is at prefix + key, byte for byte.
    const raw = await s3.client.send(new GetObjectCommand({ Bucket: 'test-bucket', Key: 'joinflow/runs/r1/big.json' }));
    expect(Buffer.from(await raw.Body!.transformToByteArray()).equals(Buffer.from(body, 'utf8'))).toBe(true);
  });

  it('honours a custom prefix', async () => {
    const blobs = createS3BlobStore({ client: s3.client, bucket: 'test-bucket', prefix: 'other/' });
    const ref = await blobs.put('k.json', '{"a":1}');
    expect(ref).toBe('s3://test-bucket/other/k.json');
    expect(await blobs.get(ref)).toBe('{"a":1}');
  });

  it('rejects malformed and foreign-bucket references with INVALID_BLOB_REF', async () => {
    const blobs = createS3BlobStore({ client: s3.client, bucket: 'test-bucket' });
    for (const ref of ['', 'joinflow/x.json', 'https://test-bucket.s3.amazonaws.com/joinflow/x.json', 's3://', 's3://test-bucket', 's3://test-bucket/']) {
      const message = await code(blobs.get(ref));
      expect(message).toMatch(/^INVALID_BLOB_REF: /);
      expect(message).toContain(`"${ref}" is not an s3://<bucket>/<key> URI`);
    }
    const foreign = await code(blobs.get('s3://someone-elses-bucket/joinflow/x.json'));
    expect(foreign).toMatch(/^INVALID_BLOB_REF: .*bucket "someone-elses-bucket".*only bucket "test-bucket"/);
  });

  it('reports a missing object as BLOB_NOT_FOUND', async () => {
    const blobs = createS3BlobStore({ client: s3.client, bucket: 'test-bucket' });
    expect(await code(blobs.get('s3://test-bucket/joinflow/never-written.json'))).toMatch(/^BLOB_NOT_FOUND: blob "s3:\/\/test-bucket\/joinflow\/never-written.json" does not exist/);
  });
});

describe('claim check end to end: EventBridge bus + S3 on s3rver', () => {
  const eb = mockClient(EventBridgeClient);
  beforeEach(() => {
    eb.reset();
    eb.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => ({
      FailedEntryCount: 0,
      Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `aws-${i}` })),
    }));
  });

  /** The entry as EventBridge would deliver it to a Lambda target (its own id, second-precision time). */
  function delivered(entry: PutEventsRequestEntry) {
    return {
      version: '0',
      id: 'eb-generated-id',
      source: entry.Source!,
      'detail-type': entry.DetailType!,
      time: entry.Time!.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      account: '123456789012',
      region: 'us-east-1',
      resources: [],
      detail: JSON.parse(entry.Detail!) as unknown,
    };
  }

  async function publishOne(event: EventEnvelope) {
    const blobs = createS3BlobStore({ client: s3.client, bucket: 'test-bucket' });
    const bus = createEventBridgeBus({ client: new EventBridgeClient({ region: 'us-east-1' }), busName: 'joinflow', blobs, sleep: async () => undefined });
    await bus.publish([event]);
    const entries = eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(entries).toHaveLength(1);
    return { blobs, entry: entries[0]! };
  }

  it('publishes a 500 KB Step Completed as an outputRef into S3 and restores the identical detail', async () => {
    const output = { rows: Array.from({ length: 50 }, (_, i) => ({ i, text: unicodeText(10_000) })) };
    const event: EventEnvelope = {
      id: 'evt-big-1', source: 'joinflow', 'detail-type': 'Step Completed', time: '2024-05-01T12:00:00.000Z',
      detail: { workflow: 'wf', runId: 'run-42', step: 'render', attempt: 2, output },
    };
    expect(Buffer.byteLength(JSON.stringify(event.detail))).toBeGreaterThan(500_000);

    const { blobs, entry } = await publishOne(event);
    expect(JSON.parse(entry.Detail!)).toEqual({
      workflow: 'wf', runId: 'run-42', step: 'render', attempt: 2, outputRef: 's3://test-bucket/joinflow/events/evt-big-1.json', eventId: 'evt-big-1',
    });
    expect(Buffer.byteLength(entry.Detail!)).toBeLessThan(1_000);

    const restored = await resolveClaimChecks(toEnvelope(delivered(entry)), blobs);
    expect(restored.id).toBe('evt-big-1');
    expect(restored.source).toBe('joinflow');
    expect(restored['detail-type']).toBe('Step Completed');
    expect(new Date(restored.time).getTime()).toBe(new Date(event.time).getTime());
    expect(restored.detail).toEqual(event.detail);
  });

  it('claim-checks a whole 500 KB Run Requested detail and restores it', async () => {
    const event: EventEnvelope = {
      id: 'evt-big-2', source: 'joinflow', 'detail-type': 'Run Requested', time: '2024-05-01T12:00:00.000Z',
      detail: { workflow: 'wf', runId: 'run-43', input: { doc: unicodeText(500_000) } },
    };
    const { blobs, entry } = await publishOne(event);
    expect(JSON.parse(entry.Detail!)).toEqual({ workflow: 'wf', runId: 'run-43', detailRef: 's3://test-bucket/joinflow/events/evt-big-2.json', eventId: 'evt-big-2' });

    const restored = await resolveClaimChecks(toEnvelope(delivered(entry)), blobs);
    expect(restored.id).toBe('evt-big-2');
    expect(restored.detail).toEqual(event.detail);
  });
});
