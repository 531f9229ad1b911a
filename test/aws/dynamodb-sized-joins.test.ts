/**
 * A forEach's collect join on DynamoDB (dynalite) counts its own items only: an item beyond the
 * fan-out's width (a duplicated, forged or misrouted Step Completed) is refused by a conditional
 * write when the width is known, on the join item and on the shards and markers of a wide
 * fan-out; one that came before the width was known is left out of the count when it comes. The
 * unsharded cases are in the sized-join contract (sized-join.contract.ts, run on every store).
 */
import { type AttributeValue, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { itemKey, sortKey } from '../../src/adapters/aws/dynamodb-keys.ts';
import { createDynamoDbStore } from '../../src/adapters/aws/dynamodb-store.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import type { Effect } from '../../src/runtime/effects.ts';
import type { JoinState, TriggerStore } from '../../src/ports.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';
import { drive, event, type Behaviour } from '../helpers/driver.ts';
import { dynaliteForFile } from '../helpers/dynalite.ts';
import { fanoutDef, plan } from '../helpers/plans.ts';

const dynamo = dynaliteForFile();

/** A store on a fresh table; sharded from ordinal 4 on, in `shards` counters. */
async function freshStore(shards = 2): Promise<{ store: TriggerStore; table: string }> {
  const table = await dynamo.table('joinflow-sized');
  const store = createDynamoDbStore({ client: dynamo.client, table, shardThreshold: 4, shards });
  await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
  return { store, table };
}

const item = (store: TriggerStore, ordinal: number) => store.arrive('r', 'c', String(ordinal), undefined, ordinal);
const complete = (s: JoinState) => s.need !== undefined && s.count >= s.need && !s.refused;

/** The marker items of join `c` of run `r`, by ordinal. */
async function markerOrdinals(table: string): Promise<number[]> {
  const out = await dynamo.client.send(new QueryCommand({
    TableName: table,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': itemKey('r', '').pk, ':p': { S: 'TRIG#c#A#' } },
    ConsistentRead: true,
  }));
  return ((out.Items ?? []) as Record<string, AttributeValue>[]).map((i) => Number(i.ord!.N)).sort((a, b) => a - b);
}

describe('DynamoDB store: a sized join (a forEach\'s collect) counts its own items only', () => {
  it('refuses a sharded item beyond the width; its marker stays and is never counted, even by a repair', async () => {
    const { store, table } = await freshStore();
    expect(await store.setNeed('r', 'c', 10)).toEqual({ fresh: false, count: 0, need: 10 });
    // Shard 0 gets 4, 6, 8 of the width; 8's processor wrote its marker and died before counting it.
    await dynamo.client.send(new PutItemCommand({ TableName: table, Item: { ...itemKey('r', sortKey.marker('c', 0, 8)), join: { S: 'c' }, key: { S: '8' }, ord: { N: '8' } } }));
    const states = await Promise.all([0, 1, 2, 3, 4, 5, 7, 9].map((o) => item(store, o)));
    expect(states.some(complete)).toBe(false);
    // Items 12 and 10 (shard 0) and 11 (shard 1) are beyond the width of 10.
    for (const o of [12, 10, 11, 12]) expect(await item(store, o)).toMatchObject({ fresh: false, need: 10, refused: true });
    // 8 redelivered: shard 0's markers are 4, 8 and 12, but 12 is beyond: 6 is still missing.
    expect(complete(await item(store, 8))).toBe(false);
    expect(await markerOrdinals(table)).toEqual([4, 5, 7, 8, 9, 10, 11, 12]);
    const last = await item(store, 6);
    expect(last).toMatchObject({ fresh: true, count: 10, need: 10 });
    expect(await store.claim('r', 'c', 1, 100)).toBe('won');
  });

  it('leaves out a sharded item that came before the width and is beyond it', async () => {
    const { store } = await freshStore();
    // Before the fan-out's width is recorded: the first four items, 5, and 12 (beyond, in 4's and 6's shard).
    const early = await Promise.all([0, 1, 2, 3, 5, 12, 4].map((o) => item(store, o)));
    expect(early.every((s) => s.fresh && s.need === undefined)).toBe(true);
    // Width 7: shard 0 holds 4 and 12, its share is 4 and 6; counting 12 would complete the join.
    expect(complete(await store.setNeed('r', 'c', 7))).toBe(false);
    expect(await item(store, 12)).toMatchObject({ refused: true, need: 7 });
    expect(await item(store, 6)).toMatchObject({ fresh: true, count: 7, need: 7 });
  });

  it('refuses an item beyond the width on a shard that no item of the width falls in', async () => {
    const { store } = await freshStore(4);
    // 14 (shard 2) comes early; the width is 6, so shards 2 and 3 get no item of it, and no need.
    expect(await item(store, 14)).toMatchObject({ fresh: true, need: undefined });
    expect(await store.setNeed('r', 'c', 6)).toEqual({ fresh: false, count: 0, need: 6 });
    expect(await item(store, 14)).toMatchObject({ fresh: false, need: 6, refused: true });
    expect(await item(store, 7)).toMatchObject({ fresh: false, need: 6, refused: true });
    const states = await Promise.all([0, 1, 2, 3, 4].map((o) => item(store, o)));
    expect(states.some(complete)).toBe(false);
    expect(complete(await item(store, 5))).toBe(true);
  });
});

describe('the trigger processor on DynamoDB: an item beyond a forEach\'s width', () => {
  const ref = { workflow: 'fan', runId: 'p' };
  const completed = (step: string, extra: Record<string, unknown>) => event(DetailType.StepCompleted, { ...ref, step, attempt: 1, ...extra });
  const published = (effects: Effect[]): EventEnvelope[] => effects.flatMap((e) => (e.type === 'publish' ? e.events : []));

  async function processor() {
    const table = await dynamo.table('joinflow-sized');
    const p = new TriggerProcessor({ store: createDynamoDbStore({ client: dynamo.client, table }), clock: { now: () => 0 }, newId: () => 'x' });
    p.register(plan(fanoutDef));
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 3 } }));
    return p;
  }

  it('is dead-lettered with the reason, and the collect waits for the fan-out\'s own items', async () => {
    const p = await processor();
    await p.process(completed('split', { output: [1, 2, 3] }));
    await p.process(completed('square', { item: 0, output: 1 }));
    await p.process(completed('square', { item: 1, output: 4 }));
    // Item 7 of 3 (delivered twice) would be the third arrival: it is dead-lettered instead.
    for (let i = 0; i < 2; i++) {
      expect(await p.process(completed('square', { item: 7, output: 'forged' }))).toEqual([{
        type: 'dead-letter',
        event: expect.objectContaining({ detail: expect.objectContaining({ item: 7 }) }),
        reason: 'invalid Step Completed detail: item: step "square" of run "p" has 3 items (its forEach\'s width), so there is no item 7',
      }]);
    }
    const collected = published(await p.process(completed('square', { item: 2, output: 9 })));
    expect(collected.map((e) => e.detail)).toEqual([{ ...ref, step: 'square', attempt: 1, items: 3, output: [1, 4, 9] }]);
  });

  it('that came before the width was known does not complete the collect when the width comes', async () => {
    const p = await processor();
    // Items 7 and 0 complete before split's completion is seen (reordered delivery).
    expect(await p.process(completed('square', { item: 7, output: 'forged' }))).toEqual([]);
    expect(await p.process(completed('square', { item: 0, output: 1 }))).toEqual([]);
    expect(published(await p.process(completed('split', { output: [1, 2] }))).map((e) => e['detail-type'])).toEqual([]);
    expect((await p.process(completed('square', { item: 7, output: 'forged' })))[0]).toMatchObject({ type: 'dead-letter' });
    const collected = published(await p.process(completed('square', { item: 1, output: 4 })));
    expect(collected.map((e) => e.detail)).toEqual([{ ...ref, step: 'square', attempt: 1, items: 2, output: [1, 4] }]);
  });
});

describe('the trigger processor on DynamoDB: a forEach with maxConcurrency', () => {
  /** split -> square (a forEach over split's 10 items, in `n` lanes) -> sum. */
  const lanes = (n: number): WorkflowInput => ({
    name: 'lanes',
    steps: {
      split: { executor: { type: 'simulate', durationMs: 0 } },
      square: { needs: ['split'], forEach: { step: 'split', maxConcurrency: n }, executor: { type: 'simulate', durationMs: 0 } },
      sum: { needs: ['square'], executor: { type: 'simulate', durationMs: 0 } },
    },
    output: 'sum',
  });
  const outputs: Behaviour = (task) => ({ output: task.step === 'split' ? Array.from({ length: 10 }, (_, i) => i) : task.step === 'square' ? (task.event.item as number) ** 2 : 'summed' });

  it('releases the items after the shard threshold too: each release is a one-shot counter of its own, not an arrival of a wide join', async () => {
    const { store } = await freshStore();
    // Items 4 and on have ordinals at or past the threshold of 4: their releases must still fire.
    const r = (await drive([plan(lanes(2))], [{ workflow: 'lanes', runId: 'w', input: null }], outputs, { store, maxCopies: 2, window: 4, seed: 3 })).get('w')!;
    expect([r.status, r.deadLetters]).toEqual([DetailType.RunSucceeded, []]);
    expect([...r.executions.keys()].filter((k) => k.startsWith('square#')).length).toBe(10);
    expect(r.widest.get('square')).toBe(2);
  });
});
