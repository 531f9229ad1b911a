/**
 * The DynamoDB TriggerStore on dynalite: the shared contract suite (fresh table per test), then
 * what only DynamoDB has — item sizes, the sharded layout, condition failures kept inside the
 * adapter, repair of an increment lost between marker and shard, BatchGetItem paging, the GSI.
 */
import { type AttributeValue, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { itemKey, runStatusOf, shardShare, sortKey } from '../../src/adapters/aws/dynamodb-keys.ts';
import { createDynamoDbStore, STATUS_INDEX, type DynamoDbStoreOptions } from '../../src/adapters/aws/dynamodb-store.ts';
import { carryOut, type EffectDeps } from '../../src/adapters/aws/effects.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { JoinflowError, UnreadableResultError } from '../../src/model/errors.ts';
import type { TriggerStore } from '../../src/ports.ts';
import { describeSizedJoinContract } from '../contract/sized-join.contract.ts';
import { describeTriggerStoreContract } from '../contract/trigger-store.contract.ts';
import { dynaliteForFile } from '../helpers/dynalite.ts';

const dynamo = dynaliteForFile();

function handle(): { client: typeof dynamo.client } {
  return { client: dynamo.client };
}

/** A store on a fresh table (dynalite keeps tables in memory; they go with the server). */
async function freshStore(options: Partial<DynamoDbStoreOptions> = {}): Promise<{ store: TriggerStore; table: string }> {
  const table = await dynamo.table('joinflow-test');
  return { store: createDynamoDbStore({ client: dynamo.client, table, ...options }), table };
}

describeTriggerStoreContract('dynamodb (dynalite)', async () => ({ store: (await freshStore()).store }), { fanIn: 5000 });
describeSizedJoinContract('dynamodb (dynalite)', async () => ({ store: (await freshStore()).store }));

/** Raw items of a run whose sort key starts with `prefix`. */
async function rawItems(table: string, runId: string, prefix: string) {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await handle().client.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': itemKey(runId, '').pk, ':p': { S: prefix } },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

async function rawItem(table: string, runId: string, sk: string) {
  return (await handle().client.send(new GetItemCommand({ TableName: table, Key: itemKey(runId, sk), ConsistentRead: true }))).Item;
}

async function arriveAll(store: TriggerStore, runId: string, trigger: string, ordinals: number[], need: number | undefined) {
  const states = [];
  for (let i = 0; i < ordinals.length; i += 50) {
    const batch = ordinals.slice(i, i + 50);
    states.push(...(await Promise.all(batch.map((o) => store.arrive(runId, trigger, `item-${o}`, need, o)))));
  }
  return states;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('DynamoDB store specifics', () => {
  it('a join item stays small: 1000 arrivals with ordinals are < 40 KB', async () => {
    const { store, table } = await freshStore();
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const states = await arriveAll(store, 'r', 'join', range(0, 1000), 1000);
    expect(states.filter((s) => s.count === 1000)).toHaveLength(1);
    const item = await rawItem(table, 'r', sortKey.join('join'));
    expect(item?.arrived?.NS).toHaveLength(1000);
    expect(item?.cnt?.N).toBe('1000');
    expect(JSON.stringify(item).length).toBeLessThan(40_000);
  });

  it('a sharded join writes one marker per arrival and 16 shard counters', { timeout: 120_000 }, async () => {
    const { store, table } = await freshStore();
    const need = 3000;
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const states = await arriveAll(store, 'r', 'collect', range(0, need).reverse(), need);
    expect(states.filter((s) => s.count >= need)).toHaveLength(1);
    const markers = await rawItems(table, 'r', 'TRIG#collect#A#');
    // Ordinals below the threshold (1000) live in the join item's set; the rest get markers.
    expect(markers).toHaveLength(need - 1000);
    expect(new Set(markers.map((m) => m.sk?.S)).size).toBe(need - 1000);
    const shards = await rawItems(table, 'r', 'TRIG#collect#S#');
    expect(shards.map((s) => s.sk?.S).sort()).toEqual(range(0, 16).map((s) => `TRIG#collect#S#${s}`).sort());
    for (const shard of shards) {
      const s = Number(shard.sk?.S?.split('#').pop());
      expect(Number(shard.cnt?.N)).toBe(shardShare(s, 16, 1000, need));
    }
    const join = await rawItem(table, 'r', sortKey.join('collect'));
    expect(join?.arrived?.NS).toHaveLength(1000);
    expect(join?.doneShards?.NS?.map(Number).sort((a, b) => a - b)).toEqual(range(0, 16));
    expect(join?.need?.N).toBe(String(need));
    expect(JSON.stringify(join).length).toBeLessThan(40_000);
    expect(markers.every((m) => JSON.stringify(m).length < 300)).toBe(true);
  });

  it('ConditionalCheckFailedException never escapes the adapter', async () => {
    const { client } = handle();
    const seen: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          seen.push((err as Error).name);
          throw err;
        }
      },
      { step: 'initialize', name: 'recordErrors' },
    );
    try {
      const { store } = await freshStore({ shardThreshold: 2 });
      expect((await store.startRun({ runId: 'r', workflow: 'wf', input: 1, startedAt: 1 })).created).toBe(true);
      expect((await store.startRun({ runId: 'r', workflow: 'wf', input: 1, startedAt: 1 })).created).toBe(false);
      expect(await store.arrive('r', 't', 'a', 4, 0)).toEqual({ fresh: true, count: 1, need: 4 });
      expect(await store.arrive('r', 't', 'a', 4, 0)).toEqual({ fresh: false, count: 1, need: 4 });
      // Sharded (ordinal >= threshold): the marker's conditional put fails for the duplicate.
      expect((await store.arrive('r', 't', 'c', 4, 2)).fresh).toBe(true);
      expect((await store.arrive('r', 't', 'c', 4, 2)).fresh).toBe(false);
      expect(await store.claim('r', 't', 10, 100)).toBe('won');
      expect(await store.claim('r', 't', 20, 100)).toBe('taken');
      await store.markDispatched('r', 't', 30);
      await store.markDispatched('r', 't', 40);
      await store.markDispatched('r', 'never-claimed', 40);
      await store.saveResult('r', 'k', 1);
      await store.saveResult('r', 'k', 2);
      expect(await store.getResults('r', ['k'])).toEqual(new Map([['k', 1]]));
      await store.release('r');
      expect(await store.finishRun('r', { status: 'succeeded', finishedAt: 50 })).toBe(true);
      expect(await store.finishRun('r', { status: 'failed', finishedAt: 60 })).toBe(false);
      const parallel = await Promise.all(range(0, 30).map(() => store.arrive('r', 'u', 'same', 2)));
      expect(parallel.filter((s) => s.fresh)).toHaveLength(1);
    } finally {
      client.middlewareStack.remove('recordErrors');
    }
    const conditionFailures = seen.filter((name) => name === 'ConditionalCheckFailedException').length;
    // Each duplicate above (and all but one of the 30 parallel arrivals) failed a condition inside.
    expect(conditionFailures).toBeGreaterThanOrEqual(9 + 29);
    expect(seen.filter((name) => name !== 'ConditionalCheckFailedException')).toEqual([]);
  });

  it('repairs an increment lost between marker and shard counter (need known)', async () => {
    const { store, table } = await freshStore({ shardThreshold: 10, shards: 4 });
    const need = 50;
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    // A processor wrote the marker of ordinal 37 and died before counting it.
    await handle().client.send(
      new PutItemCommand({ TableName: table, Item: { ...itemKey('r', sortKey.marker('t', 37 % 4, 37)), join: { S: 't' }, key: { S: 'item-37' } } }),
    );
    const states = await arriveAll(store, 'r', 't', range(0, need).filter((o) => o !== 37), need);
    expect(states.some((s) => s.count >= need)).toBe(false);
    // The event of ordinal 37 is redelivered: it is a duplicate, and it completes the join.
    expect(await store.arrive('r', 't', 'item-37', need, 37)).toEqual({ fresh: false, count: need, need });
    expect(await store.claim('r', 't', 1, 100)).toBe('won');
  });

  it('repairs a lost increment redelivered before the need was known', async () => {
    const { store, table } = await freshStore({ shardThreshold: 10, shards: 4 });
    const need = 50;
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    await handle().client.send(
      new PutItemCommand({ TableName: table, Item: { ...itemKey('r', sortKey.marker('t', 21 % 4, 21)), join: { S: 't' }, key: { S: 'item-21' } } }),
    );
    await arriveAll(store, 'r', 't', range(0, need).filter((o) => o !== 21), undefined);
    expect(await store.arrive('r', 't', 'item-21', undefined, 21)).toMatchObject({ fresh: false, need: undefined });
    expect(await store.setNeed('r', 't', need)).toEqual({ fresh: false, count: need, need });
  });

  for (const known of [true, false]) {
    it(`repairs a lost increment redelivered before the shard's other arrivals (need ${known ? 'known' : 'set first by a fan-out'})`, async () => {
      const { store, table } = await freshStore({ shardThreshold: 10, shards: 4 });
      const need = 50;
      await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
      if (!known) await store.setNeed('r', 't', need);
      const given = known ? need : undefined;
      // Ordinal 21's processor wrote its marker, and its increment was lost (throttled past the
      // SDK's retries); the event is redelivered at once, before the rest of its shard arrives.
      await handle().client.send(
        new PutItemCommand({ TableName: table, Item: { ...itemKey('r', sortKey.marker('t', 21 % 4, 21)), join: { S: 't' }, key: { S: 'item-21' } } }),
      );
      await arriveAll(store, 'r', 't', range(0, 21), given);
      expect(await store.arrive('r', 't', 'item-21', given, 21)).toMatchObject({ fresh: false });
      // The last arrival of the shard finds its counter one short, and the markers complete it.
      const states = await arriveAll(store, 'r', 't', range(22, need), given);
      expect(states.filter((st) => st.count >= need)).toHaveLength(1);
      expect(await store.claim('r', 't', 1, 100)).toBe('won');
    });
  }

  it('rejects a result over 350 KB with RESULT_TOO_LARGE and keeps nothing', async () => {
    const { store } = await freshStore();
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const err = await Promise.resolve(store.saveResult('r', 'big', 'x'.repeat(360 * 1024))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JoinflowError);
    expect((err as JoinflowError).code).toBe('RESULT_TOO_LARGE');
    expect((err as JoinflowError).message).toMatch(/result "big" of run "r" is 361 KB/);
    expect((await store.getResults('r', ['big'])).size).toBe(0);
  });

  it('claim-checks results and run outputs over the item budget into a blob store', async () => {
    const blobs = new Map<string, string>();
    const { store } = await freshStore({
      blobs: {
        put: async (key, body) => (blobs.set(`mem://${key}`, body), `mem://${key}`),
        get: async (ref) => blobs.get(ref) ?? Promise.reject(new Error(`no ${ref}`)),
      },
    });
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const big = { rows: Array.from({ length: 20_000 }, (_, i) => ({ i, label: `row-${i}` })) };
    await store.saveResult('r', 'big', big);
    await store.saveResult('r', 'small', { ok: true });
    const got = await store.getResults('r', ['big', 'small']);
    expect(got.get('big')).toEqual(big);
    expect(got.get('small')).toEqual({ ok: true });
    expect([...blobs.keys()]).toEqual([expect.stringMatching(/^mem:\/\/results\/r\/big\.[0-9a-f]{32}\.json$/)]);
    expect(await store.finishRun('r', { status: 'succeeded', finishedAt: 2, output: { big } })).toBe(true);
    expect((await store.getRun('r'))?.output).toEqual({ big });
    expect(blobs.size).toBe(2);
  });

  it('reads claim-checked results at once, in the keys\' order, and names the first unreadable one', async () => {
    const blobs = new Map<string, string>();
    const asked: string[] = [];
    let missing = new Set<string>();
    const { store } = await freshStore({
      blobs: {
        put: async (key, body) => (blobs.set(`mem://${key}`, body), `mem://${key}`),
        get: async (ref) => {
          asked.push(ref);
          // A missing object is answered at once, a read takes a while: the failure comes first.
          if ([...missing].some((k) => ref.startsWith(`mem://results/r/${k}.`))) throw new JoinflowError('BLOB_NOT_FOUND', `no ${ref}`);
          await new Promise((resolve) => setTimeout(resolve, 5));
          return blobs.get(ref)!;
        },
      },
    });
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const keys = Array.from({ length: 40 }, (_, i) => `f#${i}`);
    for (const [i, k] of keys.entries()) await store.saveResult('r', k, { i, pad: 'x'.repeat(360 * 1024) });
    const got = await store.getResults('r', [...keys].reverse());
    expect([...got.keys()]).toEqual([...keys].reverse());
    expect([...got.values()].map((v) => (v as { i: number }).i)).toEqual(keys.map((_, i) => 39 - i));

    // Items 30 and 3 gone: item 3 is named, the first of the keys; no read starts after item 3's failed (16 were in flight).
    missing = new Set(['f#30', 'f#3']);
    asked.length = 0;
    const err = await Promise.resolve(store.getResults('r', keys)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreadableResultError);
    expect((err as Error).message).toMatch(/^the result of step "f" \(item 3\) of run "r" is stored by reference at mem:\/\/results\/r\/f#3\./);
    expect(asked).toHaveLength(16);
  });

  it('runStatusOf reads a run\'s status, and translates SDK errors as the store does (it passed them through raw)', async () => {
    const { store, table } = await freshStore();
    await store.startRun({ runId: 'st', workflow: 'wf', input: null, startedAt: 1 });
    expect(await runStatusOf(dynamo.client, table, 'st')).toBe('running');
    await store.finishRun('st', { status: 'failed', finishedAt: 2, error: { type: 'E', message: 'm' } });
    expect(await runStatusOf(dynamo.client, table, 'st')).toBe('failed');
    expect(await runStatusOf(dynamo.client, table, 'nope')).toBeUndefined();
    const err = await runStatusOf(dynamo.client, 'joinflow-no-such-table', 'st').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JoinflowError);
    expect((err as JoinflowError).code).toBe('STORE_MISSING_TABLE');
    expect((err as JoinflowError).message).toMatch(/^DynamoDB GetItem on table "joinflow-no-such-table": table not found/);
  });

  it('keeps the first claim-checked result when a redelivered or duplicate execution completes with another output', async () => {
    const blobs = new Map<string, string>();
    const { store } = await freshStore({
      blobs: {
        // As S3 does: a put to an existing key replaces the object.
        put: async (key, body) => (blobs.set(`mem://${key}`, body), `mem://${key}`),
        get: async (ref) => blobs.get(ref) ?? Promise.reject(new Error(`no ${ref}`)),
      },
    });
    await store.startRun({ runId: 'dup', workflow: 'wf', input: null, startedAt: 1 });
    const first = { run: 1, rows: 'a'.repeat(400 * 1024) };
    const second = { run: 2, rows: 'b'.repeat(400 * 1024) };
    await store.saveResult('dup', 'big', first);
    // A step that ran twice (a dispatch redone after a lease, a repeated Batch job) reports again.
    await store.saveResult('dup', 'big', second);
    expect((await store.getResults('dup', ['big'])).get('big')).toEqual(first);
    // Two endings racing: the one that moved the run keeps its output.
    expect(await store.finishRun('dup', { status: 'succeeded', finishedAt: 2, output: first })).toBe(true);
    expect(await store.finishRun('dup', { status: 'succeeded', finishedAt: 3, output: second })).toBe(false);
    expect((await store.getRun('dup'))?.output).toEqual(first);
  });

  it('keeps a run\'s output beside its input within the 400 KB item: claim-checked, or refused by name without a blob store', async () => {
    const input = { text: 'i'.repeat(250 * 1024) };
    const output = { text: 'o'.repeat(200 * 1024) };
    const blobs = new Map<string, string>();
    const { store } = await freshStore({
      blobs: {
        put: async (key, body) => (blobs.set(`mem://${key}`, body), `mem://${key}`),
        get: async (ref) => blobs.get(ref) ?? Promise.reject(new Error(`no ${ref}`)),
      },
    });
    await store.startRun({ runId: 'big-io', workflow: 'wf', input, startedAt: 1 });
    // Each alone is under 350 KB; together they are over DynamoDB's 400 KB for one item.
    expect(await store.finishRun('big-io', { status: 'succeeded', finishedAt: 2, output })).toBe(true);
    expect(await store.getRun('big-io')).toMatchObject({ status: 'succeeded', input, output });
    expect([...blobs.keys()]).toEqual([expect.stringMatching(/^mem:\/\/results\/big-io\/\$output\.[0-9a-f]{32}\.json$/)]);

    const { store: bare } = await freshStore();
    await bare.startRun({ runId: 'big-io', workflow: 'wf', input, startedAt: 1 });
    const err = await Promise.resolve(bare.finishRun('big-io', { status: 'succeeded', finishedAt: 2, output })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RESULT_TOO_LARGE', message: expect.stringMatching(/the output of run "big-io" is 201 KB .*beside what its item already holds \(the run's input\), 99 KB are left/) });
  });

  it('fails a run whose error message would not fit beside its input: the message is cut, saying how much', async () => {
    const { store } = await freshStore();
    const input = { text: 'i'.repeat(150 * 1024) };
    await store.startRun({ runId: 'big-err', workflow: 'wf', input, startedAt: 1 });
    const message = 'm'.repeat(300 * 1024);
    expect(await store.finishRun('big-err', { status: 'failed', finishedAt: 2, error: { type: 'E', message, step: 's' } })).toBe(true);
    const run = await store.getRun('big-err');
    expect(run).toMatchObject({ status: 'failed', input, error: { type: 'E', step: 's' } });
    const cut = (run!.error as { message: string }).message;
    expect(cut).toMatch(/^m+\.\.\. \(\d+ more characters cut to fit the run's item\)$/);
    expect(cut.length).toBeGreaterThan(150 * 1024);
    expect(Number(/\((\d+) more/.exec(cut)![1]) + cut.indexOf('.')).toBe(message.length);
  });

  it('getResults pages through BatchGetItem limits (100 keys, 16 MB, UnprocessedKeys)', { timeout: 60_000 }, async () => {
    const { store } = await freshStore();
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const big = range(0, 8).map((i) => `${i}`.repeat(300 * 1024));
    await Promise.all(big.map((value, i) => store.saveResult('r', `big${i}`, value)));
    const small = range(0, 250).map((i) => `s${i}`);
    await Promise.all(small.map((key, i) => store.saveResult('r', key, { i })));
    const keys = [...big.map((_, i) => `big${i}`), ...small, 'missing', 's0'];
    const { client } = handle();
    const requested: number[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { RequestItems?: Record<string, { Keys: unknown[] }> };
        if (context.commandName === 'BatchGetItemCommand') requested.push(Object.values(input.RequestItems ?? {})[0]?.Keys.length ?? 0);
        return next(args);
      },
      { step: 'initialize', name: 'countBatchGets' },
    );
    const found = await Promise.resolve(store.getResults('r', keys)).finally(() => client.middlewareStack.remove('countBatchGets'));
    // 259 distinct keys: three calls of at most 100, then retries of what did not fit in a response.
    expect(requested.slice(0, 3).sort((a, b) => a - b)).toEqual([59, 100, 100]);
    expect(requested.length).toBeGreaterThan(3);
    expect(requested.every((k) => k <= 100)).toBe(true);
    expect(found.size).toBe(8 + 250);
    big.forEach((value, i) => expect(found.get(`big${i}`)).toBe(value));
    small.forEach((key, i) => expect(found.get(key)).toEqual({ i }));
  });

  it('finished runs are listed by the byWorkflowStatus index and carry a TTL', async () => {
    const { store, table } = await freshStore();
    await store.startRun({ runId: 'a', workflow: 'wf', input: null, startedAt: 10 });
    await store.startRun({ runId: 'b', workflow: 'wf', input: null, startedAt: 20 });
    await store.finishRun('b', { status: 'succeeded', finishedAt: 30, output: 'done' });
    const list = async (status: string) =>
      (
        await handle().client.send(
          new QueryCommand({
            TableName: table,
            IndexName: STATUS_INDEX,
            KeyConditionExpression: 'workflowStatus = :ws',
            ExpressionAttributeValues: { ':ws': { S: `wf#${status}` } },
          }),
        )
      ).Items?.map((i) => i.runId?.S);
    expect(await list('running')).toEqual(['a']);
    expect(await list('succeeded')).toEqual(['b']);
    const meta = await rawItem(table, 'b', sortKey.meta);
    const expiresAt = Number(meta?.expiresAt?.N);
    expect(expiresAt).toBeGreaterThan(Date.now() / 1000 + 29 * 86_400);
    expect(expiresAt).toBeLessThan(Date.now() / 1000 + 31 * 86_400);
    expect((await rawItem(table, 'a', sortKey.meta))?.expiresAt).toBeUndefined();
  });
});

describe('a run announces one ending (carryOut of finish-run on DynamoDB)', () => {
  const announced = async (store: TriggerStore, status: 'succeeded' | 'failed') => {
    const published: EventEnvelope[] = [];
    const event: EventEnvelope = { id: `e-${status}`, source: 'joinflow', 'detail-type': status === 'succeeded' ? 'Run Succeeded' : 'Run Failed', time: '2026-01-01T00:00:00.000Z', detail: { workflow: 'w', runId: 'r' } };
    const deps = { store, bus: { publish: async (e: EventEnvelope[]) => void published.push(...e), subscribe: () => () => {} }, sqs: {} as EffectDeps['sqs'], dispatch: async () => {}, timerQueueUrl: undefined, dlqUrl: undefined, now: () => 2, newId: () => 'id' };
    await carryOut([{ type: 'finish-run', runId: 'r', update: { status, finishedAt: 2 }, events: [event] }], deps);
    return published.map((e) => e['detail-type']);
  };

  it('announces the ending that moves the run, again when the run already ended so, never one another ending beat', async () => {
    const { store } = await freshStore();
    await store.startRun({ runId: 'r', workflow: 'w', input: null, startedAt: 1 });
    expect(await announced(store, 'succeeded')).toEqual(['Run Succeeded']);
    // A redelivery after a crash between the two: announced again (at least once).
    expect(await announced(store, 'succeeded')).toEqual(['Run Succeeded']);
    // A failure of a duplicate execution, processed after: the run succeeded, and says only that.
    expect(await announced(store, 'failed')).toEqual([]);
    // Cancelled first (joinflow cancel): a success that comes after is not announced.
    const other = (await freshStore()).store;
    await other.startRun({ runId: 'r', workflow: 'w', input: null, startedAt: 1 });
    await other.finishRun('r', { status: 'cancelled', finishedAt: 2 });
    expect(await announced(other, 'succeeded')).toEqual([]);
    expect((await other.getRun('r'))?.status).toBe('cancelled');
  });
});
