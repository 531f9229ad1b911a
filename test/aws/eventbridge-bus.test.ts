/**
 * EventBridge bus against a mocked client (no EventBridge emulator exists): asserts the PutEvents
 * request shapes AWS documents — at most 10 entries and 256 KB per request, per-entry retries of
 * only the entries that failed, and claim checks for entries over the size limit.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createEventBridgeBus,
  putEventsEntrySize,
  resolveClaimChecks,
  toEnvelope,
  type EventBridgeBusOptions,
} from '../../src/adapters/aws/eventbridge-bus.ts';
import { JoinflowError } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { BlobStore } from '../../src/ports.ts';

const eb = mockClient(EventBridgeClient);
const client = new EventBridgeClient({ region: 'us-east-1' });
const BUS = 'joinflow-test-bus';
const TIME = '2024-05-01T12:00:00.000Z';

function completed(i: number, output: unknown = { n: i }): EventEnvelope {
  return {
    id: `evt-${i}`,
    source: 'joinflow',
    'detail-type': 'Step Completed',
    time: TIME,
    detail: { workflow: 'wf', runId: 'run-1', step: 'a', attempt: 1, item: i, output },
  };
}

/** A fake EventBridge that accepts everything, or fails the entries `fail` picks. */
function respond(fail: (entry: PutEventsRequestEntry, call: number) => { code: string; message: string } | undefined = () => undefined) {
  let call = 0;
  eb.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
    call++;
    const entries = (input.Entries ?? []).map((e, i) => {
      const f = fail(e, call);
      return f ? { ErrorCode: f.code, ErrorMessage: f.message } : { EventId: `aws-${call}-${i}` };
    });
    return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
  });
}

const requests = (): PutEventsRequestEntry[][] => eb.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries ?? []);
const detailOf = (e: PutEventsRequestEntry): Record<string, unknown> => JSON.parse(e.Detail ?? 'null') as Record<string, unknown>;
const idOf = (e: PutEventsRequestEntry): unknown => detailOf(e)['eventId'];

function bus(extra: Partial<EventBridgeBusOptions> = {}, sleeps: number[] = []) {
  return createEventBridgeBus({ client, busName: BUS, sleep: async (ms) => void sleeps.push(ms), ...extra });
}

/** An in-memory BlobStore that records what was put. */
function memoryBlobs(): BlobStore & { objects: Map<string, string> } {
  const objects = new Map<string, string>();
  return {
    objects,
    async put(key, body) {
      objects.set(key, body);
      return `mem://${key}`;
    },
    async get(ref) {
      const body = objects.get(ref.replace(/^mem:\/\//, ''));
      if (body === undefined) throw new Error(`no blob ${ref}`);
      return body;
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<JoinflowError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JoinflowError);
  return err as JoinflowError;
}

beforeEach(() => {
  eb.reset();
});

describe('EventBridge bus: request shapes', () => {
  it('sends 25 events as 3 PutEvents requests of 10, 10 and 5 documented entries, in order', async () => {
    respond();
    const events = Array.from({ length: 25 }, (_, i) => completed(i));
    await bus().publish(events);

    const sent = requests();
    expect(sent.map((r) => r.length)).toEqual([10, 10, 5]);
    const entries = sent.flat();
    entries.forEach((entry, i) => {
      const event = events[i]!;
      expect(Object.keys(entry).sort()).toEqual(['Detail', 'DetailType', 'EventBusName', 'Source', 'Time']);
      expect(entry.EventBusName).toBe(BUS);
      expect(entry.Source).toBe('joinflow');
      expect(entry.DetailType).toBe('Step Completed');
      expect(typeof entry.Detail).toBe('string');
      // The joinflow id rides in the detail, since EventBridge assigns its own event id.
      expect(JSON.parse(entry.Detail!)).toEqual({ ...event.detail, eventId: `evt-${i}` });
      expect(entry.Time).toEqual(new Date(TIME));
    });
  });

  it('passes an event\'s resources on as the entry\'s Resources (none for joinflow\'s own events)', async () => {
    respond();
    await bus().publish([{ ...completed(1), resources: ['arn:aws:s3:::bucket/key'] }, completed(2)]);
    const [entries] = requests();
    expect(entries!.map((e) => e.Resources)).toEqual([['arn:aws:s3:::bucket/key'], undefined]);
  });

  it('keeps a detail\'s own eventId and sends nothing for an empty publish', async () => {
    respond();
    const b = bus();
    await b.publish([]);
    expect(requests()).toEqual([]);
    const e = completed(1);
    await b.publish([{ ...e, detail: { ...e.detail, eventId: 'producer-id' } }]);
    expect(requests().flat().map(idOf)).toEqual(['producer-id']);
  });

  it('splits by total size: ten 60 KB entries go 4 + 4 + 2, every request within 256 KB', async () => {
    respond();
    const events = Array.from({ length: 10 }, (_, i) => completed(i, 'x'.repeat(60_000)));
    await bus().publish(events);

    const sent = requests();
    expect(sent.map((r) => r.length)).toEqual([4, 4, 2]);
    for (const r of sent) {
      const bytes = r.reduce((n, e) => n + 14 + Buffer.byteLength(e.Source!) + Buffer.byteLength(e.DetailType!) + Buffer.byteLength(e.Detail!), 0);
      expect(bytes).toBeLessThanOrEqual(256 * 1024);
    }
    expect(sent.flat().map(idOf)).toEqual(events.map((e) => e.id));
    // Under the 200 KB entry limit: carried inline, not claim-checked.
    expect(detailOf(sent[0]![0]!)['output']).toBe('x'.repeat(60_000));
  });
});

describe('EventBridge bus: partial failures', () => {
  it('re-sends only the entries with an ErrorCode, then stops when all succeed', async () => {
    respond((e, call) => {
      if (call !== 1) return undefined;
      if (idOf(e) === 'evt-1') return { code: 'InternalFailure', message: 'internal error' };
      if (idOf(e) === 'evt-3') return { code: 'ThrottlingException', message: 'Rate exceeded' };
      return undefined;
    });
    const sleeps: number[] = [];
    const events = Array.from({ length: 5 }, (_, i) => completed(i));
    await bus({}, sleeps).publish(events);

    const sent = requests();
    expect(sent.map((r) => r.map(idOf))).toEqual([['evt-0', 'evt-1', 'evt-2', 'evt-3', 'evt-4'], ['evt-1', 'evt-3']]);
    // The retried entries are the same entries, byte for byte.
    expect(sent[1]).toEqual([sent[0]![1], sent[0]![3]]);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
  });

  it('gives up after maxAttempts with PUT_EVENTS_FAILED naming the count and the first error', async () => {
    respond((e) => (idOf(e) === 'evt-2' || idOf(e) === 'evt-4' ? { code: 'ThrottlingException', message: 'Rate exceeded' } : undefined));
    const sleeps: number[] = [];
    const err = await rejection(bus({ maxAttempts: 4, baseDelayMs: 100 }, sleeps).publish(Array.from({ length: 6 }, (_, i) => completed(i))));

    expect(err.code).toBe('PUT_EVENTS_FAILED');
    expect(err.message).toContain('2 of 6 entries');
    expect(err.message).toContain('after 4 attempts');
    expect(err.message).toContain('ThrottlingException: Rate exceeded');
    expect(requests().map((r) => r.map(idOf))).toEqual([
      ['evt-0', 'evt-1', 'evt-2', 'evt-3', 'evt-4', 'evt-5'],
      ['evt-2', 'evt-4'],
      ['evt-2', 'evt-4'],
      ['evt-2', 'evt-4'],
    ]);
    // Exponential backoff with jitter in the upper half: (50..100], (100..200], (200..400].
    expect(sleeps).toHaveLength(3);
    sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(50 * 2 ** i);
      expect(ms).toBeLessThanOrEqual(100 * 2 ** i);
    });
  });

  it('translates a rejected request into PUT_EVENTS_FAILED with the SDK error as cause', async () => {
    const sdkError = Object.assign(new Error('User is not authorized to perform: events:PutEvents'), { name: 'AccessDeniedException' });
    eb.on(PutEventsCommand).rejects(sdkError);
    const err = await rejection(bus().publish([completed(0)]));
    expect(err.code).toBe('PUT_EVENTS_FAILED');
    expect(err.message).toContain('AccessDeniedException');
    expect(err.cause).toBe(sdkError);
  });
});

describe('EventBridge bus: claim checks', () => {
  it('stores a 300 KB output in the BlobStore and sends outputRef instead', async () => {
    respond();
    const blobs = memoryBlobs();
    const big = completed(7, { text: 'y'.repeat(300_000) });
    await bus({ blobs }).publish([big, completed(8)]);

    const [entry, small] = requests().flat();
    const detail = detailOf(entry!);
    expect(detail).toEqual({ workflow: 'wf', runId: 'run-1', step: 'a', attempt: 1, item: 7, outputRef: 'mem://events/evt-7.json', eventId: 'evt-7' });
    expect(putEventsEntrySize(entry!)).toBeLessThan(1_000);
    expect([...blobs.objects.keys()]).toEqual(['events/evt-7.json']);
    expect(blobs.objects.get('events/evt-7.json')).toBe(JSON.stringify({ text: 'y'.repeat(300_000) }));
    // Small events in the same publish are untouched.
    expect(detailOf(small!)['output']).toEqual({ n: 8 });

    const restored = await resolveClaimChecks(toEnvelope({ id: 'aws-id', source: 'joinflow', 'detail-type': 'Step Completed', time: TIME, detail }), blobs);
    expect(restored).toEqual(big);
  });

  it('counts UTF-8 bytes, not characters: 70,000 "€" (210 KB) are claim-checked', async () => {
    respond();
    const blobs = memoryBlobs();
    await bus({ blobs }).publish([completed(1, '€'.repeat(70_000))]);
    expect(detailOf(requests().flat()[0]!)['outputRef']).toBe('mem://events/evt-1.json');
  });

  it('claim-checks the whole detail when there is no output, keeping the fields rules match on', async () => {
    respond();
    const blobs = memoryBlobs();
    const run: EventEnvelope = { id: 'run-req', source: 'joinflow', 'detail-type': 'Run Requested', time: TIME, detail: { workflow: 'wf', runId: 'r9', input: { blob: 'z'.repeat(250_000) } } };
    await bus({ blobs }).publish([run]);

    const detail = detailOf(requests().flat()[0]!);
    expect(detail).toEqual({ workflow: 'wf', runId: 'r9', detailRef: 'mem://events/run-req.json', eventId: 'run-req' });
    expect(JSON.parse(blobs.objects.get('events/run-req.json')!)).toEqual(run.detail);
    const restored = await resolveClaimChecks(toEnvelope({ id: 'aws-id', source: 'joinflow', 'detail-type': 'Run Requested', time: TIME, detail }), blobs);
    expect(restored).toEqual(run);
  });

  it('without a BlobStore, throws PAYLOAD_TOO_LARGE naming the detail-type and size, and sends nothing', async () => {
    respond();
    const big = completed(3, 'q'.repeat(300_000));
    const expectedSize = 14 + 'joinflow'.length + 'Step Completed'.length + Buffer.byteLength(JSON.stringify({ ...big.detail, eventId: 'evt-3' }));
    const err = await rejection(bus().publish([completed(0), big]));

    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(err.message).toContain('"Step Completed"');
    expect(err.message).toContain(`${expectedSize} bytes`);
    expect(err.message).toContain('evt-3');
    expect(requests()).toEqual([]);
  });
});

describe('EventBridge bus: receiving and options', () => {
  it('toEnvelope lifts detail.eventId to id and drops account, region and resources', () => {
    const env = toEnvelope({
      version: '0', id: 'aws-1', source: 'joinflow', 'detail-type': 'Step Started', time: '2024-05-01T12:00:00Z',
      account: '123456789012', region: 'eu-west-1', resources: [], detail: { workflow: 'wf', step: 's', eventId: 'evt-9' },
    });
    expect(env).toEqual({ id: 'evt-9', source: 'joinflow', 'detail-type': 'Step Started', time: '2024-05-01T12:00:00Z', detail: { workflow: 'wf', step: 's' } });
    // Events from other producers have no eventId: EventBridge's id is kept.
    expect(toEnvelope({ id: 'aws-2', source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: 't', detail: { status: 'SUCCEEDED' } }).id).toBe('aws-2');
  });

  it('toEnvelope rejects malformed events with MALFORMED_EVENT listing the problems', () => {
    expect(() => toEnvelope({ id: 'x', source: '', 'detail-type': 'D', time: 't', detail: [] })).toThrowError(/MALFORMED|source/);
    try {
      toEnvelope({ id: 'x', source: 'joinflow', 'detail-type': 'D', time: 't', detail: 'nope' });
      expect.unreachable();
    } catch (e) {
      expect((e as JoinflowError).code).toBe('MALFORMED_EVENT');
      expect((e as JoinflowError).message).toContain('detail');
    }
  });

  it('subscribe explains that AWS subscriptions are EventBridge rules', () => {
    expect(() => bus().subscribe(null, () => undefined)).toThrowError(/EventBridge rule/);
  });

  it('rejects a maxEntryBytes that no PutEvents request could carry', () => {
    expect(() => bus({ maxEntryBytes: 300_000 })).toThrowError(/262144/);
  });
});
