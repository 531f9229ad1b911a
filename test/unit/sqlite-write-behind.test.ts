/**
 * The SQLite state's write-behind buffers (sqlite-log-buffer.ts, sqlite-joins.ts): rows are
 * written once, in their state at the commit; reads in the open batch see them; the outcome on
 * file is the same as the statement-per-call writes they replace, also for a task recorded again
 * after its row is on file; a rollback drops them; a created run's attempts come from memory and
 * match its rows; a run that ends within one batch leaves no join rows behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteState, type SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';

const dirs: string[] = [];
const opened: Array<SqliteState | Database.Database> = [];
function fresh(): { dir: string; state: SqliteState } {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-write-behind-'));
  dirs.push(dir);
  const state = openSqliteState({ dir });
  opened.push(state);
  return { dir, state };
}
/** A second connection: it sees only what is committed. */
function reader(dir: string): Database.Database {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  opened.push(db);
  return db;
}
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const task = (runId: string, step: string, payload: unknown = 1, attempt = 1): Task => ({
  workflow: 'wf',
  runId,
  step,
  attempt,
  maxAttempts: 2,
  executor: { type: 'simulate', durationMs: 0 },
  event: { input: payload, results: {} },
  placement: 'lambda',
});
const event = (id: string, runId = 'r'): EventEnvelope => ({
  id,
  source: 'joinflow',
  'detail-type': 'Step Completed',
  time: '2024-01-01T00:00:00.000Z',
  detail: { workflow: 'wf', runId, step: 'a', attempt: 1, output: null },
});
type TaskRow = { step: string; status: string; started_at: number | null; finished_at: number | null; dispatch_seq: number; json: string };
const taskRows = (db: Database.Database) => db.prepare<[], TaskRow>('SELECT step, status, started_at, finished_at, dispatch_seq, json FROM tasks ORDER BY dispatch_seq').all();

describe('sqlite write-behind', () => {
  it('writes an event once, processed or pending as it is at the commit; reads in the batch see it', async () => {
    const { dir, state } = fresh();
    const { log, store } = state;
    const [a, b] = log.appendEvents([event('a'), event('b')]);
    log.markProcessed([a!]);
    // Not on file yet, but a read in the same batch sees both, in order.
    expect(reader(dir).prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 0 });
    expect(log.pendingEvents().map((p) => p.seq)).toEqual([b]);
    await store.commit();
    const rows = reader(dir).prepare('SELECT seq, processed FROM events ORDER BY seq').all();
    expect(rows).toEqual([{ seq: a, processed: 1 }, { seq: b, processed: 0 }]);
    // An event already on file is marked processed by an UPDATE.
    log.markProcessed([b!]);
    await store.commit();
    expect(reader(dir).prepare('SELECT count(*) AS n FROM events WHERE processed = 0').get()).toEqual({ n: 0 });
    expect(log.lastEventSeq()).toBe(b);
  });

  it('writes a task once in its final state, and updates a task whose row is on file', async () => {
    const { dir, state } = fresh();
    const { log, store } = state;
    log.recordTask(task('r', 'a'));
    log.taskStarted(task('r', 'a'), 10);
    log.taskFinished(task('r', 'a'), 'succeeded', 20);
    log.recordTask(task('r', 'b'));
    await store.commit();
    expect(taskRows(reader(dir)).map(({ json, ...r }) => r)).toEqual([
      { step: 'a', status: 'succeeded', started_at: 10, finished_at: 20, dispatch_seq: 1 },
      { step: 'b', status: 'dispatched', started_at: null, finished_at: null, dispatch_seq: 2 },
    ]);
    log.taskStarted(task('r', 'b'), 30);
    log.taskFinished(task('r', 'b'), 'failed', 40);
    // A finished task stays finished.
    log.taskFinished(task('r', 'b'), 'succeeded', 50);
    await store.commit();
    expect(taskRows(reader(dir))[1]).toMatchObject({ status: 'failed', started_at: 30, finished_at: 40 });
  });

  it('a task recorded again after its row is on file keeps its payload and number, and moves forward only', async () => {
    const { dir, state } = fresh();
    const { log, store } = state;
    log.recordTask(task('r', 'a', 'first'));
    log.recordTask(task('r', 'b', 'first'));
    log.taskStarted(task('r', 'b'), 5);
    await store.commit();
    // As after a restart: the same keys again, then progress, all in the buffer of a new batch.
    log.recordTask(task('r', 'a', 'second'));
    log.taskStarted(task('r', 'a'), 10);
    log.taskFinished(task('r', 'a'), 'succeeded', 20);
    log.recordTask(task('r', 'b', 'second'));
    log.taskStarted(task('r', 'b'), 15);
    await store.commit();
    const rows = taskRows(reader(dir));
    expect(rows.map(({ json, ...r }) => r)).toEqual([
      { step: 'a', status: 'succeeded', started_at: 10, finished_at: 20, dispatch_seq: 1 },
      // Already started at 5: starting again changes nothing.
      { step: 'b', status: 'started', started_at: 5, finished_at: null, dispatch_seq: 2 },
    ]);
    expect(rows.map((r) => (JSON.parse(r.json) as Task).event.input)).toEqual(['first', 'first']);
    expect(log.tasks('r').map((t) => t.task.step)).toEqual(['a', 'b']);
  });

  it('a rollback drops the buffers and numbering continues from the file', async () => {
    const { dir, state } = fresh();
    const { log, store } = state;
    const [first] = log.appendEvents([event('a')]);
    log.recordTask(task('r', 'a'));
    await store.commit();
    log.appendEvents([event('b')]);
    log.recordTask(task('r', 'b'));
    await store.arrive('r', 't', 'k', 2);
    state.close();
    const again = openSqliteState({ dir });
    opened.push(again);
    expect(again.log.pendingEvents().map((p) => p.seq)).toEqual([first]);
    expect(again.log.appendEvents([event('c')])).toEqual([first! + 1]);
    again.log.recordTask(task('r', 'c'));
    await again.store.commit();
    expect(taskRows(reader(dir)).map((r) => [r.step, r.dispatch_seq])).toEqual([['a', 1], ['c', 2]]);
    expect(await again.store.arrive('r', 't', 'k', 2)).toEqual({ fresh: true, count: 1, need: 2 });
  });

  it("a created run's attempts come from memory across commits and match its rows", async () => {
    const { dir, state } = fresh();
    const { log, store } = state;
    await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    log.recordTask(task('r', 'a'));
    log.taskStarted(task('r', 'a'), 10);
    await store.commit();
    log.taskFinished(task('r', 'a'), 'failed', 20);
    log.recordTask(task('r', 'a', 1, 2));
    log.taskStarted(task('r', 'a', 1, 2), 30);
    await store.commit();
    log.taskFinished(task('r', 'a', 1, 2), 'succeeded', 40);
    const fromMemory = log.attempts('r');
    await store.commit();
    // Another process reads them from the file.
    const other = openSqliteState({ dir });
    opened.push(other);
    expect(other.log.attempts('r')).toEqual(fromMemory);
    expect(fromMemory).toEqual([
      { step: 'a', attempt: 1, placement: 'lambda', status: 'failed', startedAt: 10, finishedAt: 20 },
      { step: 'a', attempt: 2, placement: 'lambda', status: 'succeeded', startedAt: 30, finishedAt: 40 },
    ]);
  });

  it('claims and dispatch marks are kept with the join and survive a reopen', async () => {
    const { dir, state } = fresh();
    const { store } = state;
    expect(await store.claim('r', 't', 100, 50)).toBe('won');
    expect(await store.claim('r', 't', 120, 50)).toBe('taken');
    await store.commit();
    state.close();
    const again = openSqliteState({ dir });
    opened.push(again);
    // Not dispatched within the lease: taken over.
    expect(await again.store.claim('r', 't', 160, 50)).toBe('reclaimed');
    await again.store.markDispatched('r', 't', 161);
    expect(await again.store.claim('r', 't', 1000, 50)).toBe('taken');
    await again.store.commit();
    expect(reader(dir).prepare('SELECT claimed_at, dispatched_at FROM joins').all()).toEqual([{ claimed_at: 160, dispatched_at: 161 }]);
  });

  it('a run that ends within one batch leaves no join, arrival or result rows; one spanning commits has them deleted', async () => {
    const { dir, state } = fresh();
    const { store } = state;
    const db = reader(dir);
    const counts = () => db.prepare('SELECT (SELECT count(*) FROM joins) AS joins, (SELECT count(*) FROM arrivals) AS arrivals, (SELECT count(*) FROM results) AS results').get();
    const begin = async (runId: string) => {
      await store.startRun({ runId, workflow: 'wf', input: null, startedAt: 1 });
      await store.arrive(runId, 't', 'a', 2);
      await store.saveResult(runId, 'a', { ok: 1 });
      await store.claim(runId, 't', 1, 10);
    };
    const end = async (runId: string) => {
      await store.finishRun(runId, { status: 'succeeded', finishedAt: 2, output: null });
      await store.release(runId);
      await store.commit();
    };
    await begin('short');
    await end('short');
    expect(counts()).toEqual({ joins: 0, arrivals: 0, results: 0 });
    await begin('long');
    await store.commit();
    expect(counts()).toEqual({ joins: 1, arrivals: 1, results: 1 });
    await end('long');
    expect(counts()).toEqual({ joins: 0, arrivals: 0, results: 0 });
    expect(reader(dir).prepare('SELECT run_id, status FROM runs ORDER BY run_id').all()).toEqual([
      { run_id: 'long', status: 'succeeded' },
      { run_id: 'short', status: 'succeeded' },
    ]);
  });
});
