/**
 * A run's input is kept once in the journal store (schema 6): its Run Requested event, when its
 * input is the run's, is written without it and gets the run's back on reading (events tail,
 * a run's events, pending events for recovery); a request with another input keeps its own.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { JOURNAL_SCHEMA } from '../../src/adapters/local/journal-schema.ts';
import { openDatabase } from '../../src/adapters/local/sqlite-schema.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import { journalStates } from '../helpers/journal-states.ts';
import { plan as compiled } from '../helpers/plans.ts';

const { open, freshDir } = journalStates('joinflow-run-input-');

const plan = { workflow: 'wf', steps: {}, triggers: [] } as never;
let n = 0;
function requested(runId: string, detail: Record<string, unknown>): EventEnvelope {
  return { id: `req-${++n}`, source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(Date.UTC(2026, 11, 1) + n).toISOString(), detail: { workflow: 'wf', runId, ...detail } };
}

/** How many journal rows of `runId` hold `text`, and whether the run's input on file (run_inputs, schema 7) does. */
function holding(dir: string, runId: string, text: string): { journal: number; runRow: boolean } {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    const rows = db.prepare<[string], Buffer>('SELECT facts FROM journal WHERE run_id = ?').pluck().all(runId);
    const input = db.prepare<[string], string | null>('SELECT input FROM run_inputs WHERE run_id = ?').pluck().get(runId);
    return { journal: rows.filter((f) => f.includes(text)).length, runRow: input?.includes(text) ?? false };
  } finally {
    db.close();
  }
}

/** The events of the state dir as a new process reads them: every reader, each as JSON text (keys in order). */
function readBack(dir: string, runId: string) {
  const s = open(dir);
  return {
    tail: s.log.eventsAfter(0, 100).map((e) => JSON.stringify(e.event)),
    run: s.log.runEvents!(runId).map((e) => JSON.stringify(e)),
    pending: s.log.pendingEvents().map((e) => JSON.stringify(e.event)),
  };
}

describe('a run\'s input in the journal', () => {
  it('is written once when its request and its start are in one commit, and every reader gets the request back whole, pending or not', async () => {
    const dir = freshDir();
    const s = open(dir);
    const input = { text: `input-of-r1 ${'x'.repeat(10_000)}`, n: 1 };
    const request = requested('r1', { input, extra: true });
    s.log.saveRun('r1', plan, {});
    s.log.appendEvents([request]);
    await s.store.startRun({ runId: 'r1', workflow: 'wf', input, startedAt: 1 });
    await s.store.commit();
    expect(holding(dir, 'r1', 'input-of-r1')).toEqual({ journal: 0, runRow: true });
    // Read back in this process too (its memory and the file).
    expect(s.log.runEvents!('r1')).toEqual([request]);
    s.close();
    const whole = JSON.stringify(request);
    expect(readBack(dir, 'r1')).toEqual({ tail: [whole], run: [whole], pending: [whole] });
  });

  it('keeps a request\'s own input when it is not the run\'s (a repeated request), and a request without input has none', async () => {
    const dir = freshDir();
    const s = open(dir);
    const input = { text: 'input-of-r2' };
    s.log.saveRun('r2', plan, {});
    const [first] = s.log.appendEvents([requested('r2', { input })]);
    await s.store.startRun({ runId: 'r2', workflow: 'wf', input, startedAt: 1 });
    s.log.markProcessed([first!]);
    await s.store.commit();
    // The same run asked for again, in a later commit: with an equal input that is not the same
    // value (it came from outside), with another one, and with none.
    const again = [requested('r2', { input: { text: 'input-of-r2' } }), requested('r2', { input: { text: 'another-input' } }), requested('r2', {})];
    s.log.markProcessed(s.log.appendEvents(again));
    await s.store.commit();
    expect(holding(dir, 'r2', 'another-input')).toEqual({ journal: 1, runRow: false });
    expect(holding(dir, 'r2', 'input-of-r2')).toEqual({ journal: 1, runRow: true });
    s.close();
    const { tail, run } = readBack(dir, 'r2');
    expect(tail.map((e) => JSON.parse(e).detail)).toEqual([
      { workflow: 'wf', runId: 'r2', input },
      { workflow: 'wf', runId: 'r2', input: { text: 'input-of-r2' } },
      { workflow: 'wf', runId: 'r2', input: { text: 'another-input' } },
      { workflow: 'wf', runId: 'r2' },
    ]);
    expect(run).toEqual(tail);
  });

  it('is kept in the request when the request was committed before the run started, and once when the run ended before the commit', async () => {
    const dir = freshDir();
    const s = open(dir);
    const input = ['input-of-r3'];
    s.log.saveRun('r3', plan, {});
    s.log.appendEvents([requested('r3', { input })]);
    await s.store.commit();
    await s.store.startRun({ runId: 'r3', workflow: 'wf', input, startedAt: 1 });
    await s.store.commit();
    expect(holding(dir, 'r3', 'input-of-r3')).toEqual({ journal: 1, runRow: true });
    // r4 starts, ends and leaves memory within one commit.
    const input4 = 'input-of-r4';
    s.log.saveRun('r4', plan, {});
    const [seq] = s.log.appendEvents([requested('r4', { input: input4 })]);
    await s.store.startRun({ runId: 'r4', workflow: 'wf', input: input4, startedAt: 1 });
    s.log.markProcessed([seq!]);
    await s.store.finishRun('r4', { status: 'succeeded', finishedAt: 2, output: null });
    await s.store.release('r4');
    await s.store.commit();
    expect(holding(dir, 'r4', 'input-of-r4')).toEqual({ journal: 0, runRow: true });
    s.close();
    expect(readBack(dir, 'r3').run.map((e) => JSON.parse(e).detail.input)).toEqual([input]);
    expect(readBack(dir, 'r4').run.map((e) => JSON.parse(e).detail.input)).toEqual([input4]);
  });

  it('reaches the run\'s steps when recovery delivers its pending request again', async () => {
    const dir = freshDir();
    const handler = path.resolve(import.meta.dirname, '../fixtures/handlers/plain.mjs');
    const wf = compiled({ name: 'wf', steps: { a: { executor: { type: 'function', module: handler, export: 'handler' } } }, output: 'a' });
    const input = { name: 'input-of-r5' };
    // As an engine that stopped after starting the run, before its request was marked processed.
    const s = open(dir);
    s.log.saveRun('r5', wf, {});
    s.log.appendEvents([requested('r5', { input })]);
    await s.store.startRun({ runId: 'r5', workflow: 'wf', input, startedAt: 1 });
    await s.store.commit();
    s.close();
    expect(holding(dir, 'r5', 'input-of-r5')).toEqual({ journal: 0, runRow: true });
    const state = open(dir);
    const engine = createEngine({ store: state.store, log: state.log });
    try {
      expect(await engine.recover()).toEqual(['r5']);
      expect(await engine.wait('r5')).toMatchObject({ status: 'succeeded', output: { greeting: 'hello input-of-r5', step: 'a' } });
    } finally {
      await engine.close();
    }
  });

  it('is written once for a run requested from outside (engine.publish: PutEvents to dev, a subscription\'s workflow target)', async () => {
    const dir = freshDir();
    const state = open(dir);
    const engine = createEngine({ store: state.store, log: state.log });
    const input = { name: 'input-of-r7' };
    try {
      engine.register(compiled({ name: 'wf', steps: { a: { executor: { type: 'simulate', durationMs: 1, output: 1 } } }, output: 'a' }));
      await engine.publish([requested('r7', { input })]);
      expect(await engine.wait('r7')).toMatchObject({ status: 'succeeded', output: 1 });
    } finally {
      await engine.close();
    }
    expect(holding(dir, 'r7', 'input-of-r7')).toEqual({ journal: 0, runRow: true });
    expect(state.log.runEvents!('r7')[0]!.detail).toEqual({ workflow: 'wf', runId: 'r7', input });
  });

  it('keeps the input of a request without a runId (its run named by its event id) in that request: a row of no run, read back whole', async () => {
    const dir = freshDir();
    const state = open(dir);
    const engine = createEngine({ store: state.store, log: state.log });
    const input = { name: 'input-of-unnamed' };
    const request: EventEnvelope = { id: 'unnamed-1', source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(0).toISOString(), detail: { workflow: 'wf', input } };
    try {
      engine.register(compiled({ name: 'wf', steps: { a: { executor: { type: 'simulate', durationMs: 1, output: 1 } } }, output: 'a' }));
      await engine.publish([request]);
      expect(await engine.wait('unnamed-1')).toMatchObject({ status: 'succeeded' });
    } finally {
      await engine.close();
    }
    state.close();
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    try {
      // Twice in state.db: in the run's row and in the request's row, which belongs to no run.
      expect(db.prepare<[], { run_id: string | null; facts: Buffer }>('SELECT run_id, facts FROM journal').all().filter((r) => r.facts.includes('input-of-unnamed')).map((r) => r.run_id)).toEqual([null]);
      expect(holding(dir, 'unnamed-1', 'input-of-unnamed')).toEqual({ journal: 0, runRow: true });
    } finally {
      db.close();
    }
    expect(open(dir).log.eventsAfter(0, 100).filter((e) => e.event['detail-type'] === DetailType.RunRequested).map((e) => e.event)).toEqual([request]);
  });

  it('makes a file that a joinflow of schema 5 refuses as a newer joinflow\'s', async () => {
    const dir = freshDir();
    const s = open(dir);
    await s.store.startRun({ runId: 'r6', workflow: 'wf', input: null, startedAt: 1 });
    await s.store.commit();
    s.close();
    const v5 = { ...JOURNAL_SCHEMA, version: 5, reads: [3, 4] };
    expect(() => openDatabase(path.join(dir, 'state.db'), {}, v5)).toThrow(/state schema version 7, but this joinflow uses version 5: it was written by a newer joinflow/);
  });
});

describe("a run's input on file (schema 7)", () => {
  /** The bytes of the free pages of the state file, and what its run rows and run_inputs hold of `text`. */
  function onFile(dir: string, text: string) {
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    try {
      const free = (db.pragma('freelist_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
      const runs = db.prepare<[], string | null>('SELECT input FROM runs').pluck().all().filter((i) => i?.includes(text)).length;
      const inputs = db.prepare<[], string>('SELECT input FROM run_inputs').pluck().all().filter((i) => i.includes(text)).length;
      return { free, runs, inputs };
    } finally {
      db.close();
    }
  }

  it('is written once, apart from the run\'s row: its end, its options and its settling leave no copy of it in free pages', async () => {
    const dir = freshDir();
    const s = open(dir);
    const input = { text: `input-of-big ${'y'.repeat(2_000_000)}` };
    s.log.saveRun('big', plan, { pid: 1 });
    s.log.appendEvents([requested('big', { input })]);
    await s.store.startRun({ runId: 'big', workflow: 'wf', input, startedAt: 1_700_000_000_000 });
    await s.store.commit();
    expect(onFile(dir, 'input-of-big')).toMatchObject({ runs: 0, inputs: 1 });
    // Each of these changes the size of the run's row: SQLite writes the whole row again.
    s.log.saveRun('big', plan, { pid: 1, cancels: true });
    await s.store.commit();
    await s.store.finishRun('big', { status: 'succeeded', finishedAt: 1_700_000_000_005, output: { done: true } });
    await s.store.commit();
    await s.store.settleRun!('big', 1_700_000_000_009);
    await s.store.commit();
    const after = onFile(dir, 'input-of-big');
    expect(after).toMatchObject({ runs: 0, inputs: 1 });
    // With the input in the row, each rewrite left 2 MB of free pages.
    expect(after.free).toBeLessThan(100_000);
    s.close();
    const again = open(dir);
    expect(await again.store.getRun('big')).toMatchObject({ status: 'succeeded', input, finishedAt: 1_700_000_000_009 });
    expect(again.log.listRuns()).toMatchObject([{ runId: 'big', input }]);
    expect(again.log.eventsAfter(0, 10).map((e) => e.event.detail)).toEqual([{ workflow: 'wf', runId: 'big', input }]);
  });

  it('goes with its run at gc', async () => {
    const dir = freshDir();
    const s = open(dir);
    await s.store.startRun({ runId: 'old', workflow: 'wf', input: { text: 'input-of-old' }, startedAt: 1 });
    await s.store.finishRun('old', { status: 'succeeded', finishedAt: 2 });
    await s.store.startRun({ runId: 'on', workflow: 'wf', input: { text: 'input-of-on' }, startedAt: 3 });
    await s.store.commit();
    expect(s.log.gc(10)).toMatchObject({ runs: 1, runIds: ['old'] });
    expect(onFile(dir, 'input-of-old')).toMatchObject({ runs: 0, inputs: 0 });
    expect(onFile(dir, 'input-of-on')).toMatchObject({ runs: 0, inputs: 1 });
  });
});
