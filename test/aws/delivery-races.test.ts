/**
 * At-least-once delivery on AWS, through the real handlers (processor, Lambda-result bridge,
 * timer): every event delivered several times at once, a processor that dies between its claim
 * and its dispatch, a Lambda result record delivered twice, a timer message delivered twice,
 * forEach items reported twice and out of order. DynamoDB on dynalite, no bucket, the timer queue,
 * its DLQ and the events DLQ on fauxqs; EventBridge and Lambda (no emulators) through
 * aws-sdk-client-mock (handler-emulators.ts). The lease is judged on Date.now, which the tests
 * move forward instead of waiting.
 */
import { randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskMeta } from '../../src/adapters/aws/dispatch.ts';
import { lambdaResult } from '../../src/adapters/aws/handlers/bridges.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { handler as timer } from '../../src/adapters/aws/handlers/timer.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { cancelStageRun } from '../../src/adapters/aws/stage.ts';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import { patternMatches } from '../../src/model/pattern.ts';
import { fn, handlersOnEmulators, type Envelope } from '../helpers/handler-emulators.ts';
import { loggedErrors } from '../helpers/handler-env.ts';

const workflows = [
  { name: 'dia', steps: { a: { executor: fn('a') }, b: { executor: fn('b') }, c: { executor: fn('c'), needs: ['a', 'b'] } } },
  { name: 'chain', steps: { a: { executor: fn('a'), retry: { maxAttempts: 3, backoffMs: 1000 } }, b: { executor: fn('b'), needs: ['a'] } } },
  { name: 'fan', steps: { split: { executor: fn('split') }, sq: { executor: fn('sq'), needs: ['split'], forEach: { step: 'split' }, retry: { maxAttempts: 2, backoffMs: 1000 } }, total: { executor: fn('total'), needs: ['sq'] } } },
];
// No bucket: a Run Requested whose input is too large for its run's item is not kept anywhere.
const world = handlersOnEmulators({ name: 'races', workflows, jobDefinitions: {}, bucket: false, queues: ['timer', 'dlq', 'timer-dlq'] });
const { eb, lambda, plans, later, table: TABLE } = world;

beforeEach(() => {
  seenEvents = 0;
  seenInvokes = 0;
});

/** The next Lambda Invoke is throttled (after the SDK's own retries): the handler that made it fails. */
function throttleNextInvoke(): void {
  let once = true;
  lambda.on(InvokeCommand).callsFake(async () => {
    if (!once) return { StatusCode: 202 };
    once = false;
    throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
  });
}

/** Lambda retries a failed asynchronous invocation a minute after it failed (Lambda Developer Guide). */
const LAMBDA_RETRY_MS = 60_000;

/** The next Lambda Invoke waits until `release()`: a live but slow claimer (a wide forEach, a throttled API). */
function holdNextInvoke(): { entered: Promise<void>; release: () => void } {
  let release!: () => void;
  let enter!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  let once = true;
  lambda.on(InvokeCommand).callsFake(async () => {
    if (once) {
      once = false;
      enter();
      await held;
    }
    return { StatusCode: 202 };
  });
  return { entered, release };
}

type Payload = Record<string, unknown> & { joinflow: TaskMeta };

let seenEvents = 0;
/** Events the handlers put on the bus since the last look. */
function published(): Envelope[] {
  const all = eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => ({ id: randomUUID(), source: e.Source!, 'detail-type': e.DetailType!, time: new Date().toISOString(), detail: JSON.parse(e.Detail!) as Record<string, unknown> }));
  const fresh = all.slice(seenEvents);
  seenEvents = all.length;
  return fresh;
}

let seenInvokes = 0;
/** Lambda invocations of step functions since the last look (their payloads). */
function invoked(): Payload[] {
  const all = lambda.commandCalls(InvokeCommand).map((c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as Payload);
  const fresh = all.slice(seenInvokes);
  seenInvokes = all.length;
  return fresh;
}

/** Delivers an event `times` times at once to every trigger whose rule matches it. */
async function deliver(event: Envelope, times = 1): Promise<void> {
  const plan = plans.get(event.detail['workflow'] as string)!;
  const calls: Array<Promise<unknown>> = [];
  for (const t of plan.triggers) {
    if (!patternMatches(t.activation, event)) continue;
    for (let i = 0; i < times; i++) calls.push(processor({ trigger: `${plan.workflow}/${t.id}`, event: structuredClone(event) }));
  }
  await Promise.all(calls);
}

/** Delivers what the handlers published (each event `times` times at once) until nothing new comes. */
async function drain(times = 1): Promise<void> {
  for (let events = published(); events.length > 0; events = published()) await Promise.all(events.map((e) => deliver(e, times)));
}

function runRequested(workflow: string, runId: string): Envelope {
  return { id: randomUUID(), source: 'joinflow', 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow, runId, input: {} } };
}

const succeeded = (payload: Payload, output: unknown) => lambdaResult({ id: randomUUID(), source: 'lambda', 'detail-type': 'Lambda Function Invocation Result - Success', time: '', detail: { requestPayload: payload, responsePayload: output } });
const failed = (payload: Payload, message: string) => lambdaResult({
  id: randomUUID(), source: 'lambda', 'detail-type': 'Lambda Function Invocation Result - Failure', time: '',
  detail: { requestPayload: payload, responsePayload: { errorType: 'Error', errorMessage: message }, responseContext: { functionError: 'Unhandled' } },
});

/** The timer queue's messages (waiting out their delay), as the timer's SQS event source hands them over. */
async function timerRecords(count: number): Promise<Array<{ messageId: string; body: string }>> {
  const records: Array<{ messageId: string; body: string }> = [];
  for (let tries = 0; records.length < count && tries < 10; tries++) {
    const out = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: process.env['JOINFLOW_TIMER_QUEUE_URL']!, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
    records.push(...(out.Messages ?? []).map((m) => ({ messageId: m.MessageId!, body: m.Body! })));
  }
  return records;
}

const steps = (payloads: Payload[]) => payloads.map((p) => `${p.joinflow.step}${p.joinflow.item === undefined ? '' : `[${p.joinflow.item}]`}#${p.joinflow.attempt}`).sort();
const announced = (type: string, runId: string) => eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? [])
  .filter((e) => e.DetailType === type && (JSON.parse(e.Detail!) as { runId: string }).runId === runId).length;

describe('at-least-once delivery on AWS', () => {
  it('runs a diamond once when every event and every Lambda result record comes three times at once', async () => {
    await deliver(runRequested('dia', 'race-dia'), 3);
    await drain(3);
    const roots = invoked();
    expect(steps(roots)).toEqual(['a#1', 'b#1']);
    await Promise.all(roots.flatMap((p) => [succeeded(p, { v: p.joinflow.step }), succeeded(p, { v: p.joinflow.step })]));
    await drain(3);
    const join = invoked();
    expect(steps(join)).toEqual(['c#1']);
    expect(join[0]!['results']).toEqual({ a: { v: 'a' }, b: { v: 'b' } });
    await Promise.all([succeeded(join[0]!, 'done'), succeeded(join[0]!, 'done')]);
    await drain(3);
    expect(invoked()).toEqual([]);
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-dia'))!.run).toMatchObject({ status: 'succeeded', output: { c: 'done' } });
    expect(announced('Run Succeeded', 'race-dia')).toBe(1);
  });

  it('dispatches a step once after its processor died between the claim and the dispatch: not within the lease, once after it', async () => {
    throttleNextInvoke();
    const start = runRequested('chain', 'race-crash');
    await expect(deliver(start)).rejects.toThrow('Rate exceeded');
    expect(steps(invoked())).toEqual(['a#1']);
    // EventBridge's duplicate, within the lease: the claim is the dead invocation's still.
    await deliver(start);
    expect(invoked()).toEqual([]);
    // Lambda's retry of the failed invocation comes a minute later: it takes the claim over.
    later(LAMBDA_RETRY_MS);
    await deliver(start);
    expect(steps(invoked())).toEqual(['a#1']);
    await deliver(start, 2);
    expect(invoked()).toEqual([]);
  });

  it('leaves a fire to the processor still dispatching it: a duplicate 40 s after the claim, past the old 30 s lease and within the 50 s timeout, sends nothing', async () => {
    const slow = holdNextInvoke();
    const start = runRequested('chain', 'race-slow');
    const first = deliver(start);
    await slow.entered;
    later(40_000);
    await deliver(start);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    slow.release();
    await first;
    expect(steps(invoked())).toEqual(['a#1']);
    // Acknowledged: a later delivery (Lambda's retry, EventBridge's duplicate) sends nothing either.
    later(LAMBDA_RETRY_MS);
    await deliver(start);
    expect(invoked()).toEqual([]);
  });

  it('judges claims by the lease the deployment sets (JOINFLOW_LEASE_MS): a dead claimer\'s fire is taken over after it, not before', async () => {
    process.env['JOINFLOW_LEASE_MS'] = '45000';
    resetWiring();
    try {
      throttleNextInvoke();
      const start = runRequested('chain', 'race-lease-env');
      await expect(deliver(start)).rejects.toThrow('Rate exceeded');
      expect(steps(invoked())).toEqual(['a#1']);
      later(40_000);
      await deliver(start);
      expect(invoked()).toEqual([]);
      later(6_000);
      await deliver(start);
      expect(steps(invoked())).toEqual(['a#1']);
    } finally {
      delete process.env['JOINFLOW_LEASE_MS'];
      resetWiring();
    }
  });

  it('retries a failed attempt once though its result record and its timer message each come twice', async () => {
    await deliver(runRequested('chain', 'race-timer'));
    const [first] = invoked();
    await Promise.all([failed(first!, 'boom'), failed(first!, 'boom')]);
    await drain(2);
    expect(invoked()).toEqual([]);
    // One timer message: the two records are one arrival of $retry.
    const records = await timerRecords(1);
    expect(records).toHaveLength(1);
    later(5000);
    // SQS hands the message out twice (at least once), to two timer invocations at once.
    const answers = await Promise.all([timer({ Records: records }), timer({ Records: records })]);
    expect(answers).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    const retried = invoked();
    expect(steps(retried)).toEqual(['a#2']);
    // And once more, later (a batch whose invocation died is delivered again whole).
    await timer({ Records: records });
    expect(invoked()).toEqual([]);
    await succeeded(retried[0]!, 'ok');
    await drain(2);
    expect(steps(invoked())).toEqual(['b#1']);
  });

  it('dispatches a retry whose timer invocation died between its claim and its dispatch when the message comes back', async () => {
    await deliver(runRequested('chain', 'race-timer-crash'));
    const [first] = invoked();
    await failed(first!, 'boom');
    await drain();
    const records = await timerRecords(1);
    later(5000);
    throttleNextInvoke();
    expect(await timer({ Records: records })).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.messageId }] });
    expect(steps(invoked())).toEqual(['a#2']);
    // SQS gives the message back after its visibility timeout (6 minutes), past the lease.
    later(6 * 60_000);
    expect(await timer({ Records: records })).toEqual({ batchItemFailures: [] });
    expect(steps(invoked())).toEqual(['a#2']);
  });

  it('leaves a retry to the timer invocation still dispatching it: the same message 40 s after the claim sends nothing', async () => {
    await deliver(runRequested('chain', 'race-timer-slow'));
    const [first] = invoked();
    await failed(first!, 'boom');
    await drain();
    const records = await timerRecords(1);
    later(5000);
    const slow = holdNextInvoke();
    const dispatching = timer({ Records: records });
    await slow.entered;
    // SQS hands the message out again (at least once) while the first invocation is still at it.
    later(40_000);
    expect(await timer({ Records: records })).toEqual({ batchItemFailures: [] });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(2);
    slow.release();
    expect(await dispatching).toEqual({ batchItemFailures: [] });
    expect(steps(invoked())).toEqual(['a#2']);
  });

  it("names the SQS message id and why for a timer message that is not JSON or not a timer message, sends it to the timer DLQ at once (not a batch item failure), and dispatches the rest of its batch", async () => {
    await deliver(runRequested('chain', 'race-timer-bad'));
    await failed(invoked()[0]!, 'boom');
    await drain();
    const [good] = await timerRecords(1);
    later(5000);
    const errors = await loggedErrors(async () => {
      const answer = await timer({
        Records: [
          { messageId: 'm-not-json', body: '{"task": ', attributes: { ApproximateReceiveCount: '2' } },
          { messageId: 'm-not-timer', body: '{"dueAt": 1}' },
          good!,
        ],
      });
      expect(answer).toEqual({ batchItemFailures: [] });
    });
    expect(steps(invoked())).toEqual(['a#2']);
    expect(errors.map((e) => e['messageId'])).toEqual(['m-not-json', 'm-not-timer']);
    expect(errors[0]!['message']).toMatch(/^unprocessable timer message m-not-json \(receive 2\): body is not JSON \(.+\); sent to the timer dead-letter queue with the reason \(attribute joinflow-reason\) and deleted$/);
    expect(errors[1]!['message']).toBe('unprocessable timer message m-not-timer (receive ?): not a timer message: task: Invalid input: expected object, received undefined; sent to the timer dead-letter queue with the reason (attribute joinflow-reason) and deleted');
  });

  it('names the SQS message id, the run and the step of a timer message whose dispatch failed', async () => {
    await deliver(runRequested('chain', 'race-timer-fails'));
    await failed(invoked()[0]!, 'boom');
    await drain();
    const records = await timerRecords(1);
    later(5000);
    throttleNextInvoke();
    const errors = await loggedErrors(async () => {
      expect(await timer({ Records: records })).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.messageId }] });
    });
    expect(errors).toEqual([
      expect.objectContaining({ message: `timer message ${records[0]!.messageId} failed (it comes back after its visibility timeout): Rate exceeded`, messageId: records[0]!.messageId, runId: 'race-timer-fails', step: 'a', attempt: 2 }),
    ]);
  });

  it('ignores a completion and a cancel that come after the run failed, and drops the retry of a run cancelled while it waited', async () => {
    await deliver(runRequested('dia', 'race-cancel'));
    const roots = invoked();
    await failed(roots.find((p) => p.joinflow.step === 'a')!, 'unused');
    // a has no retries: its failure fails the run; b's completion then comes late, twice.
    await drain();
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-cancel'))!.run.status).toBe('failed');
    const cancel = await cancelStageRun(configFromEnv(), 'race-cancel', 'too late');
    expect(cancel).toMatchObject({ outcome: 'ended', run: { status: 'failed' } });
    await Promise.all([succeeded(roots.find((p) => p.joinflow.step === 'b')!, 'b'), succeeded(roots.find((p) => p.joinflow.step === 'b')!, 'b')]);
    await drain(2);
    expect(invoked()).toEqual([]);
    expect(announced('Run Failed', 'race-cancel')).toBe(1);
    expect(announced('Run Succeeded', 'race-cancel')).toBe(0);

    // A cancel while a's retry waits on the timer: the timer drops it.
    await deliver(runRequested('chain', 'race-cancel-2'));
    await failed(invoked()[0]!, 'boom');
    await drain();
    const records = await timerRecords(1);
    expect(await cancelStageRun(configFromEnv(), 'race-cancel-2', 'stop')).toMatchObject({ outcome: 'cancelled' });
    later(5000);
    expect(await timer({ Records: records })).toEqual({ batchItemFailures: [] });
    expect(invoked()).toEqual([]);
  });

  it('sends again only the forEach items without results when its dispatch is taken over after the lease', async () => {
    await deliver(runRequested('fan', 'race-fan-takeover'));
    const [split] = invoked();
    await succeeded(split!, [1, 2, 3]);
    const completed = published();
    expect(completed.map((e) => e['detail-type'])).toEqual(['Step Completed']);
    // The processor's first invocation dies on one item's Invoke, after sending the others.
    throttleNextInvoke();
    await expect(deliver(completed[0]!)).rejects.toThrow('Rate exceeded');
    const sent = invoked();
    expect(steps(sent)).toEqual(['sq[0]#1', 'sq[1]#1', 'sq[2]#1']);
    // The two that were sent finish; the one that was not never started.
    const thrown = sent[0]!;
    await Promise.all(sent.slice(1).map((p) => succeeded(p, (p.joinflow.item! + 1) ** 2)));
    await drain();
    expect(invoked()).toEqual([]);
    // Lambda retries the dead invocation after the lease: only the item without a result goes out.
    later(LAMBDA_RETRY_MS);
    await deliver(completed[0]!);
    const again = invoked();
    expect(steps(again)).toEqual([`sq[${thrown.joinflow.item}]#1`]);
    await succeeded(again[0]!, (thrown.joinflow.item! + 1) ** 2);
    await drain();
    const total = invoked();
    expect(steps(total)).toEqual(['total#1']);
    expect(total[0]!['results']).toEqual({ sq: [1, 4, 9] });
  });

  it('fails a forEach step wider than custom.joinflow.maxForEachItems at once, sending none of its items', async () => {
    process.env['JOINFLOW_MAX_FOREACH_ITEMS'] = '2';
    resetWiring();
    try {
      await deliver(runRequested('fan', 'race-fan-wide'));
      const [split] = invoked();
      await succeeded(split!, [1, 2, 3]);
      await drain();
      expect(invoked()).toEqual([]);
      const status = (await readRunStatus(world.dynamo.client, TABLE, 'race-fan-wide'))!;
      expect(status.run.status).toBe('failed');
      expect(status.run.error).toMatchObject({ type: 'ForEachTooWide' });
      expect(status.run.error!.message).toContain('step "sq": a forEach over 3 items, more than this engine runs (at most 2: custom.joinflow.maxForEachItems (JOINFLOW_MAX_FOREACH_ITEMS)');
    } finally {
      delete process.env['JOINFLOW_MAX_FOREACH_ITEMS'];
      resetWiring();
    }
  });

  it('announces Run Succeeded when the invocation that ended the run died before putting it, on the redelivery', async () => {
    await deliver(runRequested('dia', 'race-announce'));
    const roots = invoked();
    await Promise.all(roots.map((p) => succeeded(p, p.joinflow.step)));
    await drain();
    const [c] = invoked();
    await succeeded(c!, 'done');
    const [completed] = published();
    // The run is ended in the table, then PutEvents of Run Succeeded is throttled past the SDK's retries.
    eb.on(PutEventsCommand).callsFake(async (input: { Entries?: Array<{ DetailType?: string }> }) => {
      if (input.Entries?.some((e) => e.DetailType === 'Run Succeeded')) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return { FailedEntryCount: 0, Entries: [{ EventId: '1' }] };
    });
    await expect(deliver(completed!)).rejects.toThrow('Rate exceeded');
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-announce'))!.run.status).toBe('succeeded');
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    // Lambda's retry of the failed invocation, a minute later.
    later(LAMBDA_RETRY_MS);
    // (The rejected request counts as one PutEvents of Run Succeeded; the retry must make another.)
    expect(announced('Run Succeeded', 'race-announce')).toBe(1);
    await deliver(completed!);
    expect(announced('Run Succeeded', 'race-announce')).toBe(2);
    // Once announced (acknowledged), a further duplicate announces nothing.
    await deliver(completed!, 2);
    expect(announced('Run Succeeded', 'race-announce')).toBe(2);
  });

  it('dead-letters at once, with the reason, a Run Requested whose input is too large for its run\'s item (it failed every retry)', async () => {
    const big = runRequested('dia', 'race-big-input');
    big.detail['input'] = { pad: 'x'.repeat(400_000) };
    await deliver(big);
    expect(invoked()).toEqual([]);
    expect(await readRunStatus(world.dynamo.client, TABLE, 'race-big-input')).toBeUndefined();
    const got = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: process.env['JOINFLOW_DLQ_URL']!, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    // The event (391 KB) does not fit in an SQS message beside its reason; without a bucket the message keeps its start.
    const letters = (got.Messages ?? []).map((m) => JSON.parse(m.Body!) as { reason: string; eventSummary: { detail: { runId: string } }; eventCut: string });
    const mine = letters.filter((l) => l.eventSummary.detail.runId === 'race-big-input');
    for (const l of mine) expect(l.eventCut).toMatch(/^the event is \d+ bytes as JSON, too large for an SQS message beside its reason, and no bucket is configured to keep it: /);
    // One per rule the event matches (a and b start on it), each with the reason.
    expect(mine).toHaveLength(plans.get('dia')!.triggers.filter((t) => patternMatches(t.activation, big)).length);
    expect(mine.length).toBeGreaterThan(0);
    for (const l of mine) expect(l.reason).toContain('the input of run "race-big-input" is 391 KB as JSON; the DynamoDB store keeps at most 350 KB');
  });

  it('collects a forEach once when its items report twice, out of order, and an item retries once', async () => {
    await deliver(runRequested('fan', 'race-fan'), 2);
    const [split] = invoked();
    await Promise.all([succeeded(split!, [1, 2, 3]), succeeded(split!, [1, 2, 3])]);
    await drain(2);
    const items = invoked();
    expect(steps(items)).toEqual(['sq[0]#1', 'sq[1]#1', 'sq[2]#1']);
    const [i0, i1, i2] = [...items].sort((a, b) => a.joinflow.item! - b.joinflow.item!);
    // Item 1 fails once; its failure record comes twice, and its timer message twice.
    await Promise.all([succeeded(i2!, 9), failed(i1!, 'flaky'), succeeded(i2!, 9), failed(i1!, 'flaky'), succeeded(i0!, 1)]);
    await drain(2);
    expect(invoked()).toEqual([]);
    const records = await timerRecords(1);
    expect(records).toHaveLength(1);
    later(5000);
    await Promise.all([timer({ Records: records }), timer({ Records: records })]);
    const again = invoked();
    expect(steps(again)).toEqual(['sq[1]#2']);
    await Promise.all([succeeded(again[0]!, 4), succeeded(again[0]!, 4)]);
    await drain(2);
    const total = invoked();
    expect(steps(total)).toEqual(['total#1']);
    expect(total[0]!['results']).toEqual({ sq: [1, 4, 9] });
    await succeeded(total[0]!, 14);
    await drain(2);
    expect((await readRunStatus(world.dynamo.client, TABLE, 'race-fan'))!.run).toMatchObject({ status: 'succeeded', output: { total: 14 } });
    expect(announced('Run Succeeded', 'race-fan')).toBe(1);
  });
});
