/**
 * How long the DynamoDB store keeps a run's items (README: "How long the table keeps a run"), read
 * back from the items dynalite holds: a finished run's record 30 days; every working item — join,
 * shard and marker items, results, Batch job notes — 30 days plus the longest its run can wait by
 * its plan, from its first write, so that a run that waits a year still finds its state.
 * The clock is frozen (Date only), so every expiry is exact.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createJobBook } from '../../src/adapters/aws/batch-jobs.ts';
import { itemKey } from '../../src/adapters/aws/dynamodb-keys.ts';
import { createDynamoDbStore, type DynamoDbStoreOptions } from '../../src/adapters/aws/dynamodb-store.ts';
import { createRetention } from '../../src/adapters/aws/retention.ts';
import { DetailType } from '../../src/model/events.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';
import { event } from '../helpers/driver.ts';
import { dynaliteForFile } from '../helpers/dynalite.ts';
import { plan } from '../helpers/plans.ts';

const NOW = Date.UTC(2030, 0, 1);
const DAY_S = 86_400;
const YEAR_MS = 31_536_000_000;
const sim = { type: 'simulate', durationMs: 0 } as const;

/** split -> wait (a year after split) -> square (forEach over split) -> sum. */
const slow: TriggerPlan = plan({
  name: 'slow',
  steps: {
    split: { executor: sim },
    wait: { needs: ['split'], delayMs: YEAR_MS, executor: sim },
    square: { needs: ['wait', 'split'], forEach: 'split', executor: sim },
    sum: { needs: ['square'], executor: sim },
  },
  output: 'sum',
});
/** One step, no delays, retries or time-outs. */
const quick: TriggerPlan = plan({ name: 'quick', steps: { only: { executor: sim } } });

const dynamo = dynaliteForFile();
beforeEach(() => {
  // Date alone: dynalite's sockets and the SDK's timers keep running.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

async function freshStore(options: Partial<DynamoDbStoreOptions> = {}) {
  const table = await dynamo.table('joinflow-retention');
  const store = createDynamoDbStore({ client: dynamo.client, table, plans: [slow, quick], shardThreshold: 4, shards: 2, ...options });
  return { store, table };
}

/** `expiresAt` of every item of a run, by sort key. */
async function expiries(table: string, runId: string): Promise<Record<string, number | undefined>> {
  const out = await dynamo.client.send(new QueryCommand({
    TableName: table,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': itemKey(runId, '').pk },
    ConsistentRead: true,
  }));
  const items = (out.Items ?? []) as Record<string, AttributeValue>[];
  return Object.fromEntries(items.map((i) => [i.sk!.S!, i.expiresAt?.N === undefined ? undefined : Number(i.expiresAt.N)]));
}

const at = (seconds: number) => Math.floor(NOW / 1000) + seconds;

describe('DynamoDB store: expiry of a run\'s items', () => {
  it('keeps every working item of a run that waits a year for 30 days plus that year; its record gets 30 days once it ends', async () => {
    const { store, table } = await freshStore();
    await store.startRun({ runId: 'r', workflow: 'slow', input: null, startedAt: NOW });
    // A join item, a sized join with a marker and a shard counter (ordinal 5 >= threshold 4), a claim, a result.
    await store.arrive('r', 'sum', 'square', 1, 0);
    await store.arrive('r', '$collect:square', '5', undefined, 5);
    await store.setNeed('r', '$collect:square', 8);
    await store.claim('r', 'sum', NOW, 30_000);
    await store.saveResult('r', 'split', [1, 2, 3]);
    const kept = at(30 * DAY_S + YEAR_MS / 1000);
    expect(await expiries(table, 'r')).toEqual({
      META: undefined,
      'RES#split': kept,
      'TRIG#$collect:square': kept,
      'TRIG#$collect:square#A#1#5': kept,
      'TRIG#$collect:square#S#0': kept,
      'TRIG#$collect:square#S#1': kept,
      'TRIG#sum': kept,
    });
    // Ten days later the run ends: its record is kept 30 days from then; the working items keep their expiry.
    vi.setSystemTime(NOW + 10 * DAY_S * 1000);
    expect(await store.finishRun('r', { status: 'succeeded', finishedAt: NOW, output: 1 })).toBe(true);
    await store.release('r');
    const after = await expiries(table, 'r');
    expect(after['META']).toBe(at(40 * DAY_S));
    expect(after['RES#split']).toBe(kept);
  });

  it('keeps a run without waits 30 days, as before; a run the store never read gets the longest wait of the plans', async () => {
    const { store, table } = await freshStore();
    await store.startRun({ runId: 'q', workflow: 'quick', input: null, startedAt: NOW });
    await store.saveResult('q', 'only', 1);
    expect((await expiries(table, 'q'))['RES#only']).toBe(at(30 * DAY_S));
    // Another store on the same table (another Lambda container) that has not read run "q".
    const other = createDynamoDbStore({ client: dynamo.client, table, plans: [slow, quick] });
    await other.saveResult('q', 'late', 2);
    expect((await expiries(table, 'q'))['RES#late']).toBe(at(30 * DAY_S + YEAR_MS / 1000));
    // Read first, as the processor does: its own plan's expiry.
    await other.getRun('q');
    await other.saveResult('q', 'later', 3);
    expect((await expiries(table, 'q'))['RES#later']).toBe(at(30 * DAY_S));
    // Its status read alone (as the timer reads it before it claims an attempt) tells the workflow too.
    const timer = createDynamoDbStore({ client: dynamo.client, table, plans: [slow, quick] });
    expect(await timer.runStatus('q')).toBe('running');
    await timer.claim('q', '$timer:only##2', NOW, 1_000);
    expect((await expiries(table, 'q'))['TRIG#$timer:only##2']).toBe(at(30 * DAY_S));
  });

  it('gives the items the processor writes for a run the expiry of the run\'s plan', async () => {
    const { store, table } = await freshStore();
    const p = new TriggerProcessor({ store, clock: { now: () => NOW }, newId: () => 'x' });
    p.register(slow);
    const ref = { workflow: 'slow', runId: 'p' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: [1, 2] }));
    const { META, ...working } = await expiries(table, 'p');
    expect(META).toBeUndefined();
    // split's result and the joins of split, wait and square (which needs split too).
    expect(working).toEqual(Object.fromEntries(['RES#split', 'TRIG#split', 'TRIG#square', 'TRIG#wait'].map((sk) => [sk, at(30 * DAY_S + YEAR_MS / 1000)])));
  });

  it('gives a Batch job\'s note the expiry of its run\'s other working items', async () => {
    const { table } = await freshStore();
    const book = createJobBook(dynamo.client, table, createRetention({ plans: [slow, quick] }));
    await book.submitting({ runId: 'j', workflow: 'slow', step: 'square', item: 0, attempt: 1 }, { name: 'n', queue: 'q' }, NOW);
    await book.submitted({ runId: 'j', workflow: 'quick', step: 'only', attempt: 1 }, 'job-1', NOW);
    expect(await expiries(table, 'j')).toEqual({ 'JOB#square#0#1': at(30 * DAY_S + YEAR_MS / 1000), 'JOB#only##1': at(30 * DAY_S) });
  });

  it('counts ttlDays as the least a working item is kept and as a finished run\'s retention', async () => {
    const { store, table } = await freshStore({ ttlDays: 7 });
    await store.startRun({ runId: 't', workflow: 'quick', input: null, startedAt: NOW });
    await store.saveResult('t', 'only', 1);
    await store.finishRun('t', { status: 'failed', finishedAt: NOW, error: { type: 'E', message: 'no' } });
    expect(await expiries(table, 't')).toEqual({ META: at(7 * DAY_S), 'RES#only': at(7 * DAY_S) });
  });
});
