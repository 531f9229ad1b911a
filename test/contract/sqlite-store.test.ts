/**
 * The TriggerStore contract against both SQLite stores (the journal store, the default, and the
 * row store), on a fresh state dir per test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { TriggerStore } from '../../src/ports.ts';
import { describeSizedJoinContract } from './sized-join.contract.ts';
import { describeTriggerStoreContract } from './trigger-store.contract.ts';

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-sqlite-contract-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// The suite never calls commit(): the connection reads its own uncommitted batch, as the engine
// does between commits.
type Opened = { store: TriggerStore & { stats(): Record<string, number> }; close(): void };
const stores: Array<{ name: string; open: (dir: string) => Opened; held: (s: Record<string, number>) => Record<string, number> }> = [
  { name: 'sqlite journal', open: (dir) => openJournalState({ dir }), held: (s) => ({ runs: s['runs']!, loadedRuns: s['loadedRuns']! }) },
  { name: 'sqlite rows', open: (dir) => openSqliteState({ dir }), held: (s) => ({ runs: s['runs']!, joins: s['joins']!, arrivals: s['arrivals']!, results: s['results']! }) },
];

for (const { name, open, held } of stores) {
const fresh = async () => {
  const state = open(freshDir());
  return { store: state.store, close: async () => state.close() };
};
describeTriggerStoreContract(name, fresh);
describeSizedJoinContract(name, fresh);

describe(`TriggerStore contract: ${name}, committing as the engine does`, () => {

  it('joins, claims and results committed between batches survive a reopen and keep counting', async () => {
    const dir = freshDir();
    let state = open(dir);
    await state.store.startRun({ runId: 'r', workflow: 'wf', input: { n: 3 }, startedAt: 1 });
    expect(await state.store.arrive('r', 'join', 'a', 3)).toEqual({ fresh: true, count: 1, need: 3 });
    await state.store.commit();
    expect(await state.store.arrive('r', 'join', 'b', 3)).toEqual({ fresh: true, count: 2, need: 3 });
    await state.store.saveResult('r', 'a', { v: 'a' });
    await state.store.commit();
    // A commit with nothing open is a no-op, not an error.
    await state.store.commit();
    state.close();

    state = open(dir);
    expect(await state.store.arrive('r', 'join', 'a', 3)).toEqual({ fresh: false, count: 2, need: 3 });
    expect(await state.store.arrive('r', 'join', 'c', 3)).toEqual({ fresh: true, count: 3, need: 3 });
    expect(await state.store.claim('r', 'join', 100, 1_000)).toBe('won');
    await state.store.commit();
    state.close();

    state = open(dir);
    expect(await state.store.claim('r', 'join', 200, 1_000)).toBe('taken');
    expect(await state.store.claim('r', 'join', 1_100, 1_000)).toBe('reclaimed');
    expect(await state.store.getResults('r', ['a', 'b'])).toEqual(new Map([['a', { v: 'a' }]]));
    expect((await state.store.getRun('r'))?.input).toEqual({ n: 3 });
    state.close();
  });

  it('a batch closed without commit is discarded as a whole', async () => {
    const dir = freshDir();
    let state = open(dir);
    await state.store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    await state.store.commit();
    await state.store.arrive('r', 't', 'a', 2);
    await state.store.saveResult('r', 'a', 1);
    await state.store.finishRun('r', { status: 'succeeded', finishedAt: 5 });
    state.close();

    state = open(dir);
    expect((await state.store.getRun('r'))?.status).toBe('running');
    expect(await state.store.getResults('r', ['a'])).toEqual(new Map());
    expect(await state.store.arrive('r', 't', 'a', 2)).toEqual({ fresh: true, count: 1, need: 2 });
    state.close();
  });

  it('release drops a finished run\'s joins, arrivals and results but keeps its record', async () => {
    const state = open(freshDir());
    const { store } = state;
    await store.startRun({ runId: 'done', workflow: 'wf', input: { big: 'x' }, startedAt: 1 });
    await store.startRun({ runId: 'busy', workflow: 'wf', input: null, startedAt: 2 });
    for (const runId of ['done', 'busy']) {
      await store.arrive(runId, 't', 'a', 2);
      await store.arrive(runId, 't', 'b', 2);
      await store.saveResult(runId, 'a', 1);
    }
    await store.finishRun('done', { status: 'succeeded', finishedAt: 3, output: 'ok' });
    await store.commit();
    const before = held(store.stats());
    await store.release('done');
    await store.release('busy');
    await store.commit();
    const after = held(store.stats());
    // One of two runs' working state goes; both records stay.
    expect(after['runs']).toBe(2);
    for (const k of Object.keys(before).filter((k) => k !== 'runs')) expect([k, after[k]! * 2]).toEqual([k, before[k]]);
    expect(await store.getRun('done')).toEqual({ runId: 'done', workflow: 'wf', status: 'succeeded', input: { big: 'x' }, startedAt: 1, finishedAt: 3, output: 'ok' });
    expect(await store.getResults('busy', ['a'])).toEqual(new Map([['a', 1]]));
    state.close();
  });
});
}
