/**
 * The SQLite state file: durability across close/reopen and across a killed process (atomic
 * group commit), the DurableLog methods, gc, and the schema version check.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteState, type SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { SCHEMA_VERSION, StateFileError } from '../../src/adapters/local/sqlite-schema.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';
import { diamondDef, fanoutDef, plan } from '../helpers/plans.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const dirs: string[] = [];
const opened: SqliteState[] = [];
function freshDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-sqlite-state-'));
  dirs.push(dir);
  return dir;
}
function open(dir: string): SqliteState {
  const state = openSqliteState({ dir });
  opened.push(state);
  return state;
}
afterEach(() => {
  for (const state of opened.splice(0)) state.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const task = (runId: string, step: string, attempt = 1, item?: number): Task => ({
  workflow: 'wf',
  runId,
  step,
  ...(item === undefined ? {} : { item }),
  attempt,
  maxAttempts: 3,
  executor: { type: 'simulate', durationMs: 5, output: { step } },
  event: { input: { n: 1 }, results: { prev: [1, 2] } },
});

const event = (id: string, runId?: string): EventEnvelope => ({
  id,
  source: 'joinflow',
  'detail-type': 'Step Completed',
  time: '2024-01-01T00:00:00.000Z',
  detail: runId === undefined ? { note: id } : { workflow: 'wf', runId, step: 'a', attempt: 1, output: { id } },
});

describe('sqlite state: durability', () => {
  it('everything committed is there after close and reopen', async () => {
    const dir = freshDir();
    const first = open(dir);
    const { store, log } = first;
    await store.startRun({ runId: 'r', workflow: 'wf', input: { n: 1 }, startedAt: 10 });
    await store.arrive('r', 'c', 'a', 2);
    await store.claim('r', 'c', 50, 1_000);
    await store.saveResult('r', 'a', { out: 'A' });
    const seqs = log.appendEvents([event('e1', 'r'), event('e2', 'r')]);
    log.recordTask(task('r', 'a'));
    const timer = log.addTimer(99, task('r', 'b', 2));
    log.deadLetter({ bad: true }, 'no such workflow', 7);
    await store.commit();
    first.close();

    const { store: again, log: log2 } = open(dir);
    expect(await again.getRun('r')).toEqual({ runId: 'r', workflow: 'wf', status: 'running', input: { n: 1 }, startedAt: 10 });
    expect(await again.arrive('r', 'c', 'a', 2)).toEqual({ fresh: false, count: 1, need: 2 });
    expect(await again.claim('r', 'c', 60, 1_000)).toBe('taken');
    expect(await again.getResults('r', ['a'])).toEqual(new Map([['a', { out: 'A' }]]));
    expect(log2.pendingEvents()).toEqual([{ seq: seqs[0], event: event('e1', 'r') }, { seq: seqs[1], event: event('e2', 'r') }]);
    expect(log2.unfinishedTasks()).toEqual([{ task: task('r', 'a'), status: 'dispatched' }]);
    expect(log2.timers()).toEqual([{ id: timer, dueAt: 99, task: task('r', 'b', 2) }]);
    expect(log2.deadLetters()).toEqual([{ id: 1, at: 7, reason: 'no such workflow', event: { bad: true } }]);
    expect(again.stats()).toEqual({ runs: 1, plans: 0, joins: 1, arrivals: 1, results: 1, events: 2, pendingEvents: 2, tasks: 1, timers: 1, deadLetters: 1 });
  });

  it('a killed process keeps its committed batch and loses the uncommitted one entirely', async () => {
    const dir = freshDir();
    const module = pathToFileURL(path.join(root, 'src/adapters/local/sqlite-state.ts')).href;
    // Runs in a child so that the kill is a real one: no close(), no exit handlers, no rollback.
    const script = `
      const { openSqliteState } = await import(process.env.MODULE);
      const { store, log } = openSqliteState({ dir: process.env.DIR });
      async function write(tag) {
        await store.startRun({ runId: 'run-' + tag, workflow: 'wf', input: tag, startedAt: 1 });
        for (let i = 0; i < 100; i++) await store.arrive('shared', 'join', tag + '-' + i, 200);
        await store.saveResult('shared', tag, tag);
        log.appendEvents([{ id: tag, source: 's', 'detail-type': 'd', time: 't', detail: { runId: 'run-' + tag } }]);
        log.recordTask({ workflow: 'wf', runId: 'run-' + tag, step: 's', attempt: 1, maxAttempts: 1, executor: { type: 'simulate', durationMs: 0 }, event: { input: null, results: {} } });
        log.addTimer(5, { workflow: 'wf', runId: 'run-' + tag, step: 's', attempt: 2, maxAttempts: 2, executor: { type: 'simulate', durationMs: 0 }, event: { input: null, results: {} } });
      }
      await write('committed');
      await store.commit();
      await write('lost');
      console.log('wrote ' + JSON.stringify(store.stats()));
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, MODULE: module, DIR: dir },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).not.toMatch(/Error/);
    expect(child.signal).toBe('SIGKILL');
    // The child saw both batches in its own connection before it died.
    expect(child.stdout).toContain('"arrivals":200');

    const { store, log } = open(dir);
    expect(store.stats()).toEqual({ runs: 1, plans: 0, joins: 1, arrivals: 100, results: 1, events: 1, pendingEvents: 1, tasks: 1, timers: 1, deadLetters: 0 });
    expect(log.listRuns().map((r) => r.runId)).toEqual(['run-committed']);
    expect(log.pendingEvents().map((p) => p.event.id)).toEqual(['committed']);
    expect(log.unfinishedTasks().map((t) => t.task.runId)).toEqual(['run-committed']);
    expect(log.timers().map((t) => t.task.runId)).toEqual(['run-committed']);
    expect(await store.arrive('shared', 'join', 'committed-0', 200)).toEqual({ fresh: false, count: 100, need: 200 });
    expect(await store.arrive('shared', 'join', 'lost-0', 200)).toEqual({ fresh: true, count: 101, need: 200 });
    expect(await store.getResults('shared', ['committed', 'lost'])).toEqual(new Map([['committed', 'committed']]));
  });
});

describe('sqlite state: log', () => {
  it('pending events come back in publish order until marked processed', () => {
    const { log, store } = open(freshDir());
    const seqs = log.appendEvents([event('a', 'r'), event('b'), event('c', 'r')]);
    expect(seqs).toHaveLength(3);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(3);
    const more = log.appendEvents([event('d', 'r')]);
    expect(more[0]).toBeGreaterThan(seqs[2]!);
    log.markProcessed([seqs[1]!, seqs[0]!]);
    log.markProcessed([seqs[1]!]);
    log.markProcessed([]);
    expect(log.pendingEvents()).toEqual([{ seq: seqs[2], event: event('c', 'r') }, { seq: more[0], event: event('d', 'r') }]);
    expect(store.stats()).toMatchObject({ events: 4, pendingEvents: 2 });
  });

  it('tasks: recorded once, started, finished, listed in dispatch order', () => {
    const { log } = open(freshDir());
    log.recordTask(task('r', 'b'));
    log.recordTask(task('r', 'a'));
    log.recordTask(task('r', 'm', 1, 1));
    log.recordTask(task('r', 'm', 1, 0));
    log.recordTask(task('other', 'a'));
    log.recordTask({ ...task('r', 'b'), maxAttempts: 99 });
    log.recordTask(task('r', 'b', 2));
    log.taskStarted(task('r', 'b'), 100);
    log.taskFinished(task('r', 'b'), 'failed', 150);
    log.taskStarted(task('r', 'a'), 110);
    log.taskFinished(task('r', 'm', 1, 1), 'succeeded', 120);
    // A late duplicate report of a finished task changes nothing.
    log.taskFinished(task('r', 'm', 1, 1), 'cancelled', 130);
    log.taskStarted(task('r', 'm', 1, 1), 140);

    expect(log.tasks('r')).toEqual([
      { task: task('r', 'b'), status: 'failed', startedAt: 100, finishedAt: 150 },
      { task: task('r', 'a'), status: 'started', startedAt: 110 },
      { task: task('r', 'm', 1, 1), status: 'succeeded', finishedAt: 120 },
      { task: task('r', 'm', 1, 0), status: 'dispatched' },
      { task: task('r', 'b', 2), status: 'dispatched' },
    ]);
    expect(log.unfinishedTasks('r').map((t) => [t.task.step, t.task.item, t.task.attempt])).toEqual([
      ['a', undefined, 1],
      ['m', 0, 1],
      ['b', undefined, 2],
    ]);
    expect(log.unfinishedTasks().map((t) => t.task.runId)).toEqual(['r', 'r', 'other', 'r']);
    expect(log.tasks('nobody')).toEqual([]);
  });

  it('dispatch order continues across a reopen', async () => {
    const dir = freshDir();
    const first = open(dir);
    first.log.recordTask(task('r', 'z'));
    await first.store.commit();
    first.close();
    const { log } = open(dir);
    log.recordTask(task('r', 'a'));
    expect(log.tasks('r').map((t) => t.task.step)).toEqual(['z', 'a']);
  });

  it('timers: added, listed by due time (per run or all), removed', () => {
    const { log } = open(freshDir());
    const late = log.addTimer(300, task('r1', 'a', 2));
    const early = log.addTimer(100, task('r2', 'b', 2));
    const mid = log.addTimer(200, task('r1', 'c', 3));
    expect(new Set([late, early, mid]).size).toBe(3);
    expect(log.timers().map((t) => [t.id, t.dueAt, t.task.step])).toEqual([[early, 100, 'b'], [mid, 200, 'c'], [late, 300, 'a']]);
    expect(log.timers('r1').map((t) => t.id)).toEqual([mid, late]);
    log.removeTimer(mid);
    log.removeTimer(12345);
    expect(log.timers().map((t) => t.id)).toEqual([early, late]);
    expect(log.timers('r1')).toEqual([{ id: late, dueAt: 300, task: task('r1', 'a', 2) }]);
  });

  it('dead letters keep the event, reason and time; unserializable events are kept as text', () => {
    const { log } = open(freshDir());
    log.deadLetter({ 'detail-type': 'Nope' }, 'unknown detail-type', 5);
    log.deadLetter(undefined, 'empty', 6);
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    log.deadLetter(circular, 'circular', 7);
    expect(log.deadLetters()).toEqual([
      { id: 1, at: 5, reason: 'unknown detail-type', event: { 'detail-type': 'Nope' } },
      { id: 2, at: 6, reason: 'empty', event: null },
      { id: 3, at: 7, reason: 'circular', event: '[object Object]' },
    ]);
  });

  it('saveRun stores identical plans once, before or after startRun, with the run\'s options', async () => {
    const { log, store } = open(freshDir());
    const diamond = plan(diamondDef);
    log.saveRun('before', diamond, { concurrency: 2 });
    expect(await store.getRun('before')).toBeUndefined();
    expect(log.listRuns()).toEqual([]);
    expect(await store.startRun({ runId: 'before', workflow: 'diamond', input: 1, startedAt: 1 })).toMatchObject({ created: true });
    await store.startRun({ runId: 'after', workflow: 'diamond', input: 2, startedAt: 2 });
    // A structurally equal copy, not the same object: deduplicated by content hash.
    log.saveRun('after', structuredClone(diamond), { trace: true });
    await store.startRun({ runId: 'fan', workflow: 'fan', input: 3, startedAt: 3 });
    log.saveRun('fan', plan(fanoutDef), {});
    expect(store.stats()).toMatchObject({ runs: 3, plans: 2 });
    expect(log.runPlan('before')).toEqual(diamond);
    expect(log.runPlan('after')).toEqual(diamond);
    expect(log.runPlan('fan')?.workflow).toBe('fan');
    expect(log.runOptions('before')).toEqual({ concurrency: 2 });
    expect(log.runOptions('after')).toEqual({ trace: true });
    expect(log.runPlan('unknown')).toBeUndefined();
    expect(log.runOptions('unknown')).toBeUndefined();
    expect(await store.getRun('before')).toEqual({ runId: 'before', workflow: 'diamond', status: 'running', input: 1, startedAt: 1 });
    expect((await store.startRun({ runId: 'before', workflow: 'x', input: 9, startedAt: 9 })).created).toBe(false);
  });

  it('listRuns: newest first, filtered by status and workflow', async () => {
    const { log, store } = open(freshDir());
    await store.startRun({ runId: 'a', workflow: 'wf1', input: null, startedAt: 100 });
    await store.startRun({ runId: 'b', workflow: 'wf2', input: null, startedAt: 300 });
    await store.startRun({ runId: 'c', workflow: 'wf1', input: null, startedAt: 200 });
    await store.startRun({ runId: 'd', workflow: 'wf1', input: null, startedAt: 400 });
    await store.finishRun('c', { status: 'failed', finishedAt: 250, error: { type: 'E', message: 'm', step: 's' } });
    await store.finishRun('b', { status: 'succeeded', finishedAt: 350, output: 1 });
    expect(log.listRuns().map((r) => r.runId)).toEqual(['d', 'b', 'c', 'a']);
    expect(log.listRuns({ workflow: 'wf1' }).map((r) => r.runId)).toEqual(['d', 'c', 'a']);
    expect(log.listRuns({ status: 'running' }).map((r) => r.runId)).toEqual(['d', 'a']);
    expect(log.listRuns({ status: 'failed', workflow: 'wf1' })).toEqual([
      { runId: 'c', workflow: 'wf1', status: 'failed', input: null, startedAt: 200, finishedAt: 250, error: { type: 'E', message: 'm', step: 's' } },
    ]);
    expect(log.listRuns({ status: 'cancelled' })).toEqual([]);
  });

  it('gc deletes finished runs older than the cutoff with all they left, and keeps the rest', async () => {
    const dir = freshDir();
    const { log, store, file } = open(dir);
    const diamond = plan(diamondDef);
    const fan = plan(fanoutDef);
    const fill = async (runId: string, startedAt: number, p = diamond) => {
      await store.startRun({ runId, workflow: p.workflow, input: runId, startedAt });
      log.saveRun(runId, p, {});
      await store.arrive(runId, 't', 'a', 2);
      await store.saveResult(runId, 'a', 1);
      const [seq] = log.appendEvents([event(`${runId}-e`, runId)]);
      log.markProcessed([seq!]);
      log.recordTask(task(runId, 'a'));
      log.addTimer(startedAt + 1, task(runId, 'a', 2));
    };
    await fill('old', 10, fan);
    await fill('recent', 20);
    await fill('running', 5);
    await store.finishRun('old', { status: 'succeeded', finishedAt: 100 });
    await store.finishRun('recent', { status: 'failed', finishedAt: 1_000, error: { type: 'E', message: 'm' } });
    log.appendEvents([event('orphan-processed')]);
    log.markProcessed(log.pendingEvents().map((p) => p.seq));
    log.appendEvents([event('orphan-pending')]);
    log.deadLetter({ x: 1 }, 'old', 50);
    log.deadLetter({ x: 2 }, 'new', 600);

    // The dead letter older than the cutoff goes too, and is counted.
    expect(log.gc(500)).toEqual({ runs: 1, runIds: ['old'], deadLetters: 1, unstarted: [] });
    // gc committed: a separate connection sees the result.
    const other = new Database(file, { readonly: true });
    try {
      expect(other.prepare('SELECT run_id FROM runs ORDER BY run_id').pluck().all()).toEqual(['recent', 'running']);
    } finally {
      other.close();
    }
    expect(await store.getRun('old')).toBeUndefined();
    expect(log.tasks('old')).toEqual([]);
    expect(log.timers('old')).toEqual([]);
    expect(await store.getResults('old', ['a'])).toEqual(new Map());
    expect(log.runPlan('old')).toBeUndefined();
    expect(log.runPlan('recent')).toEqual(diamond);
    expect(log.listRuns().map((r) => r.runId)).toEqual(['recent', 'running']);
    expect(log.pendingEvents().map((p) => p.event.id)).toEqual(['orphan-pending']);
    expect(log.deadLetters().map((d) => d.reason)).toEqual(['new']);
    expect(store.stats()).toEqual({ runs: 2, plans: 1, joins: 2, arrivals: 2, results: 2, events: 3, pendingEvents: 1, tasks: 2, timers: 2, deadLetters: 1 });
    expect(await store.arrive('running', 't', 'a', 2)).toEqual({ fresh: false, count: 1, need: 2 });
    expect(log.gc(500)).toEqual({ runs: 0, runIds: [], deadLetters: 0, unstarted: [] });
    expect(log.gc(2_000)).toEqual({ runs: 1, runIds: ['recent'], deadLetters: 1, unstarted: [] });
    log.vacuum();
    expect(log.listRuns().map((r) => r.runId)).toEqual(['running']);
    expect(store.stats()).toMatchObject({ runs: 1, plans: 1, tasks: 1, timers: 1 });
  });
});

describe('sqlite state: the file', () => {
  it('creates the directory and reports the file', () => {
    const dir = path.join(freshDir(), 'nested', 'state');
    const state = open(dir);
    expect(state.file).toBe(path.join(dir, 'state.db'));
    const db = new Database(state.file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT version FROM schema_version').pluck().get()).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('refuses a file of another schema version, naming the file and the versions', () => {
    const dir = freshDir();
    const state = openSqliteState({ dir });
    const file = state.file;
    state.close();
    for (const [version, hint] of [[SCHEMA_VERSION + 1, /newer joinflow/], [SCHEMA_VERSION - 1, /older joinflow/]] as const) {
      const db = new Database(file);
      db.prepare('UPDATE schema_version SET version = ?').run(version);
      db.close();
      let error: unknown;
      try {
        openSqliteState({ dir });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(StateFileError);
      expect((error as StateFileError).code).toBe('STATE_SCHEMA');
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toContain(`version ${version}`);
      expect((error as Error).message).toContain(`version ${SCHEMA_VERSION}`);
      expect((error as Error).message).toMatch(hint);
    }
  });

  it('refuses a SQLite file that is not joinflow state, and a file that is not SQLite', () => {
    const foreign = freshDir();
    const db = new Database(path.join(foreign, 'state.db'));
    db.exec('CREATE TABLE stuff (x)');
    db.close();
    expect(() => openSqliteState({ dir: foreign })).toThrow(/state\.db: not a joinflow state database/);

    const garbage = freshDir();
    writeFileSync(path.join(garbage, 'state.db'), 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    expect(() => openSqliteState({ dir: garbage })).toThrow(expect.objectContaining({ code: 'STATE_UNREADABLE', message: expect.stringContaining(path.join(garbage, 'state.db')) }));
  });

  it('a second writer is told the state dir is in use', async () => {
    const dir = freshDir();
    const first = open(dir);
    await first.store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1 });
    const second = openSqliteState({ dir, busyTimeoutMs: 50 });
    opened.push(second);
    // The store answers synchronously, so the error is thrown rather than rejected.
    expect(() => second.store.arrive('r', 't', 'a', 1)).toThrow(expect.objectContaining({ code: 'STATE_LOCKED' }));
    await first.store.commit();
    expect(await second.store.arrive('r', 't', 'a', 1)).toEqual({ fresh: true, count: 1, need: 1 });
  });
});
