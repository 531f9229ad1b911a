/**
 * What can never be processed goes to a dead-letter queue at once, with the reason; what a retry
 * may fix is retried. The timer Lambda: a body that is not JSON or not a timer message, and a task
 * kept in the bucket (a retry too large for SQS) that is gone, damaged or not a task, go to the
 * timer DLQ with the reason as message attributes and are not reported as batch item failures (so
 * the event source deletes them); S3 or DynamoDB unreachable is reported, so that the queue
 * delivers the message again. The processor: an event that is not one, or whose claim-checked
 * payload is gone or damaged, goes to the events DLQ instead of failing the invocation (retried
 * twice by Lambda, then the DLQ). A message to the events DLQ fits SQS's 262,144 bytes: an event
 * too large to go beside its reason is put in the bucket and named, or, without a bucket, cut with
 * a note saying so. SQS on fauxqs, S3 on s3rver; DynamoDB is not needed before a
 * message or event is read, and unreachable where it is.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetters, SQS_MESSAGE_BYTES } from '../../src/adapters/aws/dead-letter-queue.ts';
import { eventsDeadLetter } from '../../src/adapters/aws/events-dead-letter.ts';
import { s3Start } from '../../src/adapters/aws/handlers/bridges.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { handler as timer } from '../../src/adapters/aws/handlers/timer.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import type { Task } from '../../src/ports.ts';
import { loggedErrors } from '../helpers/handler-env.ts';
import { s3HandlerEnv, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { tempDirs } from '../helpers/tmp.ts';

const saved = { ...process.env };
const tmp = tempDirs('jf-timer-dlq-');
let fauxqs: FauxqsServer;
let sqs: SQSClient;
let s3: S3rverHandle;
let timerQueue: string;
let timerDlq: string;
let eventsDlq: string;
/** A port nothing listens on: a client pointed there fails as on a network error. */
let closedPort: number;

const task: Task = {
  workflow: 'chain', runId: 'r-dlq', step: 'a', attempt: 2, maxAttempts: 3,
  executor: { type: 'function', module: './handlers/h.ts', export: 'a' }, event: { input: {}, results: {} },
} as Task;

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  const endpoint = `http://127.0.0.1:${fauxqs.port}`;
  sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  timerDlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'dl-timer-dlq' }))).QueueUrl!;
  eventsDlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'dl-events-dlq' }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: timerDlq, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
  timerQueue = (await sqs.send(new CreateQueueCommand({
    QueueName: 'dl-timer',
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: '5' }) },
  }))).QueueUrl!;
  s3 = await startS3rver('dl-bucket');
  const triggers = path.join(tmp(), 'triggers');
  mkdirSync(triggers);
  // The S3 start bridge knows diamond (and no other workflow).
  copyFileSync(path.resolve(import.meta.dirname, '../../triggers/diamond.json'), path.join(triggers, 'diamond.json'));
  const server = createServer();
  closedPort = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  await new Promise((resolve) => server.close(resolve));
  Object.assign(process.env, s3HandlerEnv(s3, triggers), {
    JOINFLOW_TABLE: 'dl-table',
    AWS_ENDPOINT_URL_SQS: endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${closedPort}`,
    AWS_MAX_ATTEMPTS: '1',
    JOINFLOW_TIMER_QUEUE_URL: timerQueue,
    JOINFLOW_TIMER_DLQ_URL: timerDlq,
    JOINFLOW_DLQ_URL: eventsDlq,
  });
  resetWiring();
}, 60_000);

afterAll(async () => {
  process.env = saved;
  resetWiring();
  sqs?.destroy();
  await fauxqs?.stop();
  await s3?.close();
});

beforeEach(() => {
  process.env['JOINFLOW_TIMER_DLQ_URL'] = timerDlq;
  process.env['AWS_ENDPOINT_URL_S3'] = s3.endpoint;
  resetWiring();
});

afterEach(() => resetWiring());

/** Puts `bodies` on the timer queue and receives them, as the timer's SQS event source hands them over. */
async function records(...bodies: string[]): Promise<Array<{ messageId: string; body: string; attributes: { ApproximateReceiveCount: string } }>> {
  for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: timerQueue, MessageBody: body }));
  const got: Message[] = [];
  while (got.length < bodies.length) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: timerQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 300, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    got.push(...(out.Messages ?? []));
  }
  const byBody = (b: string) => got.find((m) => m.Body === b)!;
  return bodies.map((b) => ({ messageId: byBody(b).MessageId!, body: b, attributes: { ApproximateReceiveCount: byBody(b).Attributes!['ApproximateReceiveCount']! } }));
}

/** What a DLQ (the timer's by default) holds now: body and joinflow's attributes. */
async function deadLetters(queueUrl = timerDlq): Promise<Array<{ body: string; attributes: Record<string, string> }>> {
  const out: Array<{ body: string; attributes: Record<string, string> }> = [];
  for (;;) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300, MessageAttributeNames: ['All'] }));
    if (!got.Messages?.length) return out;
    for (const m of got.Messages) {
      out.push({ body: m.Body!, attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue!])) });
    }
  }
}

const put = (key: string, body: string) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
const byRef = (key: string) => JSON.stringify({ taskRef: `s3://${s3.bucket}/${key}`, dueAt: 0 });

describe('timer messages that can never be processed', () => {
  it('sends a body that is not JSON, or not a timer message, to the timer DLQ at once with the reason, and does not report it as failed', async () => {
    const batch = await records('{"task": ', '{"dueAt": 1}');
    const errors = await loggedErrors(async () => {
      expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [] });
    });
    const dead = await deadLetters();
    expect(dead.map((d) => d.body).sort()).toEqual(['{"dueAt": 1}', '{"task": ']);
    const of = (body: string) => dead.find((d) => d.body === body)!.attributes;
    expect(of('{"task": ')).toEqual({
      'joinflow-reason': expect.stringMatching(/^body is not JSON \(.+\)$/),
      'joinflow-message-id': batch[0]!.messageId,
      'joinflow-source-queue': timerQueue,
      'joinflow-receive-count': '1',
    });
    expect(of('{"dueAt": 1}')['joinflow-reason']).toBe('not a timer message: task: Invalid input: expected object, received undefined');
    expect(errors.map((e) => e['messageId'])).toEqual([batch[0]!.messageId, batch[1]!.messageId]);
    expect(errors[1]!['message']).toBe(`unprocessable timer message ${batch[1]!.messageId} (receive 1): not a timer message: task: Invalid input: expected object, received undefined; sent to the timer dead-letter queue with the reason (attribute joinflow-reason) and deleted`);
  });

  it('sends a message whose task object is gone, damaged, not a task or in another bucket to the timer DLQ, naming the object', async () => {
    await put('joinflow/timers/bad/not-json.json', '{"workflow": "chain", ');
    await put('joinflow/timers/bad/not-task.json', JSON.stringify({ ...task, attempt: 0, runId: undefined }));
    const bodies = [
      byRef('joinflow/timers/bad/missing.json'),
      byRef('joinflow/timers/bad/not-json.json'),
      byRef('joinflow/timers/bad/not-task.json'),
      JSON.stringify({ taskRef: 's3://elsewhere/joinflow/x.json', dueAt: 0 }),
    ];
    const batch = await records(...bodies);
    expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [] });
    const reasons = new Map((await deadLetters()).map((d) => [d.body, d.attributes['joinflow-reason']]));
    expect(reasons.get(bodies[0]!)).toBe(`its task cannot be read: blob "s3://dl-bucket/joinflow/timers/bad/missing.json" does not exist (was it deleted by a lifecycle rule before the event was processed?)`);
    expect(reasons.get(bodies[1]!)).toMatch(/^its task object s3:\/\/dl-bucket\/joinflow\/timers\/bad\/not-json\.json is damaged: it is not JSON \(.+\)$/);
    expect(reasons.get(bodies[2]!)).toBe('its task object s3://dl-bucket/joinflow/timers/bad/not-task.json is not a task: runId: Invalid input: expected string, received undefined; attempt: Too small: expected number to be >=1');
    expect(reasons.get(bodies[3]!)).toMatch(/^its task cannot be read: blob reference "s3:\/\/elsewhere\/joinflow\/x\.json" points into bucket "elsewhere"/);
    expect(reasons.size).toBe(4);
  });
});

describe('timer messages that a retry may process', () => {
  it('reports a message whose task object S3 cannot be reached as failed, so that the queue delivers it again, and dead-letters nothing', async () => {
    await put('joinflow/timers/ok/task.json', JSON.stringify(task));
    process.env['AWS_ENDPOINT_URL_S3'] = `http://127.0.0.1:${closedPort}`;
    resetWiring();
    const batch = await records(byRef('joinflow/timers/ok/task.json'));
    const errors = await loggedErrors(async () => {
      expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [{ itemIdentifier: batch[0]!.messageId }] });
    });
    expect(await deadLetters()).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ messageId: batch[0]!.messageId, message: expect.stringMatching(new RegExp(`^timer message ${batch[0]!.messageId} failed \\(it comes back after its visibility timeout\\): `)) })]);
  });

  it('reports a valid message whose run cannot be read (DynamoDB unreachable) as failed, naming its run and step, and dead-letters nothing', async () => {
    const batch = await records(JSON.stringify({ task, dueAt: 0 }));
    const errors = await loggedErrors(async () => {
      expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [{ itemIdentifier: batch[0]!.messageId }] });
    });
    expect(await deadLetters()).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ messageId: batch[0]!.messageId, runId: 'r-dlq', step: 'a', attempt: 2 })]);
  });

  it('leaves an unprocessable message to the redrive policy, saying why, when the timer DLQ cannot take it or is not configured', async () => {
    process.env['JOINFLOW_TIMER_DLQ_URL'] = `${timerDlq}-gone`;
    resetWiring();
    const batch = await records('not json at all');
    const errors = await loggedErrors(async () => {
      expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [{ itemIdentifier: batch[0]!.messageId }] });
    });
    expect(errors).toEqual([expect.objectContaining({ messageId: batch[0]!.messageId, message: expect.stringMatching(/; left for the queue's redrive policy \(the timer dead-letter queue after its receives\), as it could not be sent there: cannot send it to .*-gone: /) })]);

    delete process.env['JOINFLOW_TIMER_DLQ_URL'];
    resetWiring();
    const again = await loggedErrors(async () => {
      expect(await timer({ Records: batch })).toEqual({ batchItemFailures: [{ itemIdentifier: batch[0]!.messageId }] });
    });
    expect(again[0]!['message']).toMatch(/as it could not be sent there: JOINFLOW_TIMER_DLQ_URL is not set$/);
    expect(await deadLetters()).toEqual([]);
  });
});

describe('events the processor can never read', () => {
  const event = (detail: Record<string, unknown>) => ({ id: 'e-1', source: 'joinflow', 'detail-type': 'Step Completed', time: '2026-01-01T00:00:00Z', detail });

  it('dead-letters an event that is not one, and one whose claim-checked payload is gone, damaged or in another bucket, at once with the reason', async () => {
    await put('joinflow/results/r/damaged.json', '{"x": ');
    const cases: Array<[unknown, RegExp]> = [
      [{ id: 'e-0', detail: {} }, /^not an EventBridge event joinflow can process: source: /],
      [event({ workflow: 'chain', runId: 'r', step: 'a', outputRef: `s3://${s3.bucket}/joinflow/results/r/gone.json` }), /^blob "s3:\/\/dl-bucket\/joinflow\/results\/r\/gone\.json" does not exist/],
      [event({ workflow: 'chain', runId: 'r', step: 'a', outputRef: `s3://${s3.bucket}/joinflow/results/r/damaged.json` }), /^claim-checked payload "s3:\/\/dl-bucket\/joinflow\/results\/r\/damaged\.json" is not valid JSON$/],
      [event({ workflow: 'chain', runId: 'r', detailRef: 's3://elsewhere/joinflow/d.json' }), /^blob reference "s3:\/\/elsewhere\/joinflow\/d\.json" points into bucket "elsewhere"/],
    ];
    for (const [e] of cases) expect(await processor({ workflow: 'chain', event: e })).toEqual({ effects: 0 });
    const letters = (await deadLetters(eventsDlq)).map((d) => JSON.parse(d.body) as { reason: string; event: unknown });
    expect(letters).toHaveLength(cases.length);
    for (const [e, reason] of cases) expect(letters.find((l) => JSON.stringify(l.event) === JSON.stringify(e))?.reason).toMatch(reason);
  });

  it('fails the invocation (Lambda retries it) when S3 cannot be reached, and dead-letters nothing', async () => {
    process.env['AWS_ENDPOINT_URL_S3'] = `http://127.0.0.1:${closedPort}`;
    resetWiring();
    const e = event({ workflow: 'chain', runId: 'r', step: 'a', outputRef: `s3://${s3.bucket}/joinflow/results/r/any.json` });
    await expect(processor({ workflow: 'chain', event: e })).rejects.toThrow();
    expect(await deadLetters(eventsDlq)).toEqual([]);
  });
});

describe('uploads the S3 start bridge can start no run', () => {
  const created = (key: string, object: Record<string, unknown> = {}) => ({ id: 'e-s3', source: 'aws.s3', 'detail-type': 'Object Created', time: '2026-01-01T00:00:00Z', detail: { bucket: { name: s3.bucket }, object: { key, size: 8, etag: 'd41d8cd98f00b204e9800998ecf8427e', ...object } } });
  const letters = async () => (await deadLetters(eventsDlq)).map((d) => JSON.parse(d.body) as { reason: string; event: { detail: { object: { key: string } } } });

  it('dead-letters an upload under runs/<a workflow the stage does not have>/ at once, naming the object and the workflow', async () => {
    await put('runs/nosuch/in.json', '{"x": 1}');
    await s3Start(created('runs/nosuch/in.json'));
    expect(await letters()).toEqual([{
      reason: `upload s3://${s3.bucket}/runs/nosuch/in.json starts no run: the stage has no workflow "nosuch" (an upload to runs/<workflow>/<file> starts a run of <workflow>; deployed: diamond)`,
      event: created('runs/nosuch/in.json'),
    }]);
  });

  it('dead-letters an upload deleted, or overwritten, before the bridge read it, naming its bucket and key, and does not fail the invocation', async () => {
    await s3Start(created('runs/diamond/deleted.json'));
    // Overwritten: the object there now has another ETag than the upload's.
    await put('runs/diamond/overwritten.json', '{"x": 2}');
    await s3Start(created('runs/diamond/overwritten.json', { etag: '0123456789abcdef0123456789abcdef' }));
    // Over the inline size (passed by reference): checked to be there all the same.
    await s3Start(created('runs/diamond/large-deleted.bin', { size: 10_000_000 }));
    const reasons = new Map((await letters()).map((l) => [l.event.detail.object.key, l.reason]));
    expect(reasons.get('runs/diamond/deleted.json')).toBe(`upload s3://${s3.bucket}/runs/diamond/deleted.json is gone: it was deleted before the S3 start bridge read it, so it starts no run (upload it again to start one)`);
    expect(reasons.get('runs/diamond/overwritten.json')).toMatch(new RegExp(`^upload s3://${s3.bucket}/runs/diamond/overwritten\\.json was overwritten before the S3 start bridge read it \\(its ETag is [0-9a-f]{32}, the upload's was 0123456789abcdef0123456789abcdef\\): this upload starts no run; the one that overwrote it starts its own$`));
    expect(reasons.get('runs/diamond/large-deleted.bin')).toMatch(/^upload s3:\/\/dl-bucket\/runs\/diamond\/large-deleted\.bin is gone: /);
    expect(reasons.size).toBe(3);
  });

  it('fails the invocation (Lambda retries it) when S3 cannot be reached, and dead-letters nothing', async () => {
    process.env['AWS_ENDPOINT_URL_S3'] = `http://127.0.0.1:${closedPort}`;
    resetWiring();
    await expect(s3Start(created('runs/diamond/in.json'))).rejects.toThrow();
    expect(await deadLetters(eventsDlq)).toEqual([]);
  });
});

describe('a dead letter near SQS\'s message size limit', () => {
  /** A DLQ that takes what SQS takes by default (fauxqs defaults to SQS's largest, 1 MiB). */
  const dlqOf256KiB = async () => (await sqs.send(new CreateQueueCommand({ QueueName: `dl-small-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, Attributes: { MaximumMessageSize: String(SQS_MESSAGE_BYTES) } }))).QueueUrl!;
  const reason = `not a timer message: ${'task: Invalid input; '.repeat(70)}`;

  it('cuts the reason so that the copy, attributes included, fits where the message did', async () => {
    const dlqUrl = await dlqOf256KiB();
    const body = 'x'.repeat(SQS_MESSAGE_BYTES - 1000);
    const out = await createDeadLetters({ sqs, queueUrl: timerQueue, dlqUrl }).send({ messageId: 'm-near', body, receiveCount: '1' }, reason);
    expect(out).toEqual({ sent: true, queueUrl: dlqUrl });
    const [dead] = await deadLetters(dlqUrl);
    expect(dead!.body).toBe(body);
    const said = dead!.attributes['joinflow-reason']!;
    expect(said.startsWith(reason.slice(0, 100))).toBe(true);
    expect(said).toMatch(/\.\.\. \(\d+ more bytes: the log line naming message m-near has it whole\)$/);
    const attributeBytes = Object.entries(dead!.attributes).reduce((n, [k, v]) => n + k.length + (k === 'joinflow-receive-count' ? 'Number' : 'String').length + Buffer.byteLength(v), 0);
    expect(body.length + attributeBytes).toBeLessThanOrEqual(SQS_MESSAGE_BYTES);
  });

  it('keeps a long reason to 2,000 bytes, cut between characters', async () => {
    await createDeadLetters({ sqs, queueUrl: timerQueue, dlqUrl: eventsDlq }).send({ messageId: 'm-wide', body: '{}' }, `bad: ${'é'.repeat(1500)}`);
    const said = (await deadLetters(eventsDlq))[0]!.attributes['joinflow-reason']!;
    expect(Buffer.byteLength(said)).toBeLessThanOrEqual(2000);
    expect(said).toMatch(/^bad: é+\.\.\. \(\d+ more bytes: /);
  });

  it('says why, with the sizes, when not even a short reason fits, and sends it all the same to a DLQ that takes larger messages', async () => {
    const body = 'x'.repeat(SQS_MESSAGE_BYTES - 50);
    const small = await dlqOf256KiB();
    const out = await createDeadLetters({ sqs, queueUrl: timerQueue, dlqUrl: small }).send({ messageId: 'm-full', body }, reason);
    expect(out).toEqual({ sent: false, why: expect.stringMatching(new RegExp(`^cannot send it to ${small} \\(its body is ${SQS_MESSAGE_BYTES - 50} bytes, \\d+ with the reason and the other attributes, over the ${SQS_MESSAGE_BYTES} bytes an SQS queue takes unless its MaximumMessageSize is raised\\): `)) });
    expect(await deadLetters(small)).toEqual([]);
    // eventsDlq (fauxqs's default, as SQS allows at most: 1 MiB) takes it.
    expect(await createDeadLetters({ sqs, queueUrl: timerQueue, dlqUrl: eventsDlq }).send({ messageId: 'm-full', body }, reason)).toEqual({ sent: true, queueUrl: eventsDlq });
    expect((await deadLetters(eventsDlq)).map((d) => d.body.length)).toEqual([body.length]);
  });
});

describe('an event too large for the events DLQ beside its reason', () => {
  /** A Run Requested from another producer, near EventBridge's 256 KB, for a workflow the stage does not have. */
  const foreign = (extra = '') => ({
    id: `e-big${extra}`, source: 'joinflow', 'detail-type': 'Run Requested', time: '2026-01-01T00:00:00Z',
    detail: { workflow: 'nosuch', runId: `r-big${extra}`, input: { text: `"quoted"\n${'é'.repeat(10)}${'x'.repeat(261_950)}` } },
  });
  /** What EventBridge counts toward its 256 KB entry limit: source, detail-type and detail (UTF-8). */
  const asEventBridge = (e: ReturnType<typeof foreign>) => Buffer.byteLength(e.source) + Buffer.byteLength(e['detail-type']) + Buffer.byteLength(JSON.stringify(e.detail));
  let small: string;

  beforeAll(async () => {
    small = (await sqs.send(new CreateQueueCommand({ QueueName: 'dl-events-dlq-256k', Attributes: { MaximumMessageSize: String(SQS_MESSAGE_BYTES) } }))).QueueUrl!;
  });
  beforeEach(() => {
    process.env['JOINFLOW_DLQ_URL'] = small;
    resetWiring();
  });
  afterEach(() => {
    process.env['JOINFLOW_DLQ_URL'] = eventsDlq;
    process.env['JOINFLOW_BUCKET'] = s3.bucket;
  });

  it('puts the event in the bucket and sends {reason, eventRef, eventBytes, eventSummary}, within SQS\'s 262,144 bytes', async () => {
    const event = foreign();
    expect(asEventBridge(event)).toBeLessThanOrEqual(256 * 1024);
    expect(Buffer.byteLength(JSON.stringify({ reason: 'unknown workflow "nosuch"', event }))).toBeGreaterThan(SQS_MESSAGE_BYTES);
    await expect(processor({ unrouted: true, event })).resolves.toEqual({ effects: 1 });
    const [letter, ...more] = await deadLetters(small);
    expect(more).toEqual([]);
    expect(Buffer.byteLength(letter!.body)).toBeLessThanOrEqual(SQS_MESSAGE_BYTES);
    const body = JSON.parse(letter!.body) as { reason: string; eventRef: string; eventBytes: number; eventSummary: unknown };
    expect(body).toEqual({
      reason: 'unknown workflow "nosuch"',
      eventRef: expect.stringMatching(new RegExp(`^s3://${s3.bucket}/joinflow/dead-letters/[0-9a-f]{32}\\.json$`)),
      eventBytes: Buffer.byteLength(JSON.stringify(event)),
      eventSummary: { id: 'e-big', source: 'joinflow', 'detail-type': 'Run Requested', time: '2026-01-01T00:00:00Z', detail: { workflow: 'nosuch', runId: 'r-big' } },
    });
    const key = body.eventRef.slice(`s3://${s3.bucket}/`.length);
    const kept = await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString();
    expect(JSON.parse(kept)).toEqual(event);
  });

  it('without a bucket, keeps the start of the event\'s JSON and says how much is cut, within SQS\'s 262,144 bytes', async () => {
    delete process.env['JOINFLOW_BUCKET'];
    resetWiring();
    const event = foreign('-2');
    await expect(processor({ unrouted: true, event })).resolves.toEqual({ effects: 1 });
    const [letter, ...more] = await deadLetters(small);
    expect(more).toEqual([]);
    expect(Buffer.byteLength(letter!.body)).toBeLessThanOrEqual(SQS_MESSAGE_BYTES);
    const body = JSON.parse(letter!.body) as { reason: string; eventBytes: number; eventSummary: { id: string }; eventCut: string; eventStart: string };
    const json = JSON.stringify(event);
    const kept = Buffer.byteLength(body.eventStart);
    expect(json.startsWith(body.eventStart)).toBe(true);
    expect(kept).toBeGreaterThan(200_000);
    expect(body).toMatchObject({ reason: 'unknown workflow "nosuch"', eventBytes: Buffer.byteLength(json), eventSummary: { id: 'e-big-2' } });
    expect(body.eventCut).toBe(`the event is ${Buffer.byteLength(json)} bytes as JSON, too large for an SQS message beside its reason, and no bucket is configured to keep it: eventStart holds its first ${kept} bytes, the other ${Buffer.byteLength(json) - kept} are cut`);
  });

  it('sends an event that fits as {reason, event}, whole', async () => {
    const event = { ...foreign('-3'), detail: { workflow: 'nosuch', runId: 'r-big-3', input: 'x'.repeat(200_000) } };
    await processor({ unrouted: true, event });
    expect((await deadLetters(small)).map((d) => JSON.parse(d.body) as unknown)).toEqual([{ reason: 'unknown workflow "nosuch"', event }]);
  });

  it('cuts a reason over 2,000 bytes, saying so, and keeps the event whole when it then fits', async () => {
    const event = { id: 'e-long-reason', detail: { workflow: 'w' } };
    const letter = await eventsDeadLetter(event, `invalid detail: ${'input.x: expected number; '.repeat(12_000)}`, undefined);
    const body = JSON.parse(letter.body) as { reason: string; event: unknown };
    expect(body.event).toEqual(event);
    expect(Buffer.byteLength(body.reason)).toBeLessThanOrEqual(2000);
    expect(body.reason).toMatch(/^invalid detail: input\.x: expected number; .*\.\.\. \(\d+ more bytes: the log line "dead letter: \.\.\." has it whole\)$/);
  });
});
