/**
 * What the AWS handlers read of results and run outputs kept in the bucket (over 350 KB: S3 claim
 * checks): an object is read (GetObject) only where its value is passed on — a step's event, the
 * run's output — and never to learn that a step is done, or whether a run has ended. DynamoDB on dynalite, S3 on s3rver, the
 * events DLQ on fauxqs; EventBridge, Lambda and Batch (no emulators) through aws-sdk-client-mock.
 * The lease is judged on Date.now, which the tests move forward instead of waiting.
 */
import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SubmitJobCommand } from '@aws-sdk/client-batch';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { carryOut } from '../../src/adapters/aws/effects.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { handler as timer } from '../../src/adapters/aws/handlers/timer.ts';
import { wiring } from '../../src/adapters/aws/wiring.ts';
import { fn, handlersOnEmulators, job, large, type Envelope } from '../helpers/handler-emulators.ts';

// b and c are Batch jobs: their needs' results are too large for a Lambda event. c's result is the run's output.
const chain = { name: 'chain', steps: { a: { executor: fn('a') }, b: { executor: job, needs: ['a'] }, c: { executor: job, needs: ['b'] } } };
// g is a choice: d, which needs it, checks that its needs were not all skipped before it runs.
const choose = { name: 'choose', steps: { a: { executor: fn('a') }, g: { when: { input: { mode: ['go'] } }, executor: fn('g') }, d: { executor: job, needs: ['a', 'g'] } } };
// f's items each return a large result: f's collect reads them all for its list.
const fan = { name: 'fan', steps: { a: { executor: fn('a') }, f: { forEach: 'a', executor: fn('f'), needs: ['a'] } } };
// f fans out over a list inside a's result.
const none = { name: 'none', steps: { a: { executor: fn('a') }, f: { forEach: { step: 'a', path: 'list' }, executor: fn('f'), needs: ['a'] } } };
// e matches its \`when\` on a's result, and fans out over a list inside it.
const pickEach = { name: 'pickEach', steps: { a: { executor: fn('a') }, e: { when: { results: { a: { tag: ['A'] } } }, forEach: { step: 'a', path: 'list' }, executor: fn('e'), needs: ['a'] } } };
// w matches its \`when\` on a's result, and its event carries it.
const pick = { name: 'pick', steps: { a: { executor: fn('a') }, w: { when: { results: { a: { tag: ['A'] } } }, executor: job, needs: ['a'] } } };
// r fans out over a list inside a's result, and an item that fails is tried once more (through the timer queue).
const retryEach = { name: 'retryEach', steps: { a: { executor: fn('a') }, r: { forEach: { step: 'a', path: 'list' }, executor: fn('r'), needs: ['a'], retry: { maxAttempts: 2, backoffMs: 0 } } } };

const world = handlersOnEmulators({
  name: 'claim-reads',
  workflows: [chain, choose, fan, none, pick, pickEach, retryEach],
  jobDefinitions: { 'chain/b': 'joinflow-test-jd-b', 'chain/c': 'joinflow-test-jd-c', 'choose/d': 'joinflow-test-jd-d', 'pick/w': 'joinflow-test-jd-w' },
});
const { eb, lambda, batch, submitsJobs, publishedTypes, deadLetters, timerMessages } = world;

const submitted = () => batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input.containerOverrides?.environment?.find((e) => e.name === 'JOINFLOW_STEP')?.value);

beforeEach(() => {
  gets.length = 0;
  reading.most = 0;
  countGets();
});

/** The keys of the objects the handlers' S3 client has read (GetObject), in order. */
const gets: string[] = [];

/** How many GetObject requests are in flight now, and the most there have been at once. */
const reading = { now: 0, most: 0 };

/** Counts the GetObject requests of the handlers' S3 client (built again after each resetWiring). */
function countGets(): void {
  wiring().s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'GetObjectCommand') return next(args);
      gets.push((args.input as { Key: string }).Key);
      reading.most = Math.max(reading.most, ++reading.now);
      try {
        return await next(args);
      } finally {
        reading.now--;
      }
    },
    { step: 'initialize', name: 'countGets' },
  );
}

/** What each GetObject read: `a` for a's result (`joinflow/results/<run>/a.<digest>.json`), `$output` for the run's. */
const read = (runId: string) => gets.map((key) => new RegExp(`^joinflow/results/${runId}/(.+)\\.[0-9a-f]{32}\\.json$`).exec(key)?.[1] ?? key);

/** Moves the handlers' clock (Date.now, which the wiring reads) past the processor's lease; GetObject is counted again. */
function pastTheLease(): void {
  world.pastTheLease();
  countGets();
}

const envelope = (type: string, detail: Record<string, unknown>): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': type, time: new Date().toISOString(), detail: { workflow: 'chain', ...detail } });
/** The events put on the bus of a detail type, as the processor receives them. */
const published = (type: string): Envelope[] => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).filter((e) => e.DetailType === type)
  .map((e) => ({ id: randomUUID(), source: e.Source!, 'detail-type': e.DetailType!, time: new Date().toISOString(), detail: JSON.parse(e.Detail!) as Record<string, unknown> }));
const completed = (runId: string, step: string, output: unknown, workflow = 'chain') => envelope('Step Completed', { workflow, runId, step, attempt: 1, output });

describe('results kept in the bucket', () => {
  it('are read where their value is passed on (a step\'s event, the run\'s output), not to check that a step is done', async () => {
    const runId = 'reads-chain';
    await processor({ workflow: 'chain', event: envelope('Run Requested', { runId, input: {} }) });
    // a's completion fires b, whose event carries a's result: read once. Batch refuses b's job, and
    // the invocation fails after its claim and before acknowledging it, as one that died there.
    batch.on(SubmitJobCommand).rejects(new Error('Batch unreachable'));
    const aDone = completed(runId, 'a', large('A'));
    await expect(processor({ workflow: 'chain', event: aDone })).rejects.toThrow('Batch unreachable');
    expect(read(runId)).toEqual(['a']);
    submitsJobs();

    // b ran all the same (a job submitted although SubmitJob failed): its completion fires c, whose event carries b's result.
    await processor({ workflow: 'chain', event: completed(runId, 'b', large('B')) });
    expect(read(runId)).toEqual(['a', 'b']);
    expect(submitted()).toEqual(['b', 'c']);

    // A failure of a (a duplicate execution) is checked against a's result, which is there: dropped, a's object not read.
    const failed = envelope('Step Failed', { runId, step: 'a', attempt: 1, error: { type: 'Error', message: 'a duplicate execution failed' }, retrying: false });
    await expect(processor({ workflow: 'chain', event: failed })).resolves.toEqual({ effects: 0 });
    expect(read(runId)).toEqual(['a', 'b']);

    // a's completion again after the lease takes b's unacknowledged fire over: b has its result, so
    // nothing is sent (only the acknowledgement), and neither b's result nor a's is read.
    pastTheLease();
    await expect(processor({ workflow: 'chain', event: { ...aDone, id: randomUUID() } })).resolves.toEqual({ effects: 1 });
    expect(submitted()).toEqual(['b', 'c']);
    expect(read(runId)).toEqual(['a', 'b']);

    // c's completion ends the run: its output is c's result, read once.
    const events = publishedTypes().length;
    await processor({ workflow: 'chain', event: completed(runId, 'c', large('C')) });
    expect(read(runId)).toEqual(['a', 'b', 'c']);
    expect(publishedTypes().slice(events)).toEqual(['Run Succeeded']);
    expect(await deadLetters()).toEqual([]);
  });

  it('are read once for a step after a choice, whose check that not every need was skipped reads none', async () => {
    const runId = 'reads-choice';
    await processor({ workflow: 'choose', event: envelope('Run Requested', { workflow: 'choose', runId, input: { mode: 'skip' } }) });
    const [skipped, ...more] = published('Step Skipped');
    expect(more).toEqual([]);
    await processor({ workflow: 'choose', event: completed(runId, 'a', large('A'), 'choose') });
    // g's skip completes d's join: d runs (a has its result), its event carrying a's result, read once.
    await processor({ workflow: 'choose', event: skipped! });
    expect(submitted()).toEqual(['d']);
    expect(read(runId)).toEqual(['a']);
  });
});

describe('a collect over results kept in the bucket', () => {
  it('reads them at once, at most 16 at a time, each once, and lists them in the items\' order', async () => {
    const runId = 'reads-collect';
    const n = 20;
    await processor({ workflow: 'fan', event: envelope('Run Requested', { workflow: 'fan', runId, input: {} }) });
    await processor({ workflow: 'fan', event: completed(runId, 'a', Array.from({ length: n }, (_, i) => i), 'fan') });
    const items = Array.from({ length: n }, (_, i) => envelope('Step Completed', { workflow: 'fan', runId, step: 'f', item: i, attempt: 1, output: large(`F${i}`) }));
    // The last item in counts first: the collect does not depend on the order of completions.
    for (const item of items.reverse()) await processor({ workflow: 'fan', event: item });
    expect(read(runId).sort()).toEqual(Array.from({ length: n }, (_, i) => `f#${i}`).sort());
    // All 16 lanes start before any response can come back (that takes the event loop a turn).
    expect(reading.most).toBe(16);
    // f's list, claim-checked on the bus: each item's result in its place.
    const [collected, ...more] = published('Step Completed').filter((e) => e.detail['step'] === 'f');
    expect(more).toEqual([]);
    const ref = collected!.detail['outputRef'] as string;
    const body = await world.s3.client.send(new GetObjectCommand({ Bucket: world.s3.bucket, Key: ref.replace(/^s3:\/\/[^/]+\//, '') }));
    const list = JSON.parse(await body.Body!.transformToString()) as Array<{ tag: string }>;
    expect(list.map((r) => r.tag)).toEqual(Array.from({ length: n }, (_, i) => `F${i}`));
  });
});

describe('a step with a `when` on a result kept in the bucket', () => {
  it('reads it once: to match its `when` and for its event', async () => {
    const runId = 'reads-when';
    await processor({ workflow: 'pick', event: envelope('Run Requested', { workflow: 'pick', runId, input: {} }) });
    await processor({ workflow: 'pick', event: completed(runId, 'a', large('A'), 'pick') });
    expect(submitted()).toEqual(['w']);
    expect(read(runId)).toEqual(['a']);
  });

  it('reads it once for a forEach step: to match its `when` and for its items', async () => {
    const runId = 'reads-when-each';
    await processor({ workflow: 'pickEach', event: envelope('Run Requested', { workflow: 'pickEach', runId, input: {} }) });
    lambda.resetHistory();
    await processor({ workflow: 'pickEach', event: completed(runId, 'a', { list: ['x', 'y'], ...large('A') }, 'pickEach') });
    const items = lambda.commandCalls(InvokeCommand).map((c) => (JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as { item: unknown }).item);
    expect(items).toEqual(['x', 'y']);
    expect(read(runId)).toEqual(['a']);
  });

  it('reads it once when the `when` does not match, and skips the step', async () => {
    const runId = 'reads-when-skip';
    await processor({ workflow: 'pick', event: envelope('Run Requested', { workflow: 'pick', runId, input: {} }) });
    await processor({ workflow: 'pick', event: completed(runId, 'a', large('Z'), 'pick') });
    expect(submitted()).toEqual([]);
    expect(published('Step Skipped').map((e) => e.detail['step'])).toEqual(['w']);
    expect(read(runId)).toEqual(['a']);
  });
});

describe('a forEach over an empty list inside a result kept in the bucket', () => {
  it('reads it once: to fan out (no items) and for its collect, which completes the step at once', async () => {
    const runId = 'reads-empty';
    await processor({ workflow: 'none', event: envelope('Run Requested', { workflow: 'none', runId, input: {} }) });
    await processor({ workflow: 'none', event: completed(runId, 'a', { list: [], ...large('A') }, 'none') });
    expect(published('Step Completed').filter((e) => e.detail['step'] === 'f').map((e) => e.detail['output'])).toEqual([[]]);
    expect(read(runId)).toEqual(['a']);
  });
});

/** Runs `chain` to its end, c's result (the run's output) too large for the run's item, then deletes the output's object; returns its key. */
async function endedWithOutputGone(runId: string): Promise<string> {
  await processor({ workflow: 'chain', event: envelope('Run Requested', { runId, input: {} }) });
  for (const [step, output] of [['a', 'A'], ['b', 'B'], ['c', large('C')]] as const) await processor({ workflow: 'chain', event: completed(runId, step, output) });
  const listed = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `joinflow/results/${runId}/$output.` }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!);
  expect(keys).toHaveLength(1);
  await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: keys[0]! }));
  gets.length = 0;
  return keys[0]!;
}

describe('a run whose output is kept in the bucket', () => {
  it('is read by the timer for its status alone: a retry for it once it has ended, its output\'s object gone, is dropped, not failed', async () => {
    const runId = 'reads-timer';
    await endedWithOutputGone(runId);
    const submits = submitted().length;
    const task = { workflow: 'chain', runId, step: 'b', attempt: 2, maxAttempts: 3, executor: job, event: { input: {}, results: { a: 'A' } } };

    const answer = await timer({ Records: [{ messageId: 'm-ended', body: JSON.stringify({ task, dueAt: Date.now() }), attributes: { ApproximateReceiveCount: '1' } }] });
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(submitted()).toHaveLength(submits);
    expect(gets).toEqual([]);
  });

  it('is not read by the processor: a late event for the ended run, its output\'s object gone, is dropped, not dead-lettered', async () => {
    const runId = 'reads-late';
    await endedWithOutputGone(runId);
    const events = publishedTypes().length;
    await expect(processor({ workflow: 'chain', event: completed(runId, 'c', large('C')) })).resolves.toEqual({ effects: 0 });
    expect(publishedTypes()).toHaveLength(events);
    expect(gets).toEqual([]);
    expect(await deadLetters()).toEqual([]);
  });

  it('is built again from the results, not read, when a processor that ended the run died before announcing it: the end is announced after the lease', async () => {
    const runId = 'reads-reannounce';
    await processor({ workflow: 'chain', event: envelope('Run Requested', { runId, input: {} }) });
    for (const [step, output] of [['a', 'A'], ['b', 'B']] as const) await processor({ workflow: 'chain', event: completed(runId, step, output) });
    // The run ends in the table, then EventBridge refuses Run Succeeded: the invocation fails before acknowledging $succeed.
    eb.on(PutEventsCommand).rejects(new Error('EventBridge unreachable'));
    const cDone = completed(runId, 'c', large('C'));
    await expect(processor({ workflow: 'chain', event: cDone })).rejects.toThrow('EventBridge unreachable');
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const listed = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `joinflow/results/${runId}/$output.` }));
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: listed.Contents![0]!.Key! }));
    gets.length = 0;
    eb.resetHistory();

    // Redelivered after the lease: $succeed is taken over, the output built again from c's result (read once) and announced.
    pastTheLease();
    await processor({ workflow: 'chain', event: { ...cDone, id: randomUUID() } });
    expect(read(runId)).toEqual(['c']);
    expect(publishedTypes()).toEqual(['Run Succeeded']);
    expect(await deadLetters()).toEqual([]);
  });

  it('is read for its status alone when its end is carried out again: the end announced again, its output\'s object gone', async () => {
    const runId = 'reads-ending';
    await endedWithOutputGone(runId);
    const events = publishedTypes().length;
    // The finish-run of a processor that ended the run and died before announcing it, carried out again.
    const ended = envelope('Run Succeeded', { runId, output: large('C') });
    await carryOut([{ type: 'finish-run', runId, update: { status: 'succeeded', finishedAt: Date.now(), output: large('C') }, events: [ended] }], wiring().effects);
    expect(publishedTypes().slice(events)).toEqual(['Run Succeeded']);
    expect(gets).toEqual([]);
  });
});

describe('a failing item of a forEach over a list inside a result kept in the bucket', () => {
  it("reads the list once per Step Failed: to check that the item is one of the list's, and for its retry's task", async () => {
    const runId = 'reads-item-retry';
    await processor({ workflow: 'retryEach', event: envelope('Run Requested', { workflow: 'retryEach', runId, input: {} }) });
    await processor({ workflow: 'retryEach', event: completed(runId, 'a', { list: ['x', 'y'], ...large('A') }, 'retryEach') });
    expect(read(runId)).toEqual(['a']);
    const failed = (attempt: number, retrying: boolean) => envelope('Step Failed', { workflow: 'retryEach', runId, step: 'r', item: 1, attempt, error: { type: 'Error', message: `attempt ${attempt} failed` }, retrying });

    // Item 1's first attempt fails: checked against the list (2 items), and its retry, queued on the timer, carries its value.
    await processor({ workflow: 'retryEach', event: failed(1, true) });
    expect(read(runId)).toEqual(['a', 'a']);
    const tasks = (await timerMessages<{ task: { step: string; item?: number; attempt: number; event: { item?: unknown } } }>()).map((m) => m.task);
    expect(tasks.map((t) => [t.step, t.item, t.attempt, t.event.item])).toEqual([['r', 1, 2, 'y']]);

    // Its second attempt fails for good: checked against the list again (its own event), and the run fails.
    await processor({ workflow: 'retryEach', event: failed(2, false) });
    expect(read(runId)).toEqual(['a', 'a', 'a']);
    expect(published('Run Failed').map((e) => e.detail['runId'])).toEqual([runId]);
    expect(await deadLetters()).toEqual([]);
  });
});
