/**
 * Request shapes of the AWS executors (no emulator exists for Lambda or Batch): asynchronous
 * Invoke with the step event, SubmitJob with GPU resourceRequirements and the joinflow
 * environment, SQS SendMessage for container steps; and tasks AWS cannot run fail for good.
 */
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { dispatchTask, outputKey, UndispatchableError } from '../../src/adapters/aws/dispatch.ts';
import { carryOut, DISPATCH_CONCURRENCY, dispatchOrFail, MAX_TIMER_MESSAGE_BYTES, type EffectDeps, type TimerMessage } from '../../src/adapters/aws/effects.ts';
import { readTimerMessage } from '../../src/adapters/aws/timer-message.ts';
import { createSqsDispatcher } from '../../src/adapters/aws/sqs-executor.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';

const lambdaMock = mockClient(LambdaClient);
const batchMock = mockClient(BatchClient);
const sqsMock = mockClient(SQSClient);
afterEach(() => {
  lambdaMock.reset();
  batchMock.reset();
  sqsMock.reset();
});

const config = {
  ...configFromEnv({}),
  bucket: 'jf-bucket',
  functions: { 'wf/fn': 'joinflow-test-wf-fn' },
  jobQueues: { cpu: 'arn:aws:batch:us-east-1:1:job-queue/cpu', gpu: 'arn:aws:batch:us-east-1:1:job-queue/gpu' },
  jobDefinitions: { 'wf/detect': 'joinflow-test-wf-detect', 'wf/cpu': 'joinflow-test-wf-cpu' },
  queueUrls: { default: 'http://sqs.local/000000000000/tasks' },
};
const sqs = new SQSClient({ region: 'us-east-1' });
const deps = {
  config,
  lambda: new LambdaClient({ region: 'us-east-1' }),
  batch: new BatchClient({ region: 'us-east-1' }),
  sendToQueue: (t: Task) => createSqsDispatcher({ client: sqs, queueUrl: (q) => config.queueUrls[q as 'default'] }).dispatch(t),
};
const base = { workflow: 'wf', runId: 'r1', attempt: 2, maxAttempts: 3, event: { input: { x: 1 }, results: { a: 5 } } };

describe('AWS dispatch request shapes', () => {
  it('invokes a function step asynchronously (InvocationType Event) with the step event', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    await dispatchTask({ ...base, step: 'fn', executor: { type: 'function', module: 'h.ts', export: 'fn' } }, deps);
    const calls = lambdaMock.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.FunctionName).toBe('joinflow-test-wf-fn');
    expect(input.InvocationType).toBe('Event');
    expect(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array))).toEqual({
      input: { x: 1 },
      results: { a: 5 },
      joinflow: { workflow: 'wf', runId: 'r1', step: 'fn', attempt: 2, maxAttempts: 3 },
    });
  });

  it('invokes the function its workflow shares for a handler, for a step that gives params, with the params in the event', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    const shared = { ...deps, config: { ...config, functions: { 'wf/@m.asl.ts#handler': 'joinflow-test-wf-m-asl-handler' } } };
    const params = { v: 1, kind: 'end', ends: ['a'] };
    await dispatchTask({ ...base, step: 'end', executor: { type: 'function', module: 'm.asl.ts', export: 'handler', params }, event: { ...base.event, params } }, shared);
    const input = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(input.FunctionName).toBe('joinflow-test-wf-m-asl-handler');
    expect(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array))).toMatchObject({ params, joinflow: { step: 'end' } });
    // The run's start rides along for the handler, whose Lambda context cannot carry it ($$.Execution.StartTime).
    await dispatchTask({ ...base, step: 'end', executor: { type: 'function', module: 'm.asl.ts', export: 'handler', params }, event: { ...base.event, params }, runStartedAt: 1_700_000_000_123 }, shared);
    expect(JSON.parse(new TextDecoder().decode(lambdaMock.commandCalls(InvokeCommand)[1]!.args[0].input.Payload as Uint8Array)))
      .toMatchObject({ joinflow: { step: 'end', runStartedAt: 1_700_000_000_123 } });
    // Without params a step has its own function, and no other: it is not sent to the shared one.
    await expect(dispatchTask({ ...base, step: 'x', executor: { type: 'function', module: 'm.asl.ts', export: 'handler' } }, shared))
      .rejects.toThrow('no Lambda function is deployed for function step "wf/x"');
  });

  it('submits a GPU batch step with VCPU, MEMORY and GPU resourceRequirements to the GPU queue', async () => {
    batchMock.on(SubmitJobCommand).resolves({ jobId: 'j1', jobName: 'n', jobArn: 'a' });
    const executor = { type: 'batch' as const, image: 'detector:1', command: ['detect', '--fast'], vcpus: 4, memoryMb: 16384, gpus: 1, env: { MODEL: 'yolo', JOINFLOW_STEP: 'not-mine' } };
    await dispatchTask({ ...base, step: 'detect', item: 7, executor, timeoutMs: 3_600_000 }, deps);
    const input = batchMock.commandCalls(SubmitJobCommand)[0]!.args[0].input;
    expect(input.jobQueue).toBe(config.jobQueues.gpu);
    expect(input.jobDefinition).toBe('joinflow-test-wf-detect');
    expect(input.jobName).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(input.containerOverrides?.resourceRequirements).toEqual([
      { type: 'VCPU', value: '4' },
      { type: 'MEMORY', value: '16384' },
      { type: 'GPU', value: '1' },
    ]);
    const env = Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));
    // The job definition is shared by the steps of its image: the step's command and variables go with the job (joinflow's own win).
    expect(input.containerOverrides?.command).toEqual(['detect', '--fast']);
    expect(env).toMatchObject({ MODEL: 'yolo', JOINFLOW_RUN_ID: 'r1', JOINFLOW_STEP: 'detect', JOINFLOW_ATTEMPT: '2', JOINFLOW_MAX_ATTEMPTS: '3', JOINFLOW_ITEM: '7' });
    expect(env['JOINFLOW_OUTPUT_URI']).toBe(`s3://jf-bucket/${outputKey({ runId: 'r1', step: 'detect', item: 7, attempt: 2 })}`);
    expect(JSON.parse(env['JOINFLOW_EVENT']!)).toEqual(base.event);
    expect(input.timeout).toEqual({ attemptDurationSeconds: 3600 });
  });

  it('refuses a batch step whose command and environment would pass SubmitJob\'s 30 KiB: Undispatchable, nothing submitted', async () => {
    const long = { type: 'batch' as const, image: 'x', command: ['run', ...Array.from({ length: 3000 }, (_, i) => `input-${i}.fits`)], vcpus: 1, memoryMb: 2048, gpus: 0, env: {} };
    await expect(dispatchTask({ ...base, step: 'cpu', executor: long }, deps)).rejects.toThrow(/the command and environment of batch step "wf\/cpu" are \d+ bytes, over the 28672 a Batch job may be given \(SubmitJob takes at most 30 KiB\)/);
    expect(batchMock.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });

  it('sends a CPU batch step to the CPU queue without a GPU requirement', async () => {
    batchMock.on(SubmitJobCommand).resolves({ jobId: 'j2', jobName: 'n', jobArn: 'a' });
    await dispatchTask({ ...base, step: 'cpu', executor: { type: 'batch', image: 'x', command: [], vcpus: 1, memoryMb: 2048, gpus: 0, env: {} } }, deps);
    const input = batchMock.commandCalls(SubmitJobCommand)[0]!.args[0].input;
    expect(input.jobQueue).toBe(config.jobQueues.cpu);
    expect(input.containerOverrides?.resourceRequirements?.map((r) => r.type)).toEqual(['VCPU', 'MEMORY']);
    // No command: the image's own runs (the shared definition has none).
    expect(input.containerOverrides).not.toHaveProperty('command');
  });

  it('notes the job about to be submitted, then the job id SubmitJob returns; an id that cannot be written is logged, and the job is not submitted again', async () => {
    batchMock.on(SubmitJobCommand).resolves({ jobId: 'j3', jobName: 'n', jobArn: 'a' });
    const noted: unknown[][] = [];
    const cpu = { ...base, step: 'cpu', executor: { type: 'batch' as const, image: 'x', command: [], vcpus: 1, memoryMb: 2048, gpus: 0, env: {} } };
    await dispatchTask(cpu, {
      ...deps,
      noteSubmit: async (t, job) => void noted.push(['submitting', t.step, job, batchMock.commandCalls(SubmitJobCommand).length]),
      recordJob: async (t, jobId) => void noted.push([t.step, t.attempt, jobId]),
    });
    const queue = batchMock.commandCalls(SubmitJobCommand)[0]!.args[0].input.jobQueue;
    // Noted before SubmitJob (no call yet), by the name and queue it is submitted with.
    expect(noted).toEqual([['submitting', 'cpu', { name: `jf-${base.workflow}-cpu-x-${base.attempt}`, queue }, 0], ['cpu', base.attempt, 'j3']]);
    expect(batchMock.commandCalls(SubmitJobCommand)[0]!.args[0].input.jobName).toBe(`jf-${base.workflow}-cpu-x-${base.attempt}`);

    // A note before SubmitJob that fails: nothing is submitted, and the dispatch fails (to be retried).
    await expect(dispatchTask(cpu, { ...deps, noteSubmit: () => Promise.reject(new Error('throttled')) })).rejects.toThrow('throttled');
    expect(batchMock.commandCalls(SubmitJobCommand)).toHaveLength(1);

    const logged = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await dispatchTask(cpu, { ...deps, recordJob: () => Promise.reject(new Error('ProvisionedThroughputExceededException')) });
      expect(batchMock.commandCalls(SubmitJobCommand)).toHaveLength(2);
      const line = JSON.parse(String(logged.mock.calls[0]?.[0])) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'warn', step: 'cpu', message: `Batch job j3 was submitted but its id could not be noted in the table (ProvisionedThroughputExceededException): if its run ends first, it is looked for by its name (jf-${base.workflow}-cpu-x-${base.attempt}) in queue ${queue}` });
    } finally {
      logged.mockRestore();
    }
  });

  it('puts a container step on its SQS queue', async () => {
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm1' });
    const task: Task = { ...base, step: 'c', executor: { type: 'container', queue: 'default', module: 'h.ts', export: 'run', args: [], env: {} } };
    await dispatchTask(task, deps);
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(input.QueueUrl).toBe(config.queueUrls.default);
    expect(JSON.parse(input.MessageBody!)).toEqual(task);
  });

  it('fails for good a step AWS cannot run (process), instead of retrying the invocation', async () => {
    await expect(dispatchTask({ ...base, step: 'p', executor: { type: 'process', command: 'ls', args: [], env: {} } }, deps)).rejects.toBeInstanceOf(UndispatchableError);
    const published: EventEnvelope[] = [];
    await dispatchOrFail({ ...base, step: 'p', executor: { type: 'process', command: 'ls', args: [], env: {} } }, {
      dispatch: (t) => dispatchTask(t, deps),
      bus: { publish: async (e) => void published.push(...e), subscribe: () => () => {} },
      now: () => 0,
      newId: () => 'id',
    });
    expect(published).toHaveLength(1);
    expect(published[0]!['detail-type']).toBe('Step Failed');
    expect(published[0]!.detail).toMatchObject({ step: 'p', attempt: 2, retrying: false, error: { type: 'Undispatchable' } });
    expect((published[0]!.detail as { error: { message: string } }).error.message).toContain('runs only on the embedded engine');
  });

  it('refuses a function event over the 256 KB asynchronous invoke limit with advice', async () => {
    const big = { ...base, event: { input: 'x'.repeat(300_000), results: {} } };
    await expect(dispatchTask({ ...big, step: 'fn', executor: { type: 'function', module: 'h.ts', export: 'fn' } }, deps)).rejects.toThrow(/256 KB asynchronous invocation limit/);
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('fails for good a container step whose task is over the SQS limit, instead of retrying the invocation', async () => {
    const published: EventEnvelope[] = [];
    const big: Task = { ...base, step: 'c', event: { input: 'x'.repeat(210 * 1024), results: {} }, executor: { type: 'container', queue: 'default', module: 'h.ts', export: 'run', args: [], env: {} } };
    await dispatchOrFail(big, {
      dispatch: (t) => dispatchTask(t, deps),
      bus: { publish: async (e) => void published.push(...e), subscribe: () => () => {} },
      now: () => 0,
      newId: () => 'id',
    });
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(published.map((e) => e.detail)).toMatchObject([{ step: 'c', retrying: false, error: { type: 'Undispatchable', message: expect.stringMatching(/over the 204800-byte SQS limit/) } }]);
  });
});

describe('retries through the timer queue', () => {
  const published: EventEnvelope[] = [];
  const blobs = new Map<string, string>();
  // What happened, in order: messages sent, due times noted (for status).
  const order: string[] = [];
  const effectDeps = (withBlobs: boolean): EffectDeps => ({
    store: {} as EffectDeps['store'],
    bus: { publish: async (e) => void published.push(...e), subscribe: () => () => {} },
    sqs,
    dispatch: async () => {},
    timerQueueUrl: 'http://sqs.local/000000000000/timers',
    dlqUrl: undefined,
    now: () => 1_000,
    newId: () => 'id',
    noteDue: async (t, dueAt) => void order.push(`due ${t.step} ${t.attempt} ${dueAt}`),
    ...(withBlobs ? { blobs: { put: async (k: string, b: string) => (blobs.set(`s3://b/${k}`, b), `s3://b/${k}`), get: async (ref: string) => blobs.get(ref)! } } : {}),
  });
  const retry: Task = { ...base, step: 'job', event: { input: 'y'.repeat(300_000), results: {} }, executor: { type: 'batch', image: 'i', command: [], vcpus: 1, memoryMb: 512, gpus: 0, env: {} } as unknown as Task['executor'] };

  it('keeps a task too large for an SQS message in the bucket, and the message refers to it; its due time is noted once it is sent', async () => {
    order.length = 0;
    sqsMock.on(SendMessageCommand).callsFake(() => (order.push('send'), { MessageId: 'm1' }));
    await carryOut([{ type: 'schedule', task: retry, delayMs: 5_000 }], effectDeps(true));
    expect(order).toEqual(['send', 'due job 2 6000']);
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(Buffer.byteLength(input.MessageBody!)).toBeLessThan(MAX_TIMER_MESSAGE_BYTES);
    expect(input.DelaySeconds).toBe(5);
    const message = JSON.parse(input.MessageBody!) as TimerMessage;
    expect(message).toEqual({ taskRef: 's3://b/timers/r1/job..2.json', dueAt: 6_000 });
    expect(await readTimerMessage(JSON.stringify(message), effectDeps(true).blobs)).toEqual({ task: retry, dueAt: 6_000 });
    expect(published).toEqual([]);
  });

  it('without a bucket, fails the step for good instead of leaving the processor to retry into the DLQ', async () => {
    order.length = 0;
    await carryOut([{ type: 'schedule', task: retry, delayMs: 5_000 }], effectDeps(false));
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
    // Nothing waits: no due time is noted.
    expect(order).toEqual([]);
    expect(published.map((e) => e.detail)).toMatchObject([{ step: 'job', retrying: false, error: { type: 'Undispatchable', message: expect.stringMatching(/no bucket is configured/) } }]);
  });
});

describe('dispatching a wide forEach', () => {
  const items = (n: number): Task[] => Array.from({ length: n }, (_, i) => ({ ...base, attempt: 1, step: 'sq', item: i, executor: { type: 'function', module: 'm', export: 'h' } }) as unknown as Task);
  const deps = (dispatch: (task: Task) => Promise<void>): EffectDeps => ({
    store: {} as EffectDeps['store'], bus: { publish: async () => {}, subscribe: () => () => {} }, sqs: {} as EffectDeps['sqs'],
    dispatch, timerQueueUrl: undefined, dlqUrl: undefined, now: () => 1, newId: () => 'id',
  });

  it(`sends up to ${DISPATCH_CONCURRENCY} tasks at once, each once`, async () => {
    let inFlight = 0;
    let most = 0;
    const sent: number[] = [];
    await carryOut([{ type: 'dispatch', tasks: items(200) }], deps(async (task) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      sent.push(task.item!);
      inFlight--;
    }));
    expect(most).toBe(DISPATCH_CONCURRENCY);
    expect(sent.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it(`queues a delayed forEach's items on the timer up to ${DISPATCH_CONCURRENCY} at once, each once, and notes its due time once, on its first item`, async () => {
    let inFlight = 0;
    let most = 0;
    const queued: number[] = [];
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).callsFake(async (input: { MessageBody?: string }) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      queued.push((JSON.parse(input.MessageBody!) as { task: Task }).task.item!);
      inFlight--;
      return { MessageId: 'm' };
    });
    const notes: string[] = [];
    const schedules = items(200).map((task) => ({ type: 'schedule' as const, delayMs: 60_000, task }));
    await carryOut([...schedules, { type: 'ack', runId: 'r1', trigger: 'sq' }], {
      ...deps(async () => {}),
      sqs: new SQSClient({ region: 'us-east-1' }),
      timerQueueUrl: 'http://sqs.local/000000000000/timers',
      store: { markDispatched: async () => void notes.push('ack') } as unknown as EffectDeps['store'],
      noteDue: async (task, dueAt) => void notes.push(`due ${task.step} ${task.item} ${dueAt}`),
    });
    expect(most).toBe(DISPATCH_CONCURRENCY);
    expect(queued.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // The ack after them waits for all of them.
    expect(notes).toEqual(['due sq 0 60001', 'ack']);
  });

  it('throws an infrastructure error once the requests in flight have ended, and starts none after it', async () => {
    let inFlight = 0;
    let started = 0;
    const error = carryOut([{ type: 'dispatch', tasks: items(200) }], deps(async (task) => {
      started++;
      inFlight++;
      await new Promise((resolve) => setTimeout(resolve, task.item === 5 ? 1 : 5));
      inFlight--;
      if (task.item === 5) throw new Error('Lambda throttled');
    }));
    await expect(error).rejects.toThrow('Lambda throttled');
    expect(inFlight).toBe(0);
    expect(started).toBeLessThan(2 * DISPATCH_CONCURRENCY);
  });
});
