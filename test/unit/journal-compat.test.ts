/**
 * State dirs written by older schemas of the journal store read back exactly as they did, and
 * their running runs go on: new rows after the old rows of the same run, the file upgraded with
 * that commit. Schema 3: facts as JSON text (test/fixtures/journal-v3); schema 5: rows in bytes,
 * every Run Requested with its input inline (test/fixtures/journal-v5); schema 6: a run's input in
 * its row of `runs` (test/fixtures/journal-v6). Each fixture's make.ts says how it was made.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournalState, type JournalState } from '../../src/adapters/local/journal-state.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';
import { readout } from '../helpers/journal-readout.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures');
const expectedOf = (name: string) => JSON.parse(readFileSync(path.join(fixtures, name, 'expected.json'), 'utf8'));
const expected = expectedOf('journal-v3');
const dirs: string[] = [];
const opened: JournalState[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copy(fixture = 'journal-v3'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-compat-'));
  dirs.push(dir);
  cpSync(path.join(fixtures, fixture, 'state.db'), path.join(dir, 'state.db'));
  return dir;
}
function open(dir: string): JournalState {
  const s = openJournalState({ dir });
  opened.push(s);
  return s;
}
function versions(dir: string): number[] {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    return db.prepare<[], number>('SELECT version FROM schema_version ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
}
/** How many journal rows of the run hold `text` in their bytes. */
function rowsHolding(dir: string, runId: string, text: string): number {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    return db.prepare<[string], Buffer>('SELECT facts FROM journal WHERE run_id = ?').pluck().all(runId).filter((f) => f.includes(text)).length;
  } finally {
    db.close();
  }
}
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

describe('a state dir of schema 3', () => {
  it('reads back as it did with the code that wrote it, and stays schema 3 while only read', async () => {
    const dir = copy();
    const s = open(dir);
    expect(plain(await readout(s))).toEqual(expected);
    expect(versions(dir)).toEqual([3]);
  });

  it('goes on: a running run takes new facts after its old rows, and the file becomes schema 7', async () => {
    const dir = copy();
    const s = open(dir);
    // The join "join" of run "live" has arrival "a" of 2 (written as JSON in schema 3).
    expect(await s.store.arrive('live', 'join', 'a', 2)).toEqual({ fresh: false, count: 1, need: 2 });
    expect(await s.store.arrive('live', 'join', 'b', 2)).toEqual({ fresh: true, count: 2, need: 2 });
    const pending = s.log.pendingEvents();
    expect(plain(pending)).toEqual(expected.pending);
    expect(pending.map((p) => p.event['detail-type'])).toEqual(['Step Completed', 'Something']);
    s.log.markProcessed(pending.map((p) => p.seq));
    const [unfinished] = s.log.unfinishedTasks('live');
    s.log.taskFinished(unfinished!.task, 'succeeded', unfinished!.startedAt! + 10);
    const b: Task = { ...unfinished!.task, step: 'b', event: { input: null, results: { a: 'x' } } };
    s.log.recordTask(b);
    s.log.taskStarted(b, unfinished!.startedAt! + 11);
    await s.store.saveResult('live', 'a', 'x');
    await s.store.commit();
    expect(versions(dir)).toEqual([3, 7]);
    s.close();
    opened.length = 0;

    const again = open(dir);
    const now = plain(await readout(again)) as typeof expected;
    // The finished run and the dead letter are as they were; the running run has its new facts.
    expect(now.runs.done).toEqual(expected.runs.done);
    expect(now.deadLetters).toEqual(expected.deadLetters);
    expect(now.pending).toEqual([]);
    expect(now.events).toEqual(expected.events);
    expect(now.runs.live.tasks).toEqual([
      { ...expected.runs.live.tasks[0], status: 'succeeded', finishedAt: unfinished!.startedAt! + 10 },
      { task: plain(b), status: 'started', startedAt: unfinished!.startedAt! + 11 },
    ]);
    expect(now.unfinished).toEqual([{ task: plain(b), status: 'started', startedAt: unfinished!.startedAt! + 11 }]);
    expect(await again.store.arrive('live', 'join', 'b', 2)).toEqual({ fresh: false, count: 2, need: 2 });
    expect(await again.store.getResults('live', ['a'])).toEqual(new Map([['a', 'x']]));
  });
});

describe('a state dir of schema 5', () => {
  const expected5 = expectedOf('journal-v5');

  it('reads back as it did with the code that wrote it (every Run Requested with its input), and stays schema 5 while only read', async () => {
    const dir = copy('journal-v5');
    const s = open(dir);
    const now = plain(await readout(s)) as typeof expected5;
    expect(now).toEqual(expected5);
    const requested = now.events.filter((e: { event: EventEnvelope }) => e.event['detail-type'] === 'Run Requested').map((e: { event: EventEnvelope }) => e.event.detail);
    expect(requested).toEqual([
      { workflow: 'wf', runId: 'done', input: { survey: '2mass', band: 'j', note: 'kept once from schema 6 on' } },
      { workflow: 'wf', runId: 'done', input: { survey: 'other' } },
      { workflow: 'wf', runId: 'live', input: 'a string input of run live' },
      { workflow: 'wf', runId: 'live' },
      { workflow: 'wf', runId: 'early', input: [1, 2, 3] },
    ]);
    expect(plain(s.log.runEvents!('live'))).toEqual(expected5.events.filter((e: { event: EventEnvelope }) => e.event.detail['runId'] === 'live').map((e: { event: unknown }) => e.event));
    expect(versions(dir)).toEqual([5]);
  });

  it("goes on: a new run's request keeps its input once, the old ones read as before, and the file becomes schema 7", async () => {
    const dir = copy('journal-v5');
    const s = open(dir);
    const pending = s.log.pendingEvents();
    expect(pending.map((p) => [p.seq, p.event['detail-type'], p.event.detail['runId']])).toEqual([[6, 'Run Requested', 'live'], [8, 'Run Requested', 'early']]);
    s.log.markProcessed(pending.map((p) => p.seq));
    const [unfinished] = s.log.unfinishedTasks('live');
    s.log.taskFinished(unfinished!.task, 'succeeded', unfinished!.startedAt! + 10);
    // A new run, as the engine starts one: its request logged, then the run started, one commit.
    const input = { note: 'the input of run fresh, kept once' };
    const request: EventEnvelope = { id: 'fresh-1', source: 'joinflow', 'detail-type': 'Run Requested', time: new Date(0).toISOString(), detail: { workflow: 'wf', runId: 'fresh', input } };
    const [seq] = s.log.appendEvents([request]);
    await s.store.startRun({ runId: 'fresh', workflow: 'wf', input, startedAt: 5 });
    const task: Task = { ...unfinished!.task, runId: 'fresh', step: 'c', event: { input, results: {} } };
    s.log.recordTask(task);
    await s.store.commit();
    expect(versions(dir)).toEqual([5, 7]);
    expect(seq).toBe(expected5.lastEventSeq + 1);
    // The old rows keep their inputs; the new run's rows do not hold its input.
    expect(rowsHolding(dir, 'live', 'a string input of run live')).toBe(1);
    expect(rowsHolding(dir, 'fresh', 'the input of run fresh')).toBe(0);
    s.close();
    opened.length = 0;

    const again = open(dir);
    const now = plain(await readout(again)) as typeof expected5;
    expect(now.runs.done).toEqual(expected5.runs.done);
    expect(now.runs.early).toEqual(expected5.runs.early);
    // Its request, pending, is what recovery would deliver again: with its input.
    expect(now.pending).toEqual([{ seq, event: plain(request) }]);
    expect(now.events).toEqual([...expected5.events, { seq, event: plain(request) }]);
    expect(plain(again.log.runEvents!('fresh'))).toEqual([plain(request)]);
    expect(now.runs.fresh.tasks).toEqual([{ task: plain(task), status: 'dispatched' }]);
  });
});

describe('a state dir of schema 6', () => {
  const expected6 = expectedOf('journal-v6');
  /** What the file holds of `text`: in run rows (runs.input) and in run_inputs (absent before schema 7). */
  function inputsHolding(dir: string, text: string): { runs: number; inputs: number | undefined } {
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    try {
      const runs = db.prepare<[], string | null>('SELECT input FROM runs').pluck().all().filter((i) => i?.includes(text)).length;
      const apart = db.prepare<[], number>(`SELECT count(*) FROM sqlite_schema WHERE name = 'run_inputs'`).pluck().get()! > 0;
      const inputs = apart ? db.prepare<[], string>('SELECT input FROM run_inputs').pluck().all().filter((i) => i.includes(text)).length : undefined;
      return { runs, inputs };
    } finally {
      db.close();
    }
  }

  it('reads back as it did with the code that wrote it (inputs in the run rows), and stays schema 6, without run_inputs, while only read', async () => {
    const dir = copy('journal-v6');
    const s = open(dir);
    const now = plain(await readout(s)) as typeof expected6;
    expect(now).toEqual(expected6);
    expect(now.runs.done.record.input).toEqual({ survey: '2mass', band: 'h', note: 'in the run row in schema 6' });
    expect(now.pending.map((p: { event: EventEnvelope }) => p.event.detail)).toEqual([
      { workflow: 'wf', runId: 'live', input: 'a string input of run live' },
      { workflow: 'wf', runId: 'early', input: [1, 2, 3] },
      { workflow: 'wf', runId: 'waiting', input: { w: 1 } },
    ]);
    expect(versions(dir)).toEqual([6]);
    expect(inputsHolding(dir, 'a string input of run live')).toEqual({ runs: 1, inputs: undefined });
  });

  it("goes on: the first commit makes it schema 7 with run_inputs, a new run's input goes there, the old runs keep theirs in their rows, and a reader opened before sees both", async () => {
    const dir = copy('journal-v6');
    const reader = open(dir);
    expect((await reader.store.getRun('live'))?.input).toBe('a string input of run live');
    const s = open(dir);
    const pending = s.log.pendingEvents();
    expect(pending.map((p) => [p.seq, p.event['detail-type'], p.event.detail['runId']])).toEqual([[6, 'Run Requested', 'live'], [8, 'Run Requested', 'early'], [9, 'Run Requested', 'waiting']]);
    s.log.markProcessed(pending.filter((p) => p.event.detail['runId'] !== 'waiting').map((p) => p.seq));
    const [unfinished] = s.log.unfinishedTasks('live');
    s.log.taskFinished(unfinished!.task, 'succeeded', unfinished!.startedAt! + 10);
    await s.store.finishRun('live', { status: 'succeeded', finishedAt: unfinished!.startedAt! + 11, output: 'ok' });
    const input = { note: 'the input of run fresh, in run_inputs' };
    const request: EventEnvelope = { id: 'fresh-1', source: 'joinflow', 'detail-type': 'Run Requested', time: new Date(0).toISOString(), detail: { workflow: 'wf', runId: 'fresh', input } };
    const [seq] = s.log.appendEvents([request]);
    await s.store.startRun({ runId: 'fresh', workflow: 'wf', input, startedAt: 5 });
    await s.store.commit();
    expect(versions(dir)).toEqual([6, 7]);
    expect(inputsHolding(dir, 'the input of run fresh')).toEqual({ runs: 0, inputs: 1 });
    expect(inputsHolding(dir, 'a string input of run live')).toEqual({ runs: 1, inputs: 0 });
    expect(rowsHolding(dir, 'fresh', 'the input of run fresh')).toBe(0);

    // The reader opened on schema 6 reads the run started since from run_inputs, the old ones from their rows.
    expect(await reader.store.getRun('fresh')).toMatchObject({ status: 'running', input });
    expect(reader.log.listRuns().map((r) => [r.runId, r.status, r.input]).sort()).toEqual([
      ['done', 'succeeded', expected6.runs.done.record.input],
      ['early', 'running', [1, 2, 3]],
      ['fresh', 'running', input],
      ['live', 'succeeded', 'a string input of run live'],
    ]);
    expect(plain(reader.log.eventsAfter(expected6.lastEventSeq, 10))).toEqual([{ seq, event: plain(request) }]);
    s.close();
    opened.splice(opened.indexOf(s), 1);

    const again = open(dir);
    const now = plain(await readout(again)) as typeof expected6;
    expect(now.runs.done).toEqual(expected6.runs.done);
    expect(now.runs.early).toEqual(expected6.runs.early);
    expect(now.runs.live.record).toEqual({ ...expected6.runs.live.record, status: 'succeeded', finishedAt: unfinished!.startedAt! + 11, output: 'ok' });
    expect(now.pending.map((p: { event: EventEnvelope }) => p.event.detail)).toEqual([{ workflow: 'wf', runId: 'waiting', input: { w: 1 } }, request.detail]);
    expect(now.events).toEqual([...expected6.events, { seq, event: plain(request) }]);
    expect(now.runs.fresh.record).toEqual({ runId: 'fresh', workflow: 'wf', status: 'running', input, startedAt: 5 });
  });
});
