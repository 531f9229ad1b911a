/**
 * `joinflow status --table` of runs the real processor (and timer) handlers wrote to the table:
 * a forEach over an empty array, a step waiting for its `delayMs`, a retry waiting for its
 * backoff. DynamoDB on dynalite, the timer queue on fauxqs; EventBridge and Lambda (no emulators)
 * through aws-sdk-client-mock (handler-emulators.ts).
 */
import { randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { handler as timer } from '../../src/adapters/aws/handlers/timer.ts';
import { createDynamoDbStore } from '../../src/adapters/aws/dynamodb-store.ts';
import { createRetention } from '../../src/adapters/aws/retention.ts';
import { createDueNotes } from '../../src/adapters/aws/timer-dues.ts';
import { wiring } from '../../src/adapters/aws/wiring.ts';
import { statusCommand } from '../../src/cli/status-command.ts';
import { fn, handlersOnEmulators, type Envelope } from '../helpers/handler-emulators.ts';

// f fans out over a's result; n runs after it.
const fan = { name: 'fan', steps: { a: { executor: fn('a') }, f: { forEach: 'a', executor: fn('f'), needs: ['a'] }, n: { executor: fn('n'), needs: ['f'] } } };
// b starts a minute after a completed.
const later = { name: 'later', steps: { a: { executor: fn('a') }, b: { delayMs: 60_000, executor: fn('b'), needs: ['a'] } } };
// r is retried a minute after it failed, twice at most.
const retrying = { name: 'retrying', steps: { r: { executor: fn('r'), retry: { maxAttempts: 3, backoffMs: 60_000, maxDelayMs: 600_000 } } } };
// Each item of f starts a minute after a completed, and is retried a minute after it failed.
const fanLater = { name: 'fanLater', steps: { a: { executor: fn('a') }, f: { forEach: 'a', delayMs: 60_000, executor: fn('f'), needs: ['a'], retry: { maxAttempts: 2, backoffMs: 60_000, maxDelayMs: 600_000 } } } };

const world = handlersOnEmulators({ name: 'stage-status', workflows: [fan, later, retrying, fanLater], jobDefinitions: {}, bucket: false, queues: ['timer'] });
const { eb, lambda, table: TABLE } = world;

const envelope = (workflow: string, type: string, detail: Record<string, unknown>): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': type, time: new Date().toISOString(), detail: { workflow, ...detail } });
const completed = (workflow: string, runId: string, step: string, output: unknown) => envelope(workflow, 'Step Completed', { runId, step, attempt: 1, output });
/** The events the processor put on the bus of a detail type, as it receives them. */
const published = (workflow: string, type: string) => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).filter((e) => e.DetailType === type)
  .map((e) => envelope(workflow, type, JSON.parse(e.Detail!) as Record<string, unknown>));

const failed = (workflow: string, runId: string, step: string, attempt: number, item?: number) =>
  envelope(workflow, 'Step Failed', { runId, step, attempt, ...(item === undefined ? {} : { item }), error: { type: 'Error', message: 'boom' }, retrying: true });
/** The timer queue's message of a task, as the timer receives it once it is due. */
const due = (workflow: string, runId: string, step: string, attempt: number, item?: number) => ({
  Records: [{ messageId: `m-${runId}-${step}-${item ?? ''}-${attempt}`, body: JSON.stringify({ task: { workflow, runId, step, ...(item === undefined ? {} : { item }), attempt, maxAttempts: 3, executor: fn(step), event: { input: {} } }, dueAt: Date.now() }) }],
});
/** The sort keys of a run's items that start with `prefix`. */
async function keys(runId: string, prefix: string): Promise<string[]> {
  const out = await world.dynamo.client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': { S: `RUN#${runId}` }, ':p': { S: prefix } } }));
  return (out.Items ?? []).map((i) => i['sk']!.S!).sort();
}
type Step = Record<string, unknown> & { step: string; state: string };

/** `joinflow status <runId> --table ...` (with `--json` when asked): its stdout. */
async function status(runId: string, json = false): Promise<string> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  try {
    expect(await statusCommand([runId, '--table', TABLE, ...(json ? ['--json'] : [])])).toBe(0);
  } finally {
    write.mockRestore();
  }
  return out.join('');
}

describe('joinflow status of a stage run', () => {
  it('shows a forEach over an empty array as completed over 0 items (its collect\'s width), as the embedded status does', async () => {
    const runId = 'empty-fan';
    await processor({ workflow: 'fan', event: envelope('fan', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'fan', event: completed('fan', runId, 'a', []) });
    // f completed in the event that fanned it out: its Step Completed (output []) records its result.
    const done = published('fan', 'Step Completed').filter((e) => e.detail['runId'] === runId && e.detail['step'] === 'f');
    expect(done.map((e) => e.detail['output'])).toEqual([[]]);
    await processor({ workflow: 'fan', event: done[0]! });
    const { steps } = JSON.parse(await status(runId, true)) as { steps: Array<{ step: string; state: string; items?: number }> };
    expect(steps.map((s) => [s.step, s.state, s.items])).toEqual([['a', 'completed', undefined], ['f', 'completed', 0], ['n', 'dispatched', undefined]]);
    const text = await status(runId);
    expect(text).toMatch(/^ {2}completed +f \(forEach over 0 items\)$/m);
    expect(text).toMatch(/^ {2}completed +a$/m);
  });

  it('shows a forEach with items as the items done, without a width of 0', async () => {
    const runId = 'two-fan';
    await processor({ workflow: 'fan', event: envelope('fan', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'fan', event: completed('fan', runId, 'a', [1, 2]) });
    await processor({ workflow: 'fan', event: envelope('fan', 'Step Completed', { runId, step: 'f', item: 0, attempt: 1, output: 1 }) });
    const { steps } = JSON.parse(await status(runId, true)) as { steps: Array<{ step: string; state: string; items?: number }> };
    expect(steps.map((s) => [s.step, s.state, s.items])).toEqual([['a', 'completed', undefined], ['f', 'dispatched', 1]]);
    expect(await status(runId)).toMatch(/^ {2}dispatched +f \(1 item done\)$/m);
  });

  it('shows a step waiting for its delayMs as waiting, with its due time, until the timer dispatches it', async () => {
    const runId = 'delayed';
    await processor({ workflow: 'later', event: envelope('later', 'Run Requested', { runId, input: {} }) });
    const before = Date.now();
    await processor({ workflow: 'later', event: completed('later', runId, 'a', 1) });
    const after = Date.now();
    // b's start waits on the timer queue, as a delayed message (not receivable before it is due).
    expect(lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).not.toContain('joinflow-test-s-later-b');
    const waiting = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(waiting.steps).toEqual([
      { step: 'a', state: 'completed', dispatchedAt: expect.any(Number) },
      { step: 'b', state: 'waiting', dispatchedAt: expect.any(Number), delay: { dueAt: expect.any(Number) } },
    ]);
    // Due a minute after the event that fired it was handled, as the embedded status gives it.
    const dueAt = (waiting.steps[1]!['delay'] as { dueAt: number }).dueAt;
    expect(dueAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(dueAt).toBeLessThanOrEqual(after + 60_000);
    expect(await status(runId)).toMatch(new RegExp(`^ {2}waiting +b; delay, due at ${new Date(dueAt).toISOString().replace(/\./g, '\\.')}$`, 'm'));
    // Once the timer has dispatched it (its claim, on the item with the due time), it is dispatched.
    expect(await timer(due('later', runId, 'b', 1))).toEqual({ batchItemFailures: [] });
    expect(lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).toContain('joinflow-test-s-later-b');
    const started = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(started.steps.map((s) => [s.step, s.state, s['delay']])).toEqual([['a', 'completed', undefined], ['b', 'dispatched', undefined]]);
    expect(await status(runId)).toMatch(/^ {2}dispatched +b$/m);
    // The delayed message is on the queue all the same, invisible until it is due.
    const got = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queueUrl('timer'), MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    expect(got.Messages ?? []).toEqual([]);
  });

  it('shows a retry waiting for its backoff with its due time, the first one noted however often it is scheduled', async () => {
    const runId = 'backoff';
    await processor({ workflow: 'retrying', event: envelope('retrying', 'Run Requested', { runId, input: {} }) });
    const before = Date.now();
    const failure = failed('retrying', runId, 'r', 1);
    await processor({ workflow: 'retrying', event: failure });
    const after = Date.now();
    const { steps } = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(steps).toEqual([{ step: 'r', state: 'waiting', dispatchedAt: expect.any(Number), unstarted: { attempt: 2, state: 'scheduled', dueAt: expect.any(Number) } }]);
    const dueAt = (steps[0]!['unstarted'] as { dueAt: number }).dueAt;
    expect(dueAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(dueAt).toBeLessThanOrEqual(after + 60_000);
    // The same failure again (a redelivery), and its retry scheduled again (a taken-over one): the first due time stays.
    await processor({ workflow: 'retrying', event: failure });
    await wiring().effects.noteDue!({ workflow: 'retrying', runId, step: 'r', attempt: 2, maxAttempts: 3, executor: fn('r'), event: { input: {}, results: {} } }, dueAt + 5_000);
    expect(await status(runId)).toMatch(new RegExp(`^ {2}waiting +r; retry 2 due at ${new Date(dueAt).toISOString().replace(/\./g, '\\.')}$`, 'm'));
    // The retry starts: the step runs again, nothing waits.
    expect(await timer(due('retrying', runId, 'r', 2))).toEqual({ batchItemFailures: [] });
    const running = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(running.steps).toEqual([{ step: 'r', state: 'dispatched', dispatchedAt: expect.any(Number) }]);
    // Its third attempt waits in turn; the run ends meanwhile (cancelled): its timer is dropped, the retry never starts.
    await processor({ workflow: 'retrying', event: failed('retrying', runId, 'r', 2) });
    expect(await status(runId)).toMatch(/^ {2}waiting +r; retry 3 due at \S+$/m);
    const store = createDynamoDbStore({ client: world.dynamo.client, table: TABLE });
    expect(await store.finishRun(runId, { status: 'cancelled', finishedAt: Date.now() })).toBe(true);
    const ended = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(ended.steps).toEqual([{ step: 'r', state: 'dispatched', dispatchedAt: expect.any(Number), unstarted: { attempt: 3, state: 'cancelled' } }]);
    expect(await status(runId)).toMatch(/^ {2}dispatched +r; retry 3 never started \(the run was cancelled\)$/m);
  });

  it('says when a timer task is overdue: not started minutes after its due time (its message failing, or in the timer DLQ)', async () => {
    const runId = 'late-retry';
    await processor({ workflow: 'retrying', event: envelope('retrying', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'retrying', event: failed('retrying', runId, 'r', 1) });
    expect(await status(runId)).not.toMatch(/^overdue:/m);
    // Due a minute after the failure: four minutes past it, not yet overdue; six, overdue.
    world.later(5 * 60_000);
    expect(await status(runId)).not.toMatch(/^overdue:/m);
    world.later(2 * 60_000);
    expect(await status(runId)).toMatch(/^overdue: r not started 5 minutes after its due time: the timer's message comes back every 6 minutes while its dispatch fails, and goes to the stage's timer DLQ after 5 tries/m);
  });

  it("shows a delayed start the run's end came before as never started, and one the timer had started as it was", async () => {
    const runId = 'delayed-then-failed';
    await processor({ workflow: 'later', event: envelope('later', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'later', event: completed('later', runId, 'a', 1) });
    const store = createDynamoDbStore({ client: world.dynamo.client, table: TABLE });
    expect(await store.finishRun(runId, { status: 'failed', finishedAt: Date.now(), error: { type: 'Error', message: 'stopped from outside' } })).toBe(true);
    const ended = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(ended.steps.map((s) => [s.step, s.state, s['unstarted']])).toEqual([['a', 'completed', undefined], ['b', 'dispatched', { attempt: 1, state: 'cancelled' }]]);
    expect(await status(runId)).toMatch(/^ {2}dispatched +b; never started \(the run failed first\)$/m);

    const runId2 = 'delayed-started';
    await processor({ workflow: 'later', event: envelope('later', 'Run Requested', { runId: runId2, input: {} }) });
    await processor({ workflow: 'later', event: completed('later', runId2, 'a', 1) });
    expect(await timer(due('later', runId2, 'b', 1))).toEqual({ batchItemFailures: [] });
    expect(await store.finishRun(runId2, { status: 'cancelled', finishedAt: Date.now() })).toBe(true);
    const started = JSON.parse(await status(runId2, true)) as { steps: Step[] };
    expect(started.steps.map((s) => [s.step, s.state, s['unstarted']])).toEqual([['a', 'completed', undefined], ['b', 'dispatched', undefined]]);
  });

  it('notes a forEach\'s delayed start once, waiting until an item starts, and names the soonest item retry of its step', async () => {
    const runId = 'fan-later';
    await processor({ workflow: 'fanLater', event: envelope('fanLater', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'fanLater', event: completed('fanLater', runId, 'a', ['x', 'y', 'z']) });
    // Three messages on the timer queue, one due time in the table: the items are due together.
    expect(await keys(runId, 'TRIG#$timer:')).toEqual(['TRIG#$timer:f#0#1']);
    const waiting = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(waiting.steps.map((s) => [s.step, s.state, s['delay'] === undefined])).toEqual([['a', 'completed', true], ['f', 'waiting', false]]);
    expect(await status(runId)).toMatch(/^ {2}waiting +f; delay, due at \S+$/m);
    // Item 2's message comes first: the step has started.
    expect(await timer(due('fanLater', runId, 'f', 1, 2))).toEqual({ batchItemFailures: [] });
    const started = JSON.parse(await status(runId, true)) as { steps: Step[] };
    expect(started.steps.map((s) => [s.step, s.state, s['delay']])).toEqual([['a', 'completed', undefined], ['f', 'dispatched', undefined]]);
    // Items 0 and 1 start, and fail; item 2 completes. Their retries wait: the step still has items to run.
    for (const item of [0, 1]) await timer(due('fanLater', runId, 'f', 1, item));
    await processor({ workflow: 'fanLater', event: failed('fanLater', runId, 'f', 1, 1) });
    await processor({ workflow: 'fanLater', event: failed('fanLater', runId, 'f', 1, 0) });
    await processor({ workflow: 'fanLater', event: envelope('fanLater', 'Step Completed', { runId, step: 'f', item: 2, attempt: 1, output: 'Z' }) });
    const retries = JSON.parse(await status(runId, true)) as { steps: Step[] };
    const f = retries.steps.find((s) => s.step === 'f')!;
    expect(f).toMatchObject({ state: 'dispatched', items: 1, unstarted: { attempt: 2, state: 'scheduled', item: 1 }, retriesWaiting: 2 });
    expect(await status(runId)).toMatch(/^ {2}dispatched +f \(1 item done\); retry 2 of item 1 due at \S+ \(the first of 2 items' retries waiting\)$/m);
    // Item 1's retry starts: item 0's is the one left.
    await timer(due('fanLater', runId, 'f', 2, 1));
    const left = (JSON.parse(await status(runId, true)) as { steps: Step[] }).steps.find((s) => s.step === 'f')!;
    expect(left['unstarted']).toMatchObject({ attempt: 2, item: 0 });
    expect(left['retriesWaiting']).toBeUndefined();
  });

  it('goes on without the due time when it cannot be noted: the run does not wait on status', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const level = process.env['JOINFLOW_LOG_LEVEL'];
    process.env['JOINFLOW_LOG_LEVEL'] = 'warn';
    try {
      const note = createDueNotes(world.dynamo.client, 'no-such-table', createRetention());
      await expect(note({ workflow: 'later', runId: 'x', step: 'b', attempt: 1, maxAttempts: 1, executor: fn('b'), event: { input: {}, results: {} } }, 1)).resolves.toBeUndefined();
      expect(log.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>)).toMatchObject([{ level: 'warn', runId: 'x', step: 'b', message: expect.stringMatching(/could not note when the delayed start is due/) }]);
    } finally {
      if (level === undefined) delete process.env['JOINFLOW_LOG_LEVEL'];
      else process.env['JOINFLOW_LOG_LEVEL'] = level;
      log.mockRestore();
    }
  });
});
