/**
 * A step result kept by reference (over 350 KB: an S3 claim check) that is gone or damaged when
 * the processor needs it: the event is dead-lettered at once with a reason naming the run, the
 * step and the object, nothing of the fire is carried out (no dispatch, no acknowledgement), and
 * the other triggers the same event fired keep their effects; the event put again once the
 * object is back fires the trigger, once. DynamoDB on dynalite, S3 on s3rver, the events DLQ on
 * fauxqs; EventBridge and Lambda (no emulators) through aws-sdk-client-mock. The lease is judged
 * on Date.now, which the tests move forward instead of waiting.
 */
import { randomUUID } from 'node:crypto';
import { SubmitJobCommand } from '@aws-sdk/client-batch';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { TaskMeta } from '../../src/adapters/aws/dispatch.ts';
import { handler as processor } from '../../src/adapters/aws/handlers/processor.ts';
import { fn, handlersOnEmulators, job, large, type Envelope } from '../helpers/handler-emulators.ts';

const workflows = [
  // c joins a and b (a Batch job: a's result is too large for a Lambda event); y needs b alone: b's completion fires both.
  { name: 'dia', steps: { a: { executor: fn('a') }, b: { executor: fn('b') }, c: { executor: job, needs: ['a', 'b'] }, y: { executor: fn('y'), needs: ['b'] } } },
  // sq, a forEach over split's result, waits for other too.
  { name: 'fan', steps: { split: { executor: fn('split') }, other: { executor: fn('other') }, sq: { executor: fn('sq'), needs: ['split', 'other'], forEach: { step: 'split' } } } },
];

const world = handlersOnEmulators({ name: 'unreadable', workflows, jobDefinitions: { 'dia/c': 'joinflow-test-jd-c' } });
const { lambda, batch, publishedTypes, pastTheLease } = world;

const runRequested = (workflow: string, runId: string): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow, runId, input: {} } });
const completed = (workflow: string, runId: string, step: string, output: unknown): Envelope => ({ id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Completed', time: new Date().toISOString(), detail: { workflow, runId, step, attempt: 1, output } });

/** The steps invoked (Lambda) or submitted (Batch) since the test began, as `step[item]`. */
const invoked = () => [
  ...lambda.commandCalls(InvokeCommand)
    .map((c) => (JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as { joinflow: TaskMeta }).joinflow)
    .map((m) => `${m.step}${m.item === undefined ? '' : `[${m.item}]`}`),
  ...batch.commandCalls(SubmitJobCommand).map((c) => c.args[0].input.containerOverrides?.environment?.find((e) => e.name === 'JOINFLOW_STEP')?.value),
].sort();
/** The events DLQ's messages, read off it. */
const deadLetters = () => world.deadLetters<{ reason: string; event: Envelope }>();

/** The object the store claim-checked a result into (`joinflow/results/<run>/<step>.<digest>.json`): its key and body. */
async function resultObject(runId: string, step: string): Promise<{ key: string; body: string }> {
  const listed = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `joinflow/results/${runId}/${step}.` }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!);
  expect(keys).toHaveLength(1);
  const body = await (await world.s3.client.send(new GetObjectCommand({ Bucket: world.s3.bucket, Key: keys[0]! }))).Body!.transformToString();
  return { key: keys[0]!, body };
}

describe('a result kept by reference that the processor cannot read', () => {
  it('dead-letters the fire at once, naming the run, the step and the object, dispatches nothing of it, and fires it once when the event comes again after the object is back', async () => {
    const runId = 'unreadable-join';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    expect(invoked()).toEqual(['a', 'b']);
    await processor({ trigger: 'dia/c', event: completed('dia', runId, 'a', large('A')) });
    const object = await resultObject(runId, 'a');
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: object.key }));
    const events = publishedTypes().length;

    const joined = completed('dia', runId, 'b', { b: 1 });
    await expect(processor({ trigger: 'dia/c', event: joined })).resolves.toEqual({ effects: 1 });
    const [letter, ...more] = await deadLetters();
    expect(more).toEqual([]);
    expect(letter!.event.id).toBe(joined.id);
    expect(letter!.reason).toBe(
      `trigger "c" of run "${runId}" (workflow "dia") did not fire: the result of step "a" of run "${runId}" is stored by reference at s3://${world.s3.bucket}/${object.key}, ` +
        'and that object does not exist (deleted by the bucket\'s lifecycle rule, custom.joinflow.claimCheckDays, or by hand?). ' +
        'Nothing of it was carried out: restore the object and put this event again, or cancel the run',
    );
    // Nothing of the fire: no invocation of c, no event.
    expect(invoked()).toEqual(['a', 'b']);
    expect(publishedTypes()).toHaveLength(events);

    // The object back, the event put again after the lease: c runs, once, with a's result.
    await world.s3.client.send(new PutObjectCommand({ Bucket: world.s3.bucket, Key: object.key, Body: object.body }));
    pastTheLease();
    await processor({ trigger: 'dia/c', event: { ...joined, id: randomUUID() } });
    await processor({ trigger: 'dia/c', event: { ...joined, id: randomUUID() } });
    expect(invoked()).toEqual(['a', 'b', 'c']);
    // Its event, too large for the job's environment, is in the bucket.
    const uri = batch.commandCalls(SubmitJobCommand)[0]!.args[0].input.containerOverrides!.environment!.find((e) => e.name === 'JOINFLOW_EVENT_URI')!.value!;
    const event = await (await world.s3.client.send(new GetObjectCommand({ Bucket: world.s3.bucket, Key: uri.slice(`s3://${world.s3.bucket}/`.length) }))).Body!.transformToString();
    expect((JSON.parse(event) as { results: unknown }).results).toEqual({ a: large('A'), b: { b: 1 } });
    expect(await deadLetters()).toEqual([]);
  });

  it('keeps the effects of the other triggers the event fired (a rule grouped per workflow): only the fire that needs the object is dead-lettered', async () => {
    const runId = 'unreadable-grouped';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    await processor({ workflow: 'dia', event: completed('dia', runId, 'a', large('A')) });
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: (await resultObject(runId, 'a')).key }));
    lambda.resetHistory();

    await expect(processor({ workflow: 'dia', event: completed('dia', runId, 'b', { b: 1 }) })).resolves.toEqual({ effects: 3 });
    // y (needs b alone) is dispatched; c (needs a, whose object is gone) is not.
    expect(invoked()).toEqual(['y']);
    const letters = await deadLetters();
    expect(letters.map((l) => l.reason.slice(0, l.reason.indexOf(':')))).toEqual([`trigger "c" of run "${runId}" (workflow "dia") did not fire`]);
    expect(letters[0]!.reason).toContain(`the result of step "a" of run "${runId}" is stored by reference at s3://${world.s3.bucket}/joinflow/results/${runId}/a.`);
  });

  it('dispatches no item of a forEach whose list is a damaged object, naming it as not JSON', async () => {
    const runId = 'unreadable-fan';
    await processor({ workflow: 'fan', event: runRequested('fan', runId) });
    const items = Array.from({ length: 4 }, (_, i) => ({ i, pad: 'y'.repeat(100 * 1024) }));
    await processor({ workflow: 'fan', event: completed('fan', runId, 'split', items) });
    const object = await resultObject(runId, 'split');
    await world.s3.client.send(new PutObjectCommand({ Bucket: world.s3.bucket, Key: object.key, Body: object.body.slice(0, 1000) }));
    lambda.resetHistory();

    await expect(processor({ trigger: 'fan/sq', event: completed('fan', runId, 'other', 'ready') })).resolves.toEqual({ effects: 1 });
    expect(invoked()).toEqual([]);
    const letters = await deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(new RegExp(`^trigger "sq" of run "${runId}" \\(workflow "fan"\\) did not fire: the result of step "split" of run "${runId}" is stored by reference at s3://${world.s3.bucket}/joinflow/results/${runId}/split\\.[0-9a-f]{32}\\.json, and that object is not JSON \\(`));
  });

  it('drops a Step Failed of a step that has its result without reading the result (its object gone here): a duplicate execution\'s failure', async () => {
    const runId = 'unreadable-failed';
    await processor({ workflow: 'dia', event: runRequested('dia', runId) });
    await processor({ workflow: 'dia', event: completed('dia', runId, 'a', large('A')) });
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: (await resultObject(runId, 'a')).key }));
    const events = publishedTypes().length;
    const failed = { id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Failed', time: new Date().toISOString(), detail: { workflow: 'dia', runId, step: 'a', attempt: 1, error: { type: 'Error', message: 'a duplicate execution failed' }, retrying: false } };

    await expect(processor({ trigger: 'dia/$fail', event: failed })).resolves.toEqual({ effects: 0 });
    expect(publishedTypes()).toHaveLength(events);
    expect(await deadLetters()).toEqual([]);
  });

  it('dead-letters a Step Failed of a forEach item checked against the list it fans out over, whose object is gone, before any trigger, naming the step and the object', async () => {
    const runId = 'unreadable-item-failed';
    await processor({ workflow: 'fan', event: runRequested('fan', runId) });
    await processor({ workflow: 'fan', event: completed('fan', runId, 'split', Array.from({ length: 4 }, (_, i) => ({ i, pad: 'y'.repeat(100 * 1024) }))) });
    const object = await resultObject(runId, 'split');
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.s3.bucket, Key: object.key }));
    const events = publishedTypes().length;
    const failed = { id: randomUUID(), source: 'joinflow', 'detail-type': 'Step Failed', time: new Date().toISOString(), detail: { workflow: 'fan', runId, step: 'sq', item: 0, attempt: 1, error: { type: 'Error', message: 'item 0 failed' }, retrying: false } };

    await expect(processor({ workflow: 'fan', event: failed })).resolves.toEqual({ effects: 0 });
    expect(publishedTypes()).toHaveLength(events);
    expect(await deadLetters()).toEqual([{
      reason: `the result of step "split" of run "${runId}" is stored by reference at s3://${world.s3.bucket}/${object.key}, and that object does not exist (deleted by the bucket's lifecycle rule, custom.joinflow.claimCheckDays, or by hand?)`,
      event: failed,
    }]);
  });
});
