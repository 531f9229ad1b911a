/**
 * A run that ends on AWS stops the Batch jobs it no longer needs: the replica a `wait: any` step
 * left behind when the run succeeds, the other branch when a step fails the run, every job of a
 * cancelled run (`joinflow cancel --stage`). Through the real handlers: the processor notes each
 * job SubmitJob returns in the run's items, the Batch bridge removes a job that ended, and the
 * run's end calls TerminateJob for the rest; `status` shows those steps as `stopped`. DynamoDB on
 * dynalite, no bucket; EventBridge, Lambda and Batch (no emulators) through aws-sdk-client-mock
 * (handler-emulators.ts).
 */
import { randomUUID } from 'node:crypto';
import { BatchClient, DescribeJobsCommand, ListJobsCommand, SubmitJobCommand, TerminateJobCommand, type JobSummary, type SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createAwsWorker } from '../../src/adapters/aws/aws-worker.ts';
import { createJobBook, stopRunJobs } from '../../src/adapters/aws/batch-jobs.ts';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { batchState, lambdaResult } from '../../src/adapters/aws/handlers/bridges.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { cancelStageRun } from '../../src/adapters/aws/stage.ts';
import { resetWiring, wiring } from '../../src/adapters/aws/wiring.ts';
import { cancelCommand } from '../../src/cli/cancel-command.ts';
import { statusCommand } from '../../src/cli/status-command.ts';
import type { Task } from '../../src/ports.ts';
import { patternMatches } from '../../src/model/pattern.ts';
import { handlersOnEmulators, type Envelope } from '../helpers/handler-emulators.ts';

const job = { type: 'batch', image: 'example/work:1', command: ['work'], vcpus: 1, memoryMb: 2048 } as const;
const fn = (name: string) => ({ type: 'function', module: './handlers/race.ts', export: name }) as const;
// race: two replicas on Batch, the first answer wins. pair: a step that needs both branches.
const workflows = [
  { name: 'race', steps: { a: { executor: job }, b: { executor: job }, first: { executor: fn('first'), needs: ['a', 'b'], wait: 'any' } } },
  { name: 'pair', steps: { x: { executor: job }, y: { executor: job }, z: { executor: fn('z'), needs: ['x', 'y'] } } },
];
// No bucket and no queues (the last test starts its own fauxqs for a worker's task queue).
const world = handlersOnEmulators({ name: 'stop-jobs', workflows, jobDefinitions: { 'race/a': 'jd-a', 'race/b': 'jd-b', 'pair/x': 'jd-x', 'pair/y': 'jd-y' }, bucket: false, queues: [] });
const { eb, lambda, batch, plans, table: TABLE } = world;

beforeEach(() => {
  // Job ids as Batch makes them: one per submission, even of the same attempt.
  submittedJobs.clear();
  batch.on(SubmitJobCommand).callsFake(async (input: SubmitJobCommandInput) => {
    const jobId = `${input.jobName}-${randomUUID().slice(0, 8)}`;
    submittedJobs.set(jobId, { ...input, jobId, createdAt: Date.now() });
    return { jobId, jobName: input.jobName, jobArn: 'arn' };
  });
  batch.on(TerminateJobCommand).resolves({});
  // ListJobs by name and DescribeJobs, as Batch answers them, over the jobs submitted in this test.
  batch.on(ListJobsCommand).callsFake(async (input: { jobQueue: string; filters: Array<{ name: string; values: string[] }> }) => ({
    jobSummaryList: [...submittedJobs.values()]
      .filter((j) => j.jobQueue === input.jobQueue && j.jobName === input.filters[0]!.values[0])
      .map((j): JobSummary => ({ jobId: j.jobId, jobName: j.jobName!, status: 'RUNNING', createdAt: j.createdAt }))
      .reverse(),
  }));
  batch.on(DescribeJobsCommand).callsFake(async (input: { jobs: string[] }) => ({
    jobs: input.jobs.flatMap((id) => (submittedJobs.has(id) ? [{ jobId: id, jobName: submittedJobs.get(id)!.jobName!, status: 'RUNNING', tags: submittedJobs.get(id)!.tags }] : [])),
  }));
});
const submittedJobs = new Map<string, SubmitJobCommandInput & { jobId: string; createdAt: number }>();

/** Events the handlers put on the bus since the last look, as EventBridge delivers them. */
let seen = 0;
function published(): Envelope[] {
  const all = eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => ({ id: randomUUID(), source: e.Source!, 'detail-type': e.DetailType!, time: new Date().toISOString(), detail: JSON.parse(e.Detail!) }));
  const fresh = all.slice(seen);
  seen = all.length;
  return fresh;
}

/** Delivers an event to every trigger of its workflow whose rule matches it, as the rules do. */
async function deliver(event: Envelope): Promise<void> {
  const plan = plans.get(event.detail['workflow'] as string)!;
  for (const t of plan.triggers) if (patternMatches(t.activation, event)) await processor({ trigger: `${plan.workflow}/${t.id}`, event });
}

/** Delivers what the handlers published until nothing new comes. */
async function drain(): Promise<void> {
  for (let events = published(); events.length > 0; events = published()) for (const e of events) await deliver(e);
}

async function start(workflow: string, runId: string): Promise<Map<string, SubmitJobCommandInput & { jobId: string }>> {
  seen = eb.commandCalls(PutEventsCommand).length;
  await deliver({ id: randomUUID(), source: 'joinflow', 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow, runId, input: {} } });
  await drain();
  const jobs = new Map<string, SubmitJobCommandInput & { jobId: string }>();
  for (const call of batch.commandCalls(SubmitJobCommand)) {
    const input = call.args[0].input;
    const env = Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));
    if (env['JOINFLOW_RUN_ID'] === runId) jobs.set(env['JOINFLOW_STEP']!, { ...input, jobId: (await call.returnValue).jobId! });
  }
  return jobs;
}

/** Batch reports a job's end, as its "Batch Job State Change" event. */
async function jobEnded(submitted: SubmitJobCommandInput & { jobId: string }, status: 'SUCCEEDED' | 'FAILED', statusReason?: string): Promise<void> {
  const environment = (submitted.containerOverrides?.environment ?? []).map((e) => ({ name: e.name!, value: e.value! }));
  await batchState({
    id: randomUUID(), source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: '',
    detail: { jobId: submitted.jobId, jobName: submitted.jobName!, status, ...(statusReason ? { statusReason } : {}), container: { environment, ...(status === 'FAILED' ? { exitCode: 1 } : {}) } },
  });
}

const terminated = () => batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input);
const states = async (runId: string) => (await readRunStatus(world.dynamo.client, TABLE, runId))!.steps.map((s) => `${s.step}:${s.state}`).sort();

/** `joinflow cancel <runId>` against the test's table and bus: its exit code and what it wrote to stderr. */
async function cancelRun(runId: string): Promise<{ code: number; text: string }> {
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await cancelCommand([runId, '--table', TABLE, '--bus', 'joinflow-test', '--region', 'us-east-1']);
    return { code, text: stderr.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    stderr.mockRestore();
  }
}

describe('Batch jobs of a run that ended', () => {
  it('stops the replica a wait-any step left behind once the run succeeds, and status shows it stopped', async () => {
    const jobs = await start('race', 'race-1');
    expect([...jobs.keys()].sort()).toEqual(['a', 'b']);
    await jobEnded(jobs.get('a')!, 'SUCCEEDED');
    await drain();
    // b still runs on Batch: status names its job.
    const running = (await readRunStatus(world.dynamo.client, TABLE, 'race-1'))!.steps;
    expect(running.find((x) => x.step === 'a')).toEqual(expect.objectContaining({ state: 'completed' }));
    expect(running.find((x) => x.step === 'a')!.jobs).toBeUndefined();
    expect(running.find((x) => x.step === 'b')).toEqual(expect.objectContaining({ state: 'dispatched', jobs: [jobs.get('b')!.jobId] }));
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await statusCommand(['race-1', '--table', TABLE, '--region', 'us-east-1'])).toBe(0);
      expect(stdout.mock.calls.map((c) => String(c[0])).join('')).toContain(`  dispatched b  Batch job ${jobs.get('b')!.jobId}\n`);
    } finally {
      stdout.mockRestore();
    }
    // first ran on Lambda; its result ends the run.
    const invoke = lambda.commandCalls(InvokeCommand).map((c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)));
    expect(invoke.map((p) => p.joinflow.step)).toEqual(['first']);
    expect(terminated()).toEqual([]);
    await lambdaResult({ id: 'r1', source: 'lambda', 'detail-type': 'Lambda Function Invocation Result - Success', time: '', detail: { requestPayload: invoke[0], responsePayload: { winner: 'a' } } });
    await drain();

    const status = (await readRunStatus(world.dynamo.client, TABLE, 'race-1'))!;
    expect(status.run.status).toBe('succeeded');
    // Only b's job is stopped: a's ended on its own.
    expect(terminated()).toEqual([{ jobId: jobs.get('b')!.jobId, reason: 'joinflow: run race-1 succeeded' }]);
    expect(await states('race-1')).toEqual(['a:completed', 'b:stopped', 'first:completed']);
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-1'))!.steps.flatMap((x) => x.jobs ?? [])).toEqual([]);

    // Batch then reports the stopped job FAILED: the ended run ignores it, and nothing is stopped twice.
    await jobEnded(jobs.get('b')!, 'FAILED', 'joinflow: run race-1 succeeded');
    await drain();
    expect(terminated()).toHaveLength(1);
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-1'))!.run.status).toBe('succeeded');
    expect(await states('race-1')).toEqual(['a:completed', 'b:stopped', 'first:completed']);
  });

  it('stops the other branch when a step fails the run; a refused TerminateJob leaves the run failed and the job listed', async () => {
    const jobs = await start('pair', 'pair-1');
    await jobEnded(jobs.get('x')!, 'FAILED', 'Essential container in task exited');
    await drain();
    expect((await readRunStatus(world.dynamo.client, TABLE, 'pair-1'))!.run.status).toBe('failed');
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-1 failed' }]);
    expect(await states('pair-1')).toEqual(['x:failed', 'y:stopped']);

    // Without batch:TerminateJob the processor still ends the run (the invocation succeeds) and logs the job left running.
    const denied = Object.assign(new Error('User is not authorized to perform: batch:TerminateJob'), { name: 'AccessDeniedException' });
    batch.on(TerminateJobCommand).rejects(denied);
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    process.env['JOINFLOW_LOG_LEVEL'] = 'error';
    try {
      const more = await start('pair', 'pair-2');
      await jobEnded(more.get('y')!, 'FAILED');
      await drain();
      expect((await readRunStatus(world.dynamo.client, TABLE, 'pair-2'))!.run.status).toBe('failed');
      const lines = errors.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'error', runId: 'pair-2', step: 'x', message: `could not stop Batch job ${more.get('x')!.jobId} (AccessDeniedException: User is not authorized to perform: batch:TerminateJob): it runs to its end` }));
      const left = await createJobBook(world.dynamo.client, TABLE).jobs('pair-2');
      expect(left.map((j) => [j.step, j.jobIds])).toEqual([['x', [more.get('x')!.jobId]], ['y', []]]);
      expect(await states('pair-2')).toEqual(['x:dispatched', 'y:failed']);
    } finally {
      process.env['JOINFLOW_LOG_LEVEL'] = 'off';
      errors.mockRestore();
    }

    // joinflow cancel of the ended run stops what it left running, and says the run had ended (exit 1).
    batch.on(TerminateJobCommand).resolves({});
    const ended = await cancelRun('pair-2');
    expect(ended.code).toBe(1);
    expect(ended.text).toContain('joinflow cancel: run pair-2 already failed\n');
    expect(ended.text).toMatch(/joinflow cancel: stopped 1 Batch job\(s\): jf-pair-x-x-1-\w+ \(x\)\n/);
    expect(terminated().at(-1)).toEqual({ jobId: expect.stringMatching(/^jf-pair-x-x-1-/), reason: 'joinflow: run pair-2 failed' });
    expect(await states('pair-2')).toEqual(['x:stopped', 'y:failed']);
  });

  it('stops the other branch also when Run Failed could not be put at first: the redelivery that announces it stops it', async () => {
    const jobs = await start('pair', 'pair-announce');
    await jobEnded(jobs.get('x')!, 'FAILED');
    const [failedX] = published();
    // The run is ended in the table, then PutEvents of Run Failed is throttled: the invocation fails.
    eb.on(PutEventsCommand).callsFake(async (input: { Entries?: Array<{ DetailType?: string }> }) => {
      if (input.Entries?.some((e) => e.DetailType === 'Run Failed')) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return { FailedEntryCount: 0, Entries: [{ EventId: '1' }] };
    });
    await expect(deliver(failedX!)).rejects.toThrow('Rate exceeded');
    expect((await readRunStatus(world.dynamo.client, TABLE, 'pair-announce'))!.run.status).toBe('failed');
    expect(terminated()).toEqual([]);
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    // Lambda's retry of the failed invocation, a minute later (past the lease of $fail's claim).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
    resetWiring();
    try {
      await deliver(failedX!);
    } finally {
      vi.useRealTimers();
      resetWiring();
    }
    // The request that was rejected, then the one that went through.
    expect(published().map((e) => e['detail-type'])).toEqual(['Run Failed', 'Run Failed']);
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-announce failed' }]);
  });

  it('stops a job submitted as its run ended, after the run had read its list', async () => {
    const jobs = await start('pair', 'pair-3');
    await jobEnded(jobs.get('x')!, 'FAILED');
    await drain();
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-3 failed' }]);
    // Another processor invocation, which read the run as running a moment before, submits y again.
    const late: Task = { workflow: 'pair', runId: 'pair-3', step: 'y', attempt: 2, maxAttempts: 2, executor: plans.get('pair')!.steps['y']!.executor, event: { input: {}, results: {} } };
    await wiring().effects.dispatch(late);
    const submitted = batch.commandCalls(SubmitJobCommand).at(-1)!;
    const lateId = (await submitted.returnValue).jobId!;
    expect(submitted.args[0].input.jobName).toBe('jf-pair-y-x-2');
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-3 failed' }, { jobId: lateId, reason: 'joinflow: run pair-3 failed' }]);
    expect((await createJobBook(world.dynamo.client, TABLE).jobs('pair-3')).flatMap((j) => j.jobIds)).toEqual([]);
  });

  it('finds a job whose id could not be noted (by its name in its queue, and its run\'s tag) and stops it when the run ends', async () => {
    const book = wiring().jobs;
    const fail = Object.assign(new Error('Throughput exceeds the current capacity of your table'), { name: 'ProvisionedThroughputExceededException' });
    // x's id is not noted; y's is.
    const original = book.submitted;
    const submitted = vi.spyOn(book, 'submitted').mockImplementation(async (ref, jobId, now) => {
      if (ref.runId === 'pair-u' && ref.step === 'x') throw fail;
      return original(ref, jobId, now);
    });
    const warnings = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    process.env['JOINFLOW_LOG_LEVEL'] = 'warn';
    let jobs: Awaited<ReturnType<typeof start>>;
    let other: Awaited<ReturnType<typeof start>>;
    try {
      // Another run of the workflow, whose x has the same job name, runs too.
      other = await start('pair', 'pair-u0');
      jobs = await start('pair', 'pair-u');
      expect(other.get('x')!.jobName).toBe(jobs.get('x')!.jobName);
      const lines = warnings.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', runId: 'pair-u', step: 'x', message: `Batch job ${jobs.get('x')!.jobId} was submitted but its id could not be noted in the table (Throughput exceeds the current capacity of your table): if its run ends first, it is looked for by its name (jf-pair-x-x-1) in queue ${jobs.get('x')!.jobQueue}` }));
    } finally {
      submitted.mockRestore();
      warnings.mockRestore();
      process.env['JOINFLOW_LOG_LEVEL'] = 'off';
    }
    const listed = await createJobBook(world.dynamo.client, TABLE).jobs('pair-u');
    expect(listed.map((j) => [j.step, j.jobIds, j.unnoted?.name])).toEqual([['x', [], 'jf-pair-x-x-1'], ['y', [jobs.get('y')!.jobId], undefined]]);

    await jobEnded(jobs.get('y')!, 'FAILED');
    await drain();
    expect((await readRunStatus(world.dynamo.client, TABLE, 'pair-u'))!.run.status).toBe('failed');
    // x's job is found and stopped; the other run's job of the same name is left alone.
    expect(terminated()).toEqual([{ jobId: jobs.get('x')!.jobId, reason: 'joinflow: run pair-u failed' }]);
    expect(batch.commandCalls(ListJobsCommand).map((c) => c.args[0].input)).toEqual([{ jobQueue: jobs.get('x')!.jobQueue, filters: [{ name: 'JOB_NAME', values: ['jf-pair-x-x-1'] }], maxResults: 100 }]);
    // Both jobs of that name are described; only the one tagged with the run is stopped.
    expect(batch.commandCalls(DescribeJobsCommand).map((c) => [...c.args[0].input.jobs!].sort())).toEqual([[jobs.get('x')!.jobId, other.get('x')!.jobId].sort()]);
  });

  it('joinflow cancel --stage says when it could not look for a job whose id was not noted, and how to find it (exit 2)', async () => {
    const book = wiring().jobs;
    const original = book.submitted;
    const submitted = vi.spyOn(book, 'submitted').mockImplementation(async (ref, jobId, now) => {
      if (ref.runId === 'pair-c' && ref.step === 'x') throw new Error('throttled');
      return original(ref, jobId, now);
    });
    let jobs: Awaited<ReturnType<typeof start>>;
    try {
      jobs = await start('pair', 'pair-c');
    } finally {
      submitted.mockRestore();
    }
    batch.on(ListJobsCommand).rejects(Object.assign(new Error('User is not authorized to perform: batch:ListJobs'), { name: 'AccessDeniedException' }));
    const { code, text } = await cancelRun('pair-c');
    expect(code).toBe(2);
    expect(text).toContain(`joinflow cancel: stopped 1 Batch job(s): ${jobs.get('y')!.jobId} (y)\n`);
    const queue = jobs.get('x')!.jobQueue!;
    expect(text).toContain(`joinflow cancel: could not look for the Batch job named jf-pair-x-x-1 in queue ${queue} (x), whose id was not noted: AccessDeniedException: User is not authorized to perform: batch:ListJobs; find it with: aws batch list-jobs --job-queue ${queue} --filters name=JOB_NAME,values=jf-pair-x-x-1\n`);
  });

  it('stops a job submitted as its run ended whose id could not be noted, by its id, though Batch does not list it yet', async () => {
    const jobs = await start('pair', 'pair-k');
    await jobEnded(jobs.get('x')!, 'FAILED');
    await drain();
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-k failed' }]);
    batch.on(ListJobsCommand).resolves({ jobSummaryList: [] });
    const submitted = vi.spyOn(wiring().jobs, 'submitted').mockRejectedValueOnce(new Error('throttled'));
    try {
      const late: Task = { workflow: 'pair', runId: 'pair-k', step: 'y', attempt: 2, maxAttempts: 2, executor: plans.get('pair')!.steps['y']!.executor, event: { input: {}, results: {} } };
      await wiring().effects.dispatch(late);
    } finally {
      submitted.mockRestore();
    }
    const lateId = (await batch.commandCalls(SubmitJobCommand).at(-1)!.returnValue).jobId!;
    expect(terminated()).toEqual([{ jobId: jobs.get('y')!.jobId, reason: 'joinflow: run pair-k failed' }, { jobId: lateId, reason: 'joinflow: run pair-k failed' }]);
  });

  it('submits nothing when the job about to be submitted cannot be noted first', async () => {
    const late: Task = { workflow: 'pair', runId: 'pair-n', step: 'x', attempt: 1, maxAttempts: 1, executor: plans.get('pair')!.steps['x']!.executor, event: { input: {}, results: {} } };
    const submitting = vi.spyOn(wiring().jobs, 'submitting').mockRejectedValueOnce(Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }));
    try {
      await expect(wiring().effects.dispatch(late)).rejects.toThrow('Requested resource not found');
    } finally {
      submitting.mockRestore();
    }
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });

  it('submits a job of an attempt once however often the attempt is dispatched (a duplicate or taken-over dispatch); a job whose id was never noted is submitted again', async () => {
    const task: Task = { workflow: 'pair', runId: 'pair-twice', step: 'x', attempt: 1, maxAttempts: 1, executor: plans.get('pair')!.steps['x']!.executor, event: { input: {}, results: {} } };
    await wiring().effects.dispatch(task);
    await wiring().effects.dispatch(task);
    await Promise.all([wiring().effects.dispatch(task), wiring().effects.dispatch(task)]);
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(1);
    // The next attempt is another job.
    await wiring().effects.dispatch({ ...task, attempt: 2 });
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(2);
    // SubmitJob failed after the note (before reaching Batch): the job was never submitted, so it is, next time.
    const other: Task = { ...task, runId: 'pair-twice-2' };
    const submit = vi.spyOn(BatchClient.prototype, 'send').mockRejectedValueOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    try {
      await expect(wiring().effects.dispatch(other)).rejects.toThrow('Rate exceeded');
    } finally {
      submit.mockRestore();
    }
    await wiring().effects.dispatch(other);
    expect(batch.commandCalls(SubmitJobCommand).filter((c) => c.args[0].input.tags?.['joinflow:run'] === 'pair-twice-2')).toHaveLength(1);
    expect((await createJobBook(world.dynamo.client, TABLE).jobs('pair-twice-2')).map((j) => j.jobIds.length)).toEqual([1]);
  });

  it('looks for an unnoted job from its attempt\'s first submission on, newest first, and reports a search that failed', async () => {
    const book = createJobBook(world.dynamo.client, TABLE);
    const t0 = Date.parse('2026-11-01T00:00:00Z');
    const ref = { runId: 'look-1', step: 'train', attempt: 1 };
    await book.submitting(ref, { name: 'jf-w-train-x-1', queue: 'q-cpu' }, t0);
    const summary = (jobId: string, status: string, createdAt: number): JobSummary => ({ jobId, jobName: 'jf-w-train-x-1', status: status as JobSummary['status'], createdAt });
    batch.on(ListJobsCommand)
      .resolvesOnce({ jobSummaryList: [summary('other-run', 'RUNNING', t0 + 2000), summary('mine', 'RUNNABLE', t0 + 1000), summary('mine-ended', 'SUCCEEDED', t0 + 500)], nextToken: 'p2' })
      .resolvesOnce({ jobSummaryList: [summary('old', 'RUNNING', t0 - 3_600_000)], nextToken: 'p3' });
    batch.on(DescribeJobsCommand).resolves({ jobs: [
      { jobId: 'other-run', jobName: 'jf-w-train-x-1', status: 'RUNNING', tags: { 'joinflow:run': 'look-0' } } as never,
      { jobId: 'mine', jobName: 'jf-w-train-x-1', status: 'RUNNABLE', tags: { 'joinflow:run': 'look-1' } } as never,
    ] });
    const report = await stopRunJobs(book, new BatchClient({ region: 'us-east-1' }), 'look-1', 'joinflow: run look-1 failed');
    expect(report.stopped.map((s) => s.jobId)).toEqual(['mine']);
    expect(report.unsought).toEqual([]);
    expect(terminated()).toEqual([{ jobId: 'mine', reason: 'joinflow: run look-1 failed' }]);
    // The second page reaches jobs older than the attempt: no third page.
    expect(batch.commandCalls(ListJobsCommand).map((c) => c.args[0].input.nextToken)).toEqual([undefined, 'p2']);
    expect(batch.commandCalls(DescribeJobsCommand).map((c) => c.args[0].input.jobs)).toEqual([['other-run', 'mine']]);

    // Without batch:ListJobs the search fails: reported, not thrown.
    batch.on(ListJobsCommand).rejects(Object.assign(new Error('User is not authorized to perform: batch:ListJobs\nmore'), { name: 'AccessDeniedException' }));
    const again = await stopRunJobs(book, new BatchClient({ region: 'us-east-1' }), 'look-1', 'joinflow: run look-1 failed');
    expect(again.unsought.map((u) => [u.job.step, u.error])).toEqual([['train', 'AccessDeniedException: User is not authorized to perform: batch:ListJobs']]);
    expect(again.stopped).toEqual([]);
  });

  it('stops no job past the invocation\'s own deadline (its remaining time less a margin), and logs the jobs it left', async () => {
    const jobs = await start('race', 'race-t');
    await jobEnded(jobs.get('a')!, 'SUCCEEDED');
    await drain();
    const invoke = lambda.commandCalls(InvokeCommand).map((c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array))).filter((p) => p.joinflow.runId === 'race-t');
    await lambdaResult({ id: 'rt', source: 'lambda', 'detail-type': 'Lambda Function Invocation Result - Success', time: '', detail: { requestPayload: invoke[0], responsePayload: { winner: 'a' } } });
    // The invocation that ends the run has 5 s left: less than the margin it keeps, so it stops nothing.
    const lines: string[] = [];
    const out = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    const err = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    const level = process.env['JOINFLOW_LOG_LEVEL'];
    process.env['JOINFLOW_LOG_LEVEL'] = 'error';
    try {
      for (let events = published(); events.length > 0; events = published()) {
        for (const e of events) {
          const plan = plans.get(e.detail['workflow'] as string)!;
          for (const t of plan.triggers) if (patternMatches(t.activation, e)) await processor({ trigger: `${plan.workflow}/${t.id}`, event: e }, { getRemainingTimeInMillis: () => 5_000 });
        }
      }
    } finally {
      process.env['JOINFLOW_LOG_LEVEL'] = level;
      out.mockRestore();
      err.mockRestore();
    }
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-t'))!.run.status).toBe('succeeded');
    expect(terminated().filter((t) => t.reason!.includes('race-t'))).toEqual([]);
    expect(lines.join('\n')).toContain('1 Batch job(s) of the run were not stopped in time: `joinflow cancel race-t --stage <stage>` stops them');
  });

  it('starts no TerminateJob after the deadline, and reports the jobs it left', async () => {
    const book = createJobBook(world.dynamo.client, TABLE);
    for (let i = 0; i < 10; i++) await book.submitted({ runId: 'many-1', step: 'train', item: i, attempt: 1 }, `job-${i}`, 0);
    // A deadline already passed: nothing is tried.
    let t = 0;
    const report = await stopRunJobs(book, new BatchClient({ region: 'us-east-1' }), 'many-1', 'joinflow: run many-1 failed', { now: () => t, deadline: 0 });
    expect(report.stopped).toHaveLength(0);
    expect(report.left).toBe(10);
    // The clock passes the deadline while the first round (8 at a time) is stopped: the other 2 are left.
    const second = await stopRunJobs(book, new BatchClient({ region: 'us-east-1' }), 'many-1', 'joinflow: run many-1 failed', { now: () => t++, deadline: 2 });
    expect([second.stopped.length, second.left]).toEqual([8, 2]);
    expect((await book.jobs('many-1')).flatMap((j) => j.jobIds)).toHaveLength(2);
  });

  it('stops every job of a cancelled run (cancelStageRun, and joinflow cancel --stage reporting them)', async () => {
    const jobs = await start('race', 'race-2');
    const result = await cancelStageRun(configFromEnv(), 'race-2', 'cancelled with joinflow cancel');
    expect(result.outcome).toBe('cancelled');
    if (result.outcome !== 'cancelled') return;
    expect(result.jobs.failed).toEqual([]);
    expect(result.jobs.stopped.map((s) => s.jobId).sort()).toEqual([jobs.get('a')!.jobId, jobs.get('b')!.jobId].sort());
    expect(terminated().map((t) => t.reason)).toEqual(['joinflow: run race-2 cancelled (cancelled with joinflow cancel)', 'joinflow: run race-2 cancelled (cancelled with joinflow cancel)']);
    expect(await states('race-2')).toEqual(['a:stopped', 'b:stopped']);

    // The command says what it stopped; a job Batch refuses to stop makes it exit 2 and say how to stop it.
    const more = await start('race', 'race-3');
    batch.on(TerminateJobCommand, { jobId: more.get('b')!.jobId }).rejects(Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' }));
    const { code, text } = await cancelRun('race-3');
    expect(code).toBe(2);
    expect(text).toContain(`joinflow cancel: stopped 1 Batch job(s): ${more.get('a')!.jobId} (a)`);
    expect(text).toContain(`joinflow cancel: could not stop Batch job ${more.get('b')!.jobId} (b): TooManyRequestsException: throttled`);
    expect(text).toContain('aws batch terminate-job');
  });

  it('stops the jobs of a cancelled run when Run Cancelled cannot be put on the bus, and exits 2 saying both', async () => {
    const jobs = await start('race', 'race-4');
    eb.on(PutEventsCommand).rejects(Object.assign(new Error('bus joinflow-test does not exist'), { name: 'ResourceNotFoundException' }));
    try {
      const { code, text } = await cancelRun('race-4');
      expect(code).toBe(2);
      expect(text).toContain(`joinflow cancel: run "race-4" is cancelled in table "${TABLE}", but Run Cancelled could not be put on bus "joinflow-test" (PutEvents to bus "joinflow-test" was rejected: ResourceNotFoundException: bus joinflow-test does not exist)`);
      expect(text).toContain(`joinflow cancel: stopped 2 Batch job(s): `);
      expect(terminated().filter((t) => t.reason!.startsWith('joinflow: run race-4')).map((t) => t.jobId).sort()).toEqual([jobs.get('a')!.jobId, jobs.get('b')!.jobId].sort());
      expect(await states('race-4')).toEqual(['a:stopped', 'b:stopped']);
    } finally {
      eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    }
  });
});

describe('joinflow worker and the run status in the table', () => {
  it('reads the run\'s status from the stage\'s table (GetItem) and runs no task of a run that has ended', async () => {
    const server = await startFauxqs({ port: 0, logger: false });
    const sqsEndpoint = `http://127.0.0.1:${server.port}`;
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: sqsEndpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    try {
      await start('race', 'race-w');
      await cancelStageRun(configFromEnv(), 'race-w', 'cancelled with joinflow cancel');
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: `tasks-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
      const task = { workflow: 'race', runId: 'race-w', step: 'first', attempt: 1, maxAttempts: 1, executor: { type: 'container', queue: 'q', command: 'false', args: [], env: {} }, event: { input: {}, results: {} } };
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(task) }));
      const infos: string[] = [];
      const never = (kind: 'function' | 'process') => ({ kind, execute: () => Promise.reject(new Error('no task may run')), close: async () => {} });
      // --endpoint names fauxqs; the table is reached through AWS_ENDPOINT_URL_DYNAMODB (dynalite), as in config.ts.
      const worker = createAwsWorker({ queueUrl: url, busName: 'joinflow-test', region: 'us-east-1', endpoint: sqsEndpoint, table: TABLE, executors: { function: never('function'), process: never('process') }, waitTimeSec: 1, logger: { info: (m) => infos.push(m), warn: (m) => infos.push(`warn: ${m}`), error: (m) => infos.push(`error: ${m}`) } });
      const done = worker.run();
      const deadline = Date.now() + 15_000;
      while (infos.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await worker.stop();
      await done;
      worker.close();
      expect(infos).toEqual(['race/race-w first attempt 1: not run, its run has ended (cancelled)']);
      const left = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes!;
      expect(Number(left['ApproximateNumberOfMessages']) + Number(left['ApproximateNumberOfMessagesNotVisible'])).toBe(0);
    } finally {
      sqs.destroy();
      await server.stop();
    }
  });
});
