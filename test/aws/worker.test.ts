/**
 * The SQS dispatcher and `joinflow worker` against fauxqs (a real SQS protocol emulator, in
 * process): results on the bus, deletes, visibility renewal, dead-lettering, shutdown.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { createEventBridgeBus } from '../../src/adapters/aws/eventbridge-bus.ts';
import { createSqsDispatcher, type SqsDispatcher } from '../../src/adapters/aws/sqs-executor.ts';
import { createWorker, type Worker, type WorkerOptions } from '../../src/adapters/aws/worker.ts';
import { createFunctionExecutor } from '../../src/adapters/local/function-executor.ts';
import { createProcessExecutor } from '../../src/adapters/local/process-executor.ts';
import { JoinflowError } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { ContainerExecutor } from '../../src/model/workflow.ts';
import type { EventBus, Executor, Task } from '../../src/ports.ts';
import { slowImport } from '../helpers/slow-import.ts';
import { until as poll } from '../helpers/until.ts';

const root = path.resolve(import.meta.dirname, '../..');
const handlers = path.join(root, 'test/fixtures/worker/handlers.ts');
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let server: FauxqsServer;
let endpoint: string;
let sqs: SQSClient;
let executors: { function: Executor; process: Executor };
let scratch: string;
const workers: Worker[] = [];

beforeAll(async () => {
  server = await startFauxqs({ port: 0, logger: false });
  endpoint = `http://127.0.0.1:${server.port}`;
  sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials });
  scratch = mkdtempSync(path.join(tmpdir(), 'joinflow-worker-test-'));
  executors = {
    function: createFunctionExecutor({ threads: 4 }),
    process: createProcessExecutor({ logDir: () => path.join(scratch, 'logs') }),
  };
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});

afterAll(async () => {
  await Promise.all([executors.function.close(), executors.process.close()]);
  sqs.destroy();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh queue with a DLQ after 2 receives, created through the SQS API. */
async function queues(): Promise<{ url: string; dlq: string; dispatcher: SqsDispatcher }> {
  const name = `tasks-${randomUUID().slice(0, 8)}`;
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
  const url = (await sqs.send(new CreateQueueCommand({
    QueueName: name,
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: '2' }) },
  }))).QueueUrl!;
  const dispatcher = createSqsDispatcher({ client: sqs, queueUrl: (q) => (q === 'gpu' ? url : `${url}-wrong-${q}`) });
  return { url, dlq, dispatcher };
}

async function messageCount(url: string): Promise<number> {
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
  return Number(a['ApproximateNumberOfMessages']) + Number(a['ApproximateNumberOfMessagesNotVisible']) + Number(a['ApproximateNumberOfMessagesDelayed']);
}

type Capture = EventBus & { events: EventEnvelope[]; of(type: string): Record<string, unknown>[] };

/** An in-memory bus that keeps what is published. */
function captureBus(): Capture {
  const events: EventEnvelope[] = [];
  return {
    events,
    async publish(batch) {
      events.push(...batch);
    },
    subscribe: () => () => {},
    of: (type) => events.filter((e) => e['detail-type'] === type).map((e) => e.detail),
  };
}

/** Waits up to 15 s by default (see helpers/until.ts). */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000) => poll(what, probe, ms);

function container(spec: Partial<ContainerExecutor>): ContainerExecutor {
  return { type: 'container', queue: 'gpu', export: 'handler', args: [], env: {}, ...spec };
}

function task(executor: ContainerExecutor, input: unknown, extra: Partial<Task> = {}): Task {
  return { workflow: 'wf', runId: randomUUID(), step: 'work', attempt: 1, maxAttempts: 2, executor, event: { input, results: {} }, ...extra };
}

function startWorker(url: string, bus: EventBus, options: Partial<WorkerOptions> = {}): { worker: Worker; done: Promise<void>; warnings: string[] } {
  const warnings: string[] = [];
  const worker = createWorker({
    sqs, queueUrl: url, bus, executors, visibilityTimeoutSec: 5, waitTimeSec: 1,
    logger: { info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
    ...options,
  });
  workers.push(worker);
  return { worker, done: worker.run(), warnings };
}

describe('createSqsDispatcher', () => {
  it('sends the task as the body with runId/step/attempt attributes, to the queue of its executor', async () => {
    const { url, dispatcher } = await queues();
    const t = task(container({ module: handlers, export: 'double' }), { x: 1 }, { attempt: 3, maxAttempts: 5, item: 4 });
    await dispatcher.dispatch(t);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }));
    expect(got.Messages).toHaveLength(1);
    const m = got.Messages![0]!;
    expect(JSON.parse(m.Body!)).toEqual(t);
    expect(m.MessageAttributes).toMatchObject({
      runId: { DataType: 'String', StringValue: t.runId },
      step: { DataType: 'String', StringValue: 'work' },
      attempt: { DataType: 'String', StringValue: '3' },
    });
  });

  it('refuses a task over 200 KB with TASK_TOO_LARGE and sends nothing', async () => {
    const { url, dispatcher } = await queues();
    const big = task(container({ module: handlers }), { blob: 'x'.repeat(201 * 1024) });
    await expect(dispatcher.dispatch(big)).rejects.toMatchObject({ code: 'TASK_TOO_LARGE', message: expect.stringMatching(/bytes, over the 204800-byte/) });
    expect(await messageCount(url)).toBe(0);
  });
});

describe('createWorker', () => {
  it('runs a handler task, publishes Started then exactly one Completed with the output, and deletes the message', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const t = task(container({ module: handlers, export: 'double' }), { x: 21 }, { item: 7 });
    await dispatcher.dispatch(t);
    const { worker } = startWorker(url, bus);
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    await worker.stop();
    expect(bus.events.map((e) => e['detail-type'])).toEqual(['Step Started', 'Step Completed']);
    expect(bus.of('Step Completed')).toEqual([{ workflow: 'wf', runId: t.runId, step: 'work', attempt: 1, item: 7, output: 42 }]);
    for (const e of bus.events) {
      expect(e.source).toBe('joinflow');
      expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Date(e.time).toISOString()).toBe(e.time);
    }
    expect(new Set(bus.events.map((e) => e.id)).size).toBe(2);
    expect(await messageCount(url)).toBe(0);
  });

  it('reports a command exiting with 3 as Step Failed, retrying only while attempts remain', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const exit3 = container({ command: process.execPath, args: ['-e', 'process.exit(3)'] });
    const first = task(exit3, null, { attempt: 1, maxAttempts: 2 });
    const last = task(exit3, null, { attempt: 2, maxAttempts: 2 });
    await dispatcher.dispatch(first);
    await dispatcher.dispatch(last);
    const { worker } = startWorker(url, bus, { concurrency: 2 });
    await until('two Step Failed', () => bus.of('Step Failed').length === 2);
    await worker.stop();
    const byRun = new Map(bus.of('Step Failed').map((d) => [d['runId'], d]));
    expect(byRun.get(first.runId)).toMatchObject({ attempt: 1, retrying: true, error: { type: 'ProcessExited', message: expect.stringContaining('exited with code 3') } });
    expect(byRun.get(last.runId)).toMatchObject({ attempt: 2, retrying: false, error: { type: 'ProcessExited' } });
    expect(bus.of('Step Completed')).toEqual([]);
    expect(await messageCount(url)).toBe(0);
  });

  it('keeps a long task invisible: a second polling worker never gets it', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const marker = path.join(scratch, `marker-${randomUUID()}`);
    await dispatcher.dispatch(task(container({ module: handlers, export: 'slow' }), { marker, ms: 2500 }));
    // Both idle and polling: without renewal the message reappears after 1 s and one of them takes it.
    const a = startWorker(url, bus, { visibilityTimeoutSec: 1 });
    const b = startWorker(url, bus, { visibilityTimeoutSec: 1 });
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    await Promise.all([a.worker.stop(), b.worker.stop()]);
    expect(readFileSync(marker, 'utf8')).toBe('ran\n');
    expect(bus.of('Step Started')).toHaveLength(1);
    expect(bus.of('Step Completed')).toHaveLength(1);
    expect(await messageCount(url)).toBe(0);
  });

  it('keeps a long task invisible though one renewal of its visibility fails (throttled)', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const marker = path.join(scratch, `marker-${randomUUID()}`);
    await dispatcher.dispatch(task(container({ module: handlers, export: 'slow' }), { marker, ms: 4500 }));
    let refused = 0;
    const throttled = {
      send: (command: unknown) => {
        if (command instanceof ChangeMessageVisibilityCommand && (command.input.VisibilityTimeout ?? 0) > 0 && refused++ === 0) {
          return Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
        }
        return sqs.send(command as never);
      },
    } as unknown as SQSClient;
    // Renewed at a third of 2 s: the first renewal fails, the second comes well before the message would reappear
    // (at half, the second came just as it reappeared, and the idle worker b took it about every other time).
    const a = startWorker(url, bus, { sqs: throttled, visibilityTimeoutSec: 2 });
    await until('the task to start', () => bus.of('Step Started').length > 0);
    const b = startWorker(url, bus, { visibilityTimeoutSec: 2 });
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    await Promise.all([a.worker.stop(), b.worker.stop()]);
    expect(refused).toBeGreaterThan(1);
    expect(a.warnings.filter((w) => w.includes('cannot extend the visibility'))).toHaveLength(1);
    expect(bus.of('Step Started')).toHaveLength(1);
    expect(bus.of('Step Completed')).toHaveLength(1);
  });

  it('sends a malformed message to its queue\'s DLQ at once, with the reason, deletes it and keeps working', async () => {
    const { url, dlq, dispatcher } = await queues();
    const bus = captureBus();
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{not json' }));
    const { warnings } = startWorker(url, bus, { visibilityTimeoutSec: 1 });
    let dead: Message | undefined;
    await until('the DLQ to receive the message', async () => {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
      dead = got.Messages?.[0];
      return dead !== undefined;
    });
    expect(dead!.Body).toBe('{not json');
    const attributes = Object.fromEntries(Object.entries(dead!.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]));
    expect(attributes).toEqual({
      'joinflow-reason': expect.stringMatching(/^body is not JSON \(.+\)$/),
      'joinflow-message-id': sent.MessageId,
      'joinflow-source-queue': url,
      'joinflow-receive-count': '1',
    });
    // Received once, not maxReceiveCount (2) times: sent on at the first receive.
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
    const malformed = warnings.filter((w) => w.includes('malformed task message'));
    expect(malformed).toEqual([expect.stringMatching(new RegExp(`^malformed task message ${sent.MessageId} \\(receive 1\\): body is not JSON .*; sent to the dead-letter queue ${dlq} with the reason \\(attribute joinflow-reason\\) and deleted$`))]);
    expect(bus.events).toEqual([]);

    const t = task(container({ module: handlers, export: 'double' }), { x: 5 });
    await dispatcher.dispatch(t);
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    expect(bus.of('Step Completed')[0]).toMatchObject({ runId: t.runId, output: 10 });
  });

  it('says that a malformed message it sent to the DLQ but could not delete may be dead-lettered again, not that it may run', async () => {
    const { url, dlq } = await queues();
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{not json' }));
    const refusing = {
      send: (command: unknown) => command instanceof DeleteMessageCommand
        ? Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
        : sqs.send(command as never),
    } as unknown as SQSClient;
    const { worker, warnings } = startWorker(url, captureBus(), { sqs: refusing, visibilityTimeoutSec: 30 });
    await until('the worker to log the dead letter', () => warnings.some((w) => w.includes('sent to the dead-letter queue')));
    await worker.stop();
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^malformed task message ${sent.MessageId} \\(receive 1\\): body is not JSON \\(.+\\): cannot delete its message \\(ThrottlingException: Rate exceeded\\); it comes back after its visibility timeout, and may be dead-lettered again \\(a second copy in the dead-letter queue\\)$`)),
      expect.stringMatching(new RegExp(`^malformed task message ${sent.MessageId} \\(receive 1\\): .*; sent to the dead-letter queue ${dlq} with the reason \\(attribute joinflow-reason\\), but not deleted$`)),
    ]);
  });

  it('leaves a malformed message on a queue without a redrive policy, saying so', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: `bare-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '[]' }));
    const { worker, warnings } = startWorker(url, captureBus(), { visibilityTimeoutSec: 30 });
    await until('a warning', () => warnings.length > 0);
    await worker.stop();
    expect(warnings[0]).toMatch(/^malformed task message .* \(receive 1\): .*; left for the queue's redrive policy, as it could not be sent to the dead-letter queue: cannot find the dead-letter queue of .*: Error: the queue has no redrive policy \(set one, with a dead-letter queue\)$/);
    expect(await messageCount(url)).toBe(1);
  });

  it('keeps the message when the result cannot be published, so the step runs again', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    let down = true;
    const flaky: EventBus = {
      async publish(batch) {
        if (down && batch.some((e) => e['detail-type'] === 'Step Completed')) throw new Error('bus down');
        await bus.publish(batch);
      },
      subscribe: bus.subscribe,
    };
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
    const { warnings } = startWorker(url, flaky, { visibilityTimeoutSec: 1, publishBackoffMs: [] });
    await until('the publish error', () => warnings.some((w) => w.includes('cannot publish its result')));
    expect(await messageCount(url)).toBe(1);
    down = false;
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    expect(bus.of('Step Started')).toHaveLength(2);
    expect(bus.of('Step Completed')).toMatchObject([{ attempt: 1, output: 4 }]);
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
  });

  it('puts a result again while PutEvents is throttled for a moment, rather than run the task again', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    let rejected = 0;
    const throttled: EventBus = {
      async publish(batch) {
        if (rejected < 2 && batch.some((e) => e['detail-type'] === 'Step Completed')) {
          rejected++;
          throw new JoinflowError('PUT_EVENTS_FAILED', 'PutEvents to bus "b" was rejected: ThrottlingException: Rate exceeded');
        }
        await bus.publish(batch);
      },
      subscribe: bus.subscribe,
    };
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
    const { warnings } = startWorker(url, throttled, { visibilityTimeoutSec: 1, publishBackoffMs: [50, 50, 50] });
    await until('Step Completed', () => bus.of('Step Completed').length > 0);
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
    expect(rejected).toBe(2);
    expect(bus.of('Step Started')).toHaveLength(1);
    expect(bus.of('Step Completed')).toMatchObject([{ attempt: 1, output: 4 }]);
    expect(warnings.filter((w) => w.includes('cannot publish its result'))).toEqual([]);
  });

  it('does not fail the step for good when PutEvents of its result is throttled on the EventBridge bus', async () => {
    const { url, dispatcher } = await queues();
    const eb = mockClient(EventBridgeClient);
    try {
      const put: Array<{ type: string; detail: Record<string, unknown> }> = [];
      let throttled = 0;
      eb.on(PutEventsCommand).callsFake(async (input: { Entries?: Array<{ DetailType?: string; Detail?: string }> }) => {
        const entries = input.Entries ?? [];
        // The request is rejected (after the SDK's own retries) while the bus's rate is exceeded.
        if (throttled < 1 && entries.some((e) => e.DetailType === 'Step Completed')) {
          throttled++;
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        }
        put.push(...entries.map((e) => ({ type: e.DetailType!, detail: JSON.parse(e.Detail!) as Record<string, unknown> })));
        return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) };
      });
      const bus = createEventBridgeBus({ client: new EventBridgeClient({ region: 'us-east-1', credentials }), busName: 'joinflow-test', sleep: async () => {} });
      await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
      startWorker(url, bus, { visibilityTimeoutSec: 1 });
      await until('a result', () => put.some((e) => e.type === 'Step Completed' || e.type === 'Step Failed'));
      expect(throttled).toBe(1);
      expect(put.filter((e) => e.type === 'Step Failed')).toEqual([]);
      expect(put.filter((e) => e.type === 'Step Completed')).toMatchObject([{ detail: { attempt: 1, output: 4 } }]);
      await until('the message to be deleted', async () => (await messageCount(url)) === 0);
    } finally {
      eb.restore();
    }
  });

  it('turns a result the bus refuses (JoinflowError) into a final Step Failed and deletes the message', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const refusing: EventBus = {
      async publish(batch) {
        if (batch.some((e) => e['detail-type'] === 'Step Completed')) throw new JoinflowError('PAYLOAD_TOO_LARGE', 'event is too big');
        await bus.publish(batch);
      },
      subscribe: bus.subscribe,
    };
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
    startWorker(url, refusing);
    await until('Step Failed', () => bus.of('Step Failed').length > 0);
    expect(bus.of('Step Failed')).toMatchObject([{ retrying: false, error: { type: 'ResultNotPublishable', message: expect.stringContaining('event is too big') } }]);
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
  });

  it('treats a body that is JSON but not a task as malformed, naming the bad fields', async () => {
    const { url } = await queues();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify({ workflow: 'wf', runId: 'r', step: 's', attempt: 0 }) }));
    const { warnings } = startWorker(url, captureBus());
    await until('a warning', () => warnings.length > 0);
    expect(warnings[0]).toMatch(/attempt: .*maxAttempts: .*executor: /);
  });

  it('treats a task whose run id is a path (../..) as malformed: its files would be downloaded outside the worker\'s data directory', async () => {
    const { url } = await queues();
    const body = { ...task(container({ command: 'true' }), null), runId: '../../escaped' };
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }));
    const { warnings } = startWorker(url, captureBus());
    await until('a warning', () => warnings.length > 0);
    expect(warnings[0]).toContain('runId: "../../escaped" cannot be a run id: letters, digits');
  });

  it('fails a task that outlives timeoutMs with StepTimeout', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const t = task(container({ module: handlers, export: 'slow' }), { marker: path.join(scratch, randomUUID()), ms: 10_000 }, { timeoutMs: 300 });
    await dispatcher.dispatch(t);
    startWorker(url, bus);
    await until('Step Failed', () => bus.of('Step Failed').length > 0);
    expect(bus.of('Step Failed')[0]).toMatchObject({ runId: t.runId, retrying: true, error: { type: 'StepTimeout', message: expect.stringContaining('300 ms') } });
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
  });

  // As on the embedded engine (test/unit/function-timing.test.ts): a handler's init is not part of its timeout.
  /** A container handler task (`exportName` of a module that loads for 900 ms) with a 300 ms timeout, taken by a worker. */
  async function afterSlowLoad(exportName: string) {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const slow = slowImport(mkdtempSync(path.join(scratch, 'slow-')));
    const t = task(container({ module: slow.module, export: exportName }), {}, { timeoutMs: 300 });
    await dispatcher.dispatch(t);
    const infos: string[] = [];
    startWorker(url, bus, { logger: { info: (m) => infos.push(m), warn: () => {}, error: () => {} } });
    await until('the module to load', slow.importing);
    // The module loads for longer than the step's timeout.
    await new Promise((r) => setTimeout(r, 900));
    slow.release();
    return { bus, t, infos };
  }

  it("leaves the load of a handler's module out of its timeoutMs and logs it as the attempt's init", async () => {
    const { bus, t, infos } = await afterSlowLoad('now');
    await until('its log line', () => infos.length > 0);
    expect(bus.of('Step Failed')).toEqual([]);
    expect(bus.of('Step Completed')).toEqual([{ workflow: 'wf', runId: t.runId, step: 'work', attempt: 1, output: 'ran' }]);
    const [, took, init] = /: succeeded in (\d+) ms, (\d+) ms of it init$/.exec(infos[0]!) ?? [];
    expect(Number(init)).toBeGreaterThanOrEqual(900);
    expect(Number(took)).toBeGreaterThanOrEqual(Number(init));
  });

  it('says in the StepTimeout of a handler that outlives timeoutMs after a long load how long the load took', async () => {
    const { bus, infos } = await afterSlowLoad('hangs');
    await until('Step Failed', () => bus.of('Step Failed').length > 0);
    const message = (bus.of('Step Failed')[0]!['error'] as { message: string }).message;
    const [, initMs, tookMs] = /^step "work" timed out after 300 ms of its handler \(attempt 1\): its timeoutMs counts from the handler's start, which came (\d+) ms into the attempt, spent starting a worker thread or loading its module \((\d+) ms in all\)$/.exec(message) ?? [];
    expect(Number(initMs)).toBeGreaterThanOrEqual(900);
    expect(Number(tookMs)).toBeGreaterThanOrEqual(Number(initMs) + 300);
    await until('its log line', () => infos.length > 0);
    expect(infos[0]).toMatch(new RegExp(`: timed out in \\d+ ms, ${initMs} ms of it init$`));
  });

  it('stop() lets a running task finish before it resolves', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    await dispatcher.dispatch(task(container({ module: handlers, export: 'slow' }), { marker: path.join(scratch, randomUUID()), ms: 1000 }));
    const { worker, done } = startWorker(url, bus);
    await until('Step Started', () => bus.of('Step Started').length > 0);
    expect(bus.of('Step Completed')).toEqual([]);
    await worker.stop();
    expect(bus.of('Step Completed')).toEqual([{ workflow: 'wf', runId: expect.any(String), step: 'work', attempt: 1, output: 'done' }]);
    expect(await messageCount(url)).toBe(0);
    await expect(done).resolves.toBeUndefined();
  });

  it('stop() aborts a task still running after graceMs and leaves its message for redelivery', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const t = task(container({ module: handlers, export: 'slow' }), { marker: path.join(scratch, randomUUID()), ms: 20_000 });
    await dispatcher.dispatch(t);
    const { worker } = startWorker(url, bus);
    await until('Step Started', () => bus.of('Step Started').length > 0);
    await worker.stop({ graceMs: 200 });
    // Had stop() waited the 20 s out (or the default 30 s grace), the step would have completed.
    expect(bus.events.map((e) => e['detail-type'])).toEqual(['Step Started']);
    // Handed back with visibility 0, so it is there at once for another worker.
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    expect(JSON.parse(again.Messages?.[0]?.Body ?? 'null')).toMatchObject({ runId: t.runId });
  });

  it('does not run a task whose run has ended: deletes its message and publishes nothing', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const marker = path.join(scratch, `marker-${randomUUID()}`);
    const t = task(container({ module: handlers, export: 'slow' }), { marker, ms: 10 });
    await dispatcher.dispatch(t);
    const asked: string[] = [];
    const infos: string[] = [];
    startWorker(url, bus, { runStatus: async (runId) => (asked.push(runId), 'cancelled'), logger: { info: (m) => infos.push(m), warn: () => {}, error: () => {} } });
    await until('the message to be deleted', async () => (await messageCount(url)) === 0);
    await until('the log line', () => infos.length > 0);
    expect(asked).toEqual([t.runId]);
    expect(infos).toEqual([`wf/${t.runId} work attempt 1: not run, its run has ended (cancelled)`]);
    expect(bus.events).toEqual([]);
    expect(() => readFileSync(marker)).toThrow(/ENOENT/);
  });

  it('stops a running task once its run ends, publishing no result, and deletes its message', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    const t = task(container({ command: process.execPath, args: ['-e', 'setTimeout(() => {}, 20000)'] }), null);
    await dispatcher.dispatch(t);
    let status = 'running';
    const infos: string[] = [];
    startWorker(url, bus, { runStatus: async () => status, runCheckMs: 50, logger: { info: (m) => infos.push(m), warn: () => {}, error: () => {} } });
    await until('Step Started', () => bus.of('Step Started').length > 0);
    status = 'failed';
    await until('the log line', () => infos.length > 0);
    expect(infos[0]).toMatch(new RegExp(`^wf/${t.runId} work attempt 1: stopped after \\d+ ms, its run has ended \\(failed\\)$`));
    expect(bus.events.map((e) => e['detail-type'])).toEqual(['Step Started']);
    expect(await messageCount(url)).toBe(0);
  });

  it('runs every task to its end when the run status cannot be read, saying so once', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 1 }));
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
    const denied = Object.assign(new Error('not authorized to perform: dynamodb:GetItem'), { name: 'AccessDeniedException' });
    const { warnings } = startWorker(url, bus, { runStatus: () => Promise.reject(denied), runCheckMs: 50 });
    await until('two Step Completed', () => bus.of('Step Completed').length === 2);
    expect(bus.of('Step Completed').map((d) => d['output']).sort()).toEqual([2, 4]);
    expect(warnings).toEqual([expect.stringMatching(/^cannot read the status of run .*\(AccessDeniedException: not authorized to perform: dynamodb:GetItem\): tasks run to their end even when their run has ended$/)]);
  });

  it('runs the tasks of a run its table does not have, saying once that the table may be another stage\'s', async () => {
    const { url, dispatcher } = await queues();
    const bus = captureBus();
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 1 }));
    await dispatcher.dispatch(task(container({ module: handlers, export: 'double' }), { x: 2 }));
    const { warnings } = startWorker(url, bus, { runStatus: async () => undefined, runCheckMs: 50 });
    await until('two Step Completed', () => bus.of('Step Completed').length === 2);
    expect(warnings).toEqual([expect.stringMatching(/^run \S+ is not in the table the worker reads run status from: its tasks run to their end \(is --stage or --table the stage of this queue\?\)$/)]);
  });

  it('run() rejects with WORKER_RECEIVE_FAILED when the queue does not exist', async () => {
    const { url } = await queues();
    const { done } = startWorker(`${url}-missing`, captureBus());
    await expect(done).rejects.toMatchObject({ code: 'WORKER_RECEIVE_FAILED', message: expect.stringContaining('QueueDoesNotExist') });
  });
});

type Poll = { waitSeconds: number; answered: boolean; abandoned: boolean };

/**
 * An HTTP proxy in front of fauxqs that keeps each ReceiveMessage it passes on: how long it may
 * wait, whether fauxqs answered it, and whether the client gave it up before the answer.
 */
async function watchedEndpoint(): Promise<{ url: string; polls: Poll[]; close(): Promise<void> }> {
  const polls: Poll[] = [];
  const proxy = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const text = Buffer.concat(body);
      let poll: Poll | undefined;
      if (req.headers['x-amz-target'] === 'AmazonSQS.ReceiveMessage') {
        poll = { waitSeconds: Number((JSON.parse(text.toString()) as { WaitTimeSeconds?: number }).WaitTimeSeconds ?? 0), answered: false, abandoned: false };
        polls.push(poll);
      }
      const upstream = httpRequest(`${endpoint}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => poll && (poll.answered = true));
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        if (poll && !poll.answered) poll.abandoned = true;
        upstream.destroy();
      });
      upstream.end(text);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    polls,
    close: () => new Promise<void>((resolve) => {
      proxy.closeAllConnections();
      proxy.close(() => resolve());
    }),
  };
}

describe('workerCommand', () => {
  it('exits 0 on SIGTERM while idle in a long poll, cutting the poll short', async () => {
    const { url } = await queues();
    const watched = await watchedEndpoint();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/worker/run-worker.ts', '--queue', url, '--endpoint', watched.url, '--region', 'us-east-1', '--stage', 'qa', '--bus', 'test-bus'], {
      cwd: root,
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      await until('the start line', () => stderr.includes('polling'), 30_000);
      // --stage names the table (joinflow-qa); --bus names the bus over it.
      expect(stderr).toContain(`polling ${url} (concurrency 1, visibility 60 s; bus test-bus, run status from table joinflow-qa)`);
      // In its 20 s long poll (fauxqs holds it: the queue is empty), which stop() must cut short.
      await until('a long poll', () => watched.polls.some((p) => p.waitSeconds === 20 && !p.answered), 30_000);
      child.kill('SIGTERM');
      const result = await exited;
      expect(result).toEqual({ code: 0, signal: null });
      // Given up, not waited out: fauxqs never answered it.
      expect(watched.polls.filter((p) => p.answered)).toEqual([]);
      expect(watched.polls.at(-1)).toEqual({ waitSeconds: 20, answered: false, abandoned: true });
      expect(stderr).toContain('stopped');
    } finally {
      child.kill('SIGKILL');
      await watched.close();
    }
  });
});
