/**
 * The TriggerStore contract: one suite every store (memory, SQLite, DynamoDB) must pass, so the
 * join semantics of DESIGN.md cannot drift between adapters. A store file calls
 * `describeTriggerStoreContract(name, make)` with a factory returning a fresh, empty store.
 */
import { describe, expect, it } from 'vitest';
import type { JoinState, RunRecord, TriggerStore } from '../../src/ports.ts';
import { rng } from '../helpers/driver.ts';

/** Makes a fresh, empty store (and a way to dispose of it). */
export type StoreFactory = () => Promise<{ store: TriggerStore; close?: () => Promise<void> }>;

/** Options of the contract suite. */
export type ContractOptions = {
  /** Width of the large fan-in case (arrivals into one join); default 5000. */
  fanIn?: number;
  /** Timeout of the large fan-in cases; default 120 s. */
  fanInTimeoutMs?: number;
};

const BATCH = 50;


function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Ordinals 0..n-1 in a shuffled order with ~`dupRate` of them sent twice. The last batch holds
 * only arrivals sent once, so every duplicate is settled before the join can complete and
 * exactly one call can observe completion.
 */
function arrivalOrder(n: number, dupRate: number, seed: number): number[] {
  const random = rng(seed);
  const order = shuffle(Array.from({ length: n }, (_, i) => i), random);
  const tail = order.splice(Math.max(0, n - BATCH));
  const dups = order.length === 0 ? [] : Array.from({ length: Math.round(n * dupRate) }, () => order[Math.floor(random() * order.length)]!);
  return [...shuffle([...order, ...dups], random), ...tail];
}

/** Sends arrivals in parallel batches; returns every call's answer in sending order. */
async function arriveInBatches(
  store: TriggerStore,
  runId: string,
  trigger: string,
  ordinals: number[],
  need: number | undefined,
): Promise<{ ordinal: number; state: JoinState }[]> {
  const out: { ordinal: number; state: JoinState }[] = [];
  for (let i = 0; i < ordinals.length; i += BATCH) {
    const batch = ordinals.slice(i, i + BATCH);
    const states = await Promise.all(batch.map((o) => store.arrive(runId, trigger, `item-${o}`, need, o)));
    states.forEach((state, k) => out.push({ ordinal: batch[k]!, state }));
  }
  return out;
}

const completes = (s: JoinState) => s.need !== undefined && s.count >= s.need;

/** Registers the TriggerStore contract suite for one store. */
export function describeTriggerStoreContract(name: string, make: StoreFactory, options: ContractOptions = {}): void {
  const fanIn = options.fanIn ?? 5000;
  const fanInTimeout = options.fanInTimeoutMs ?? 120_000;
  // The need-unknown cases only need to cross a sharding threshold, not to be as wide.
  const dynamicFanIn = Math.min(fanIn, 2500);

  async function using(fn: (store: TriggerStore) => Promise<void>): Promise<void> {
    const { store, close } = await make();
    try {
      await fn(store);
    } finally {
      await close?.();
    }
  }

  const start = (store: TriggerStore, runId: string, input: unknown = { x: 1 }) =>
    store.startRun({ runId, workflow: 'wf', input, startedAt: 1_000 });

  describe(`TriggerStore contract: ${name}`, () => {
    describe('runs', () => {
      it('startRun creates a run once and then returns the stored record', () =>
        using(async (store) => {
          const input = { list: [1, 'two', null], nested: { ok: true } };
          const first = await start(store, 'r1', input);
          const expected: RunRecord = { runId: 'r1', workflow: 'wf', status: 'running', input, startedAt: 1_000 };
          expect(first).toEqual({ created: true, run: expected });
          const second = await store.startRun({ runId: 'r1', workflow: 'other', input: { y: 2 }, startedAt: 9_999 });
          expect(second).toEqual({ created: false, run: expected });
          expect(await store.getRun('r1')).toEqual(expected);
        }));

      it('getRun of an unknown run is undefined', () =>
        using(async (store) => {
          await start(store, 'known');
          expect(await store.getRun('unknown')).toBeUndefined();
        }));

      it('finishRun moves a running run to its final status once', () =>
        using(async (store) => {
          await start(store, 'ok');
          await start(store, 'bad');
          expect(await store.finishRun('ok', { status: 'succeeded', finishedAt: 2_000, output: { sum: 3, tags: ['é', '✓'] } })).toBe(true);
          expect(await store.finishRun('ok', { status: 'failed', finishedAt: 3_000, error: { type: 'Late', message: 'too late' } })).toBe(false);
          expect(await store.getRun('ok')).toEqual({
            runId: 'ok', workflow: 'wf', status: 'succeeded', input: { x: 1 }, startedAt: 1_000, finishedAt: 2_000, output: { sum: 3, tags: ['é', '✓'] },
          });
          const error = { type: 'Boom', message: 'step exploded', step: 's1' };
          expect(await store.finishRun('bad', { status: 'failed', finishedAt: 2_500, error })).toBe(true);
          const bad = await store.getRun('bad');
          expect(bad).toMatchObject({ status: 'failed', finishedAt: 2_500, error });
          expect(bad?.output).toBeUndefined();
          expect(await store.finishRun('never-started', { status: 'cancelled', finishedAt: 1 })).toBe(false);
          expect(await store.getRun('never-started')).toBeUndefined();
        }));

      it('runStatus is the status getRun has, for a run running, finished (with an output) and released, and undefined for an unknown run', () =>
        using(async (store) => {
          await start(store, 'going');
          await start(store, 'done');
          await start(store, 'failed');
          expect(await store.runStatus('going')).toBe('running');
          await store.finishRun('done', { status: 'succeeded', finishedAt: 2_000, output: { big: 'x'.repeat(1_000) } });
          await store.finishRun('failed', { status: 'failed', finishedAt: 2_000, error: { type: 'Boom', message: 'b' } });
          expect(await store.runStatus('done')).toBe('succeeded');
          await store.release('done');
          await store.release('failed');
          for (const runId of ['going', 'done', 'failed']) expect(await store.runStatus(runId)).toBe((await store.getRun(runId))?.status);
          expect(await store.runStatus('failed')).toBe('failed');
          expect(await store.runStatus('unknown')).toBeUndefined();
        }));

      it('getRun without the output gives everything else of the record, running or finished', () =>
        using(async (store) => {
          await start(store, 'going', { in: [1, 2] });
          await start(store, 'done', { in: 'x' });
          await store.finishRun('done', { status: 'succeeded', finishedAt: 2_000, output: { out: 'y'.repeat(1_000) } });
          await start(store, 'failed');
          await store.finishRun('failed', { status: 'failed', finishedAt: 2_500, error: { type: 'Boom', message: 'b', step: 's1' } });
          for (const runId of ['going', 'done', 'failed']) {
            const { output: _output, ...rest } = (await store.getRun(runId))!;
            const { output, ...without } = (await store.getRun(runId, { output: false }))!;
            expect(without).toEqual(rest);
            // Left out, or given all the same by a store that holds it at hand.
            if (output !== undefined) expect(output).toEqual(_output);
          }
          expect(await store.getRun('unknown', { output: false })).toBeUndefined();
        }));

      it('settleRun, where a store has it, moves a finished run\'s end later, never earlier, and leaves a running run alone', () =>
        using(async (store) => {
          if (!store.settleRun) return;
          await start(store, 'failed');
          await store.finishRun('failed', { status: 'failed', finishedAt: 2_000, error: { type: 'Boom', message: 'b' } });
          await store.settleRun('failed', 2_040);
          await store.settleRun('failed', 2_010);
          expect(await store.getRun('failed')).toMatchObject({ status: 'failed', finishedAt: 2_040, error: { type: 'Boom', message: 'b' } });
          await store.release('failed');
          await store.settleRun('failed', 2_090);
          expect(await store.getRun('failed')).toMatchObject({ status: 'failed', finishedAt: 2_090 });
          await start(store, 'busy');
          await store.settleRun('busy', 3_000);
          const busy = await store.getRun('busy');
          expect(busy?.status).toBe('running');
          expect(busy?.finishedAt).toBeUndefined();
        }));

      it('settleRun gives its end to a run finished without one (it was stopping steps), the same after its release', () =>
        using(async (store) => {
          if (!store.settleRun) return;
          await start(store, 'stopping');
          expect(await store.finishRun('stopping', { status: 'cancelled', error: { type: 'Cancelled', message: 'c' } })).toBe(true);
          const open = await store.getRun('stopping');
          expect(open?.status).toBe('cancelled');
          expect(open?.finishedAt).toBeUndefined();
          await store.release('stopping');
          expect((await store.getRun('stopping'))?.finishedAt).toBeUndefined();
          await store.settleRun('stopping', 2_050);
          expect(await store.getRun('stopping')).toMatchObject({ status: 'cancelled', finishedAt: 2_050, error: { type: 'Cancelled', message: 'c' } });
        }));

      it('release keeps the final record of a finished run and leaves a running run alone', () =>
        using(async (store) => {
          await start(store, 'done');
          await store.finishRun('done', { status: 'succeeded', finishedAt: 2_000, output: 42 });
          await store.release('done');
          expect(await store.getRun('done')).toMatchObject({ runId: 'done', workflow: 'wf', status: 'succeeded', finishedAt: 2_000, output: 42 });
          expect((await start(store, 'done')).created).toBe(false);

          await start(store, 'busy');
          expect(await store.arrive('busy', 't', 'a', 2)).toEqual({ fresh: true, count: 1, need: 2 });
          await store.release('busy');
          expect((await store.getRun('busy'))?.status).toBe('running');
          expect(await store.arrive('busy', 't', 'b', 2)).toEqual({ fresh: true, count: 2, need: 2 });
        }));
    });

    describe('joins', () => {
      it('arrive counts each distinct key once', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.arrive('r', 't', 'a', 3)).toEqual({ fresh: true, count: 1, need: 3 });
          expect(await store.arrive('r', 't', 'a', 3)).toEqual({ fresh: false, count: 1, need: 3 });
          expect(await store.arrive('r', 't', 'b', 3)).toEqual({ fresh: true, count: 2, need: 3 });
          expect(await store.arrive('r', 't', 'b', 3)).toEqual({ fresh: false, count: 2, need: 3 });
          expect(await store.arrive('r', 't', 'c', 3)).toEqual({ fresh: true, count: 3, need: 3 });
          expect(await store.arrive('r', 't', 'a', 3)).toEqual({ fresh: false, count: 3, need: 3 });
        }));

      it('arrive with ordinals counts each distinct key once', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.arrive('r', 't', 'x', 3, 2)).toEqual({ fresh: true, count: 1, need: 3 });
          expect(await store.arrive('r', 't', 'x', 3, 2)).toEqual({ fresh: false, count: 1, need: 3 });
          expect(await store.arrive('r', 't', 'y', 3, 0)).toEqual({ fresh: true, count: 2, need: 3 });
          expect(await store.arrive('r', 't', 'z', 3, 1)).toEqual({ fresh: true, count: 3, need: 3 });
          expect(await store.arrive('r', 't', 'y', 3, 0)).toEqual({ fresh: false, count: 3, need: 3 });
        }));

      it('need is stored by the first arrive that gives one', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.arrive('r', 't', 'a', 2)).toEqual({ fresh: true, count: 1, need: 2 });
          expect(await store.arrive('r', 't', 'b', undefined)).toEqual({ fresh: true, count: 2, need: 2 });
          expect(await store.arrive('r', 't', 'c', 7)).toEqual({ fresh: true, count: 3, need: 2 });
        }));

      it('arrivals before the need is known are kept, then setNeed sets it', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.arrive('r', 't', 'a', undefined)).toEqual({ fresh: true, count: 1, need: undefined });
          expect(await store.arrive('r', 't', 'b', undefined)).toEqual({ fresh: true, count: 2, need: undefined });
          expect(await store.arrive('r', 't', 'a', undefined)).toEqual({ fresh: false, count: 2, need: undefined });
          expect(await store.setNeed('r', 't', 3)).toEqual({ fresh: false, count: 2, need: 3 });
          expect(await store.arrive('r', 't', 'c', undefined)).toEqual({ fresh: true, count: 3, need: 3 });
        }));

      it('setNeed is idempotent: the first need stays', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.setNeed('r', 't', 2)).toEqual({ fresh: false, count: 0, need: 2 });
          expect(await store.setNeed('r', 't', 5)).toEqual({ fresh: false, count: 0, need: 2 });
          expect(await store.arrive('r', 't', 'a', undefined, 0)).toEqual({ fresh: true, count: 1, need: 2 });
          expect(await store.arrive('r', 't', 'b', undefined, 1)).toEqual({ fresh: true, count: 2, need: 2 });
          expect(await store.setNeed('r', 't', 9)).toEqual({ fresh: false, count: 2, need: 2 });
        }));

      it('setNeed(0) on an empty join reports it complete', () =>
        using(async (store) => {
          await start(store, 'r');
          expect(await store.setNeed('r', 'empty', 0)).toEqual({ fresh: false, count: 0, need: 0 });
        }));

      it('joins of different triggers and runs do not mix', () =>
        using(async (store) => {
          await start(store, 'r1');
          await start(store, 'r2');
          expect(await store.arrive('r1', 't', 'a', 2)).toEqual({ fresh: true, count: 1, need: 2 });
          expect(await store.arrive('r2', 't', 'a', 5)).toEqual({ fresh: true, count: 1, need: 5 });
          expect(await store.arrive('r1', 'u', 'a', 3)).toEqual({ fresh: true, count: 1, need: 3 });
          expect(await store.arrive('r1', 't', 'b', 2)).toEqual({ fresh: true, count: 2, need: 2 });
          expect(await store.claim('r1', 't', 100, 1_000)).toBe('won');
          expect(await store.claim('r2', 't', 100, 1_000)).toBe('won');
          expect(await store.claim('r1', 'u', 100, 1_000)).toBe('won');
        }));
    });

    describe('claims', () => {
      it('the first claim wins and later ones are taken', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.arrive('r', 't', 'a', 1);
          expect(await store.claim('r', 't', 1_000, 100)).toBe('won');
          expect(await store.claim('r', 't', 1_001, 100)).toBe('taken');
          expect(await store.claim('r', 't', 1_050, 100)).toBe('taken');
        }));

      it('a dispatched claim is always taken', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.arrive('r', 't', 'a', 1);
          expect(await store.claim('r', 't', 1_000, 100)).toBe('won');
          await store.markDispatched('r', 't', 1_010);
          await store.markDispatched('r', 't', 1_020);
          expect(await store.claim('r', 't', 1_000_000, 100)).toBe('taken');
          expect(await store.claim('r', 't', 1_000_000_000, 100)).toBe('taken');
        }));

      it('a stale undispatched claim is reclaimed exactly once per lease', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.arrive('r', 't', 'a', 1);
          expect(await store.claim('r', 't', 1_000, 100)).toBe('won');
          expect(await store.claim('r', 't', 1_099, 100)).toBe('taken');
          expect(await store.claim('r', 't', 1_100, 100)).toBe('reclaimed');
          expect(await store.claim('r', 't', 1_100, 100)).toBe('taken');
          expect(await store.claim('r', 't', 1_199, 100)).toBe('taken');
          expect(await store.claim('r', 't', 1_200, 100)).toBe('reclaimed');
          await store.markDispatched('r', 't', 1_210);
          expect(await store.claim('r', 't', 9_999, 100)).toBe('taken');
        }));

      it('parallel reclaims of a stale claim: exactly one succeeds', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.arrive('r', 't', 'a', 1);
          expect(await store.claim('r', 't', 1_000, 100)).toBe('won');
          const results = await Promise.all(Array.from({ length: 20 }, () => store.claim('r', 't', 5_000, 100)));
          expect(results.filter((r) => r === 'reclaimed')).toHaveLength(1);
          expect(results.filter((r) => r === 'taken')).toHaveLength(19);
        }));
    });

    describe('results', () => {
      it('the first saved result wins', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.saveResult('r', 'a', { v: 1 });
          await store.saveResult('r', 'a', { v: 2 });
          expect(await store.getResults('r', ['a'])).toEqual(new Map([['a', { v: 1 }]]));
        }));

      it('getResults returns only the keys present, in the order asked', () =>
        using(async (store) => {
          await start(store, 'r');
          await store.saveResult('r', 'a', 1);
          await store.saveResult('r', 'b', 2);
          const found = await store.getResults('r', ['b', 'missing', 'a']);
          expect([...found.entries()]).toEqual([['b', 2], ['a', 1]]);
          expect((await store.getResults('r', [])).size).toBe(0);
        }));

      it('savedKeys names the keys that have a result, whatever the value (null, false, 0, an empty string too), and none of another run\'s', () =>
        using(async (store) => {
          await start(store, 'r');
          await start(store, 'other');
          for (const [key, value] of [['null', null], ['false', false], ['zero', 0], ['empty', ''], ['item#3', { v: 1 }]] as const) await store.saveResult('r', key, value);
          await store.saveResult('other', 'elsewhere', 1);
          const asked = ['missing', 'null', 'false', 'zero', 'empty', 'item#3', 'item#4', 'elsewhere', 'null'];
          expect([...(await store.savedKeys('r', asked))].sort()).toEqual(['empty', 'false', 'item#3', 'null', 'zero']);
          expect([...(await store.savedKeys('r', asked))].sort()).toEqual([...(await store.getResults('r', asked)).keys()].sort());
          expect((await store.savedKeys('r', [])).size).toBe(0);
        }));

      it('outputs of every JSON type round-trip', () =>
        using(async (store) => {
          await start(store, 'r');
          const values: Record<string, unknown> = {
            null: null, zero: 0, negative: -1.5, big: 2 ** 53 - 1, tiny: 1e-300, true: true, false: false,
            emptyString: '', unicode: 'héllo ✓ 日本語 🚀 \u0000 "quoted"', emptyArray: [], emptyObject: {},
            nested: { a: { b: [1, { c: null, d: [[], {}] }], e: 'x' }, 'key with #': 'hash' },
            long: 'x'.repeat(50_000),
          };
          for (const [key, value] of Object.entries(values)) await store.saveResult('r', key, value);
          const found = await store.getResults('r', Object.keys(values));
          expect(found.size).toBe(Object.keys(values).length);
          for (const [key, value] of Object.entries(values)) {
            expect(found.has(key)).toBe(true);
            expect(found.get(key)).toEqual(value);
          }
        }));

      it('results of two runs do not mix', () =>
        using(async (store) => {
          await start(store, 'r1');
          await start(store, 'r2');
          await store.saveResult('r1', 'step', 'one');
          await store.saveResult('r2', 'step', 'two');
          await store.saveResult('r2', 'only2', true);
          expect(await store.getResults('r1', ['step', 'only2'])).toEqual(new Map([['step', 'one']]));
          expect(await store.getResults('r2', ['step', 'only2'])).toEqual(new Map<string, unknown>([['step', 'two'], ['only2', true]]));
        }));
    });

    describe('concurrency', () => {
      it('200 parallel distinct arrivals: count 200, exactly one sees the join complete, one claim wins', () =>
        using(async (store) => {
          await start(store, 'r');
          const states = await Promise.all(Array.from({ length: 200 }, (_, i) => store.arrive('r', 't', `k${i}`, 200)));
          expect(states.every((s) => s.fresh && s.need === 200)).toBe(true);
          // Each arrival saw a different count: the counter never lost or repeated an increment.
          expect(states.map((s) => s.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
          expect(states.filter((s) => s.count === s.need && s.need === 200)).toHaveLength(1);
          expect(await store.arrive('r', 't', 'k0', 200)).toEqual({ fresh: false, count: 200, need: 200 });
          const claims = await Promise.all(Array.from({ length: 50 }, () => store.claim('r', 't', 1_000, 30_000)));
          expect(claims.filter((c) => c === 'won')).toHaveLength(1);
          expect(claims.filter((c) => c === 'taken')).toHaveLength(49);
        }));

      it('100 parallel arrivals of the same key: exactly one is fresh', () =>
        using(async (store) => {
          await start(store, 'r');
          const states = await Promise.all(Array.from({ length: 100 }, () => store.arrive('r', 't', 'same', 5)));
          expect(states.filter((s) => s.fresh)).toHaveLength(1);
          expect(states.every((s) => s.count === 1 && s.need === 5)).toBe(true);
        }));
    });

    describe('large fan-in', () => {
      it(`${fanIn} arrivals with need and ordinals, shuffled, 10% duplicates: exactly one completes`, { timeout: fanInTimeout }, () =>
        using(async (store) => {
          await start(store, 'r');
          const order = arrivalOrder(fanIn, 0.1, 42);
          const results = await arriveInBatches(store, 'r', 'collect', order, fanIn);
          expect(results).toHaveLength(order.length);
          const freshPerOrdinal = new Map<number, number>();
          for (const { ordinal, state } of results) if (state.fresh) freshPerOrdinal.set(ordinal, (freshPerOrdinal.get(ordinal) ?? 0) + 1);
          expect(freshPerOrdinal.size).toBe(fanIn);
          expect([...freshPerOrdinal.values()].every((v) => v === 1)).toBe(true);
          expect(results.every(({ state }) => state.need === fanIn)).toBe(true);
          const completing = results.filter(({ state }) => completes(state));
          expect(completing).toHaveLength(1);
          expect(completing[0]!.state).toEqual({ fresh: true, count: fanIn, need: fanIn });
          // A redelivered arrival after completion is read back complete, so it can re-claim.
          expect(await store.arrive('r', 'collect', `item-${order[0]!}`, fanIn, order[0]!)).toEqual({ fresh: false, count: fanIn, need: fanIn });
          expect(await store.arrive('r', 'collect', 'item-0', fanIn, 0)).toEqual({ fresh: false, count: fanIn, need: fanIn });
          expect(await store.setNeed('r', 'collect', fanIn)).toEqual({ fresh: false, count: fanIn, need: fanIn });
          expect(await store.claim('r', 'collect', 1_000, 30_000)).toBe('won');
        }),
      );

      it(`${dynamicFanIn} arrivals before the need is known, then setNeed: the join completes there`, { timeout: fanInTimeout }, () =>
        using(async (store) => {
          await start(store, 'r');
          const results = await arriveInBatches(store, 'r', 'map', arrivalOrder(dynamicFanIn, 0.05, 7), undefined);
          expect(results.filter(({ state }) => state.fresh)).toHaveLength(dynamicFanIn);
          expect(results.some(({ state }) => completes(state))).toBe(false);
          expect(results.every(({ state }) => state.need === undefined)).toBe(true);
          expect(await store.setNeed('r', 'map', dynamicFanIn)).toEqual({ fresh: false, count: dynamicFanIn, need: dynamicFanIn });
          expect(await store.arrive('r', 'map', 'item-1', undefined, 1)).toEqual({ fresh: false, count: dynamicFanIn, need: dynamicFanIn });
        }),
      );

      it(`${dynamicFanIn} arrivals with setNeed half-way: exactly one call completes the join`, { timeout: fanInTimeout }, () =>
        using(async (store) => {
          await start(store, 'r');
          const random = rng(99);
          const order = shuffle(Array.from({ length: dynamicFanIn }, (_, i) => i), random);
          const half = Math.floor(dynamicFanIn / 2);
          const before = await arriveInBatches(store, 'r', 'map', order.slice(0, half), undefined);
          expect(before.every(({ state }) => state.fresh && state.need === undefined)).toBe(true);
          const sized = await store.setNeed('r', 'map', dynamicFanIn);
          expect(sized).toEqual({ fresh: false, count: half, need: dynamicFanIn });
          // Redeliveries of early arrivals mixed into the rest; none in the final batch.
          const rest = order.slice(half);
          const tail = rest.splice(Math.max(0, rest.length - BATCH));
          const dups = Array.from({ length: 100 }, () => order[Math.floor(random() * half)]!);
          const after = await arriveInBatches(store, 'r', 'map', [...shuffle([...rest, ...dups], random), ...tail], undefined);
          expect(after.filter(({ state }) => state.fresh)).toHaveLength(dynamicFanIn - half);
          const completing = after.filter(({ state }) => completes(state));
          expect(completing).toHaveLength(1);
          expect(completing[0]!.state).toEqual({ fresh: true, count: dynamicFanIn, need: dynamicFanIn });
          expect(await store.setNeed('r', 'map', dynamicFanIn)).toEqual({ fresh: false, count: dynamicFanIn, need: dynamicFanIn });
        }),
      );
    });
  });
}
