/**
 * `joinflow status --table` of runs the real processor (and timer) handlers wrote to the table:
 * a forEach over an empty array, and a step waiting for its `delayMs`. DynamoDB on dynalite, the
 * timer queue on fauxqs, no bucket; EventBridge and Lambda (no emulators) through
 * aws-sdk-client-mock (handler-emulators.ts).
 */
import { randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { handler as timer } from '../../src/adapters/aws/handlers/timer.ts';
import { statusCommand } from '../../src/cli/status-command.ts';
import { fn, handlersOnEmulators, type Envelope } from '../helpers/handler-emulators.ts';

// f fans out over a's result; n runs after it.
const fan = { name: 'fan', steps: { a: { executor: fn('a') }, f: { forEach: 'a', executor: fn('f'), needs: ['a'] }, n: { executor: fn('n'), needs: ['f'] } } };
// b starts a minute after a completed.
const later = { name: 'later', steps: { a: { executor: fn('a') }, b: { delayMs: 60_000, executor: fn('b'), needs: ['a'] } } };

const world = handlersOnEmulators({ name: 'stage-status', workflows: [fan, later], jobDefinitions: {}, bucket: false, queues: ['timer'] });
const { eb, lambda, table: TABLE } = world;

const envelope = (workflow: string, type: string, detail: Record<string, unknown>): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': type, time: new Date().toISOString(), detail: { workflow, ...detail } });
const completed = (workflow: string, runId: string, step: string, output: unknown) => envelope(workflow, 'Step Completed', { runId, step, attempt: 1, output });
/** The events the processor put on the bus of a detail type, as it receives them. */
const published = (workflow: string, type: string) => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).filter((e) => e.DetailType === type)
  .map((e) => envelope(workflow, type, JSON.parse(e.Detail!) as Record<string, unknown>));

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

  it('shows a step waiting for its delayMs as dispatched: the table records neither the delay nor when it is due', async () => {
    const runId = 'delayed';
    await processor({ workflow: 'later', event: envelope('later', 'Run Requested', { runId, input: {} }) });
    await processor({ workflow: 'later', event: completed('later', runId, 'a', 1) });
    // b's start waits on the timer queue, as a delayed message (not receivable before it is due).
    expect(lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).not.toContain('joinflow-test-s-later-b');
    const before = JSON.parse(await status(runId, true)) as { steps: Array<Record<string, unknown>> };
    expect(before.steps).toEqual([
      { step: 'a', state: 'completed', dispatchedAt: expect.any(Number) },
      { step: 'b', state: 'dispatched', dispatchedAt: expect.any(Number) },
    ]);
    // Once the timer has dispatched it (its claim is no step's), it reads the same.
    const task = { workflow: 'later', runId, step: 'b', attempt: 1, maxAttempts: 1, executor: fn('b'), event: { input: {}, results: { a: 1 } } };
    expect(await timer({ Records: [{ messageId: 'm-b', body: JSON.stringify({ task, dueAt: Date.now() }) }] })).toEqual({ batchItemFailures: [] });
    expect(lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).toContain('joinflow-test-s-later-b');
    const after = JSON.parse(await status(runId, true)) as { steps: Array<Record<string, unknown>> };
    expect(after.steps.map((s) => [s['step'], s['state']])).toEqual([['a', 'completed'], ['b', 'dispatched']]);
    // The delayed message is on the queue all the same, invisible until it is due.
    const got = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queueUrl('timer'), MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    expect(got.Messages ?? []).toEqual([]);
  });
});
