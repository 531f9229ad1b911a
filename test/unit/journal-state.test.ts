/** The journal store's log: what a restart and the readers in other processes get back. */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openJournalState, type JournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { rowNames } from '../../src/adapters/local/journal-decode.ts';
import { splitRow } from '../../src/adapters/local/journal-bytes.ts';
import { createEventFactory } from '../../src/adapters/local/step-events.ts';
import { stepRef, type EventEnvelope } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openSqliteState as openRowState } from '../../src/adapters/local/sqlite-state.ts';
import { journalStates } from '../helpers/journal-states.ts';
import { diamondDef, plan as compiled } from '../helpers/plans.ts';

const { open, freshDir } = journalStates('joinflow-journal-');

const exec = { type: 'simulate', durationMs: 1 } as Task['executor'];
const plan = { workflow: 'wf', steps: {}, triggers: [] } as never;
function task(runId: string, step: string, attempt = 1, input: unknown = null): Task {
  return { workflow: 'wf', runId, step, attempt, maxAttempts: 2, executor: exec, event: { input, results: {} } };
}
let now = Date.UTC(2026, 10, 22);
const make = createEventFactory(() => now++);
const completed = (runId: string, step: string): EventEnvelope => make('Step Completed', stepRef(task(runId, step), { output: { step } }));

async function started(s: JournalState, runId: string, input: unknown = null): Promise<void> {
  s.log.saveRun(runId, plan, { pid: 1 });
  await s.store.startRun({ runId, workflow: 'wf', input, startedAt: now });
}

describe('journal state', () => {
  it('after a restart: pending events, unfinished tasks and joins are as committed', async () => {
    const dir = freshDir();
    const a = open(dir);
    await started(a, 'r', { big: [1, 2, 3] });
    const [s1, s2] = a.log.appendEvents([completed('r', 'x'), completed('r', 'y')]);
    a.log.markProcessed([s1!]);
    const t1 = task('r', 'x', 1, { big: [1, 2, 3] });
    const t2 = task('r', 'y');
    a.log.recordTask(t1);
    a.log.recordTask(t2);
    a.log.taskStarted(t1, 100);
    a.log.taskStarted(t2, 101);
    a.log.taskFinished(t2, 'succeeded', 150);
    await a.store.arrive('r', 'join', 'x', 2);
    await a.store.saveResult('r', 'x', { v: 1 });
    await a.store.commit();
    // Not committed: lost with the process.
    a.log.appendEvents([completed('r', 'z')]);
    await a.store.arrive('r', 'join', 'y', 2);
    a.close();

    const b = open(dir);
    expect(b.log.pendingEvents().map((p) => p.seq)).toEqual([s2]);
    const unfinished = b.log.unfinishedTasks();
    expect(unfinished).toEqual([{ task: t1, status: 'started', startedAt: 100 }]);
    expect(b.log.tasks('r').map((e) => [e.task.step, e.status, e.finishedAt])).toEqual([['x', 'started', undefined], ['y', 'succeeded', 150]]);
    expect(await b.store.arrive('r', 'join', 'y', 2)).toEqual({ fresh: true, count: 2, need: 2 });
    expect(await b.store.getResults('r', ['x'])).toEqual(new Map([['x', { v: 1 }]]));
    // The next sequence number continues after the committed ones, not the lost one.
    expect(b.log.lastEventSeq()).toBe(s2);
  });

  it('a reader in another connection sees committed tasks and events of a running run', async () => {
    const dir = freshDir();
    const w = open(dir);
    await started(w, 'r');
    const t = task('r', 'x');
    w.log.recordTask(t);
    w.log.taskStarted(t, 5);
    const e = completed('r', 'x');
    w.log.appendEvents([e]);
    await w.store.commit();
    const r = open(dir);
    expect(r.log.tasks('r')).toEqual([{ task: t, status: 'started', startedAt: 5 }]);
    expect(r.log.eventsAfter(0, 10)).toEqual([{ seq: 1, event: e }]);
    expect(r.log.listRuns({ status: 'running' }).map((x) => x.runId)).toEqual(['r']);
  });

  it("a run of a saved plan numbers its names after the plan's: its rows list only the run's own", async () => {
    const dir = freshDir();
    const w = open(dir);
    const real = { workflow: 'wf', steps: { 'align-long-step-name': {}, merge: {} }, triggers: [{ id: 'merge-trigger' }] } as never;
    w.log.saveRun('r', real, { pid: 1 });
    await w.store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: now });
    const t = task('r', 'align-long-step-name');
    w.log.recordTask(t);
    await w.store.arrive('r', 'merge-trigger', 'align-long-step-name', 2);
    await w.store.arrive('r', 'merge-trigger', 'an-outside-key', 2);
    await w.store.commit();
    const db = new Database(w.file, { readonly: true });
    const [row] = db.prepare<[], Buffer>("SELECT facts FROM journal WHERE run_id = 'r'").pluck().all();
    db.close();
    expect(rowNames(row!)).toEqual({ base: 8, names: ['an-outside-key'] });
    const r = open(dir);
    expect(r.log.tasks('r')).toEqual([{ task: t, status: 'dispatched' }]);
    w.close();
    // Without its plan, the run's rows cannot be read: the error says why.
    const raw = new Database(path.join(dir, 'state.db'));
    raw.exec("UPDATE runs SET plan_hash = NULL WHERE run_id = 'r'");
    raw.close();
    expect(() => open(dir).log.tasks('r')).toThrow(/run r cannot be read: its rows number their names after 8 of its plan's, but its plan is not on file/);
  });

  it('events tail reads the events of interleaved runs in order, page by page, losing none', async () => {
    const dir = freshDir();
    const w = open(dir);
    const runs = ['a', 'b', 'c'];
    for (const r of runs) await started(w, r);
    const sent: EventEnvelope[] = [];
    for (let commit = 0; commit < 30; commit++) {
      // Each commit interleaves the runs' events: one row per run, numbers alternating.
      for (let i = 0; i < 7; i++) {
        const e = completed(runs[(commit + i) % 3]!, `s${commit}-${i}`);
        sent.push(e);
        w.log.appendEvents([e]);
      }
      await w.store.commit();
    }
    const r = open(dir);
    for (const limit of [1, 5, 64, 1000]) {
      const got: EventEnvelope[] = [];
      let seq = 0;
      for (;;) {
        const page = r.log.eventsAfter(seq, limit);
        if (page.length === 0) break;
        // Every event of the rows read (a row per run per commit here: 2-3 events each).
        expect(page.length).toBeLessThanOrEqual(limit + 3 * 3);
        expect(page.map((p) => p.seq)).toEqual([...page.map((p) => p.seq)].sort((x, y) => x - y));
        got.push(...page.map((p) => p.event));
        seq = page.at(-1)!.seq;
      }
      expect(got.map((e) => e.id)).toEqual(sent.map((e) => e.id));
    }
    expect(r.log.lastEventSeq()).toBe(sent.length);
    // One run's events, in order, across its rows (status reads failed attempts' errors from them).
    for (const run of runs) expect(r.log.runEvents!(run).map((e) => e.id)).toEqual(sent.filter((e) => (e.detail as { runId: string }).runId === run).map((e) => e.id));
    expect(r.log.runEvents!('nosuch')).toEqual([]);
    // A row of many events (one commit of a wide fan-out) is read whole by one page, not once
    // per page of 1,000.
    const wide = Array.from({ length: 2_500 }, (_, i) => completed('a', `wide-${i}`));
    w.log.appendEvents(wide);
    await w.store.commit();
    expect(r.log.eventsAfter(sent.length, 1000).map((p) => p.event.id)).toEqual(wide.map((e) => e.id));
    expect(r.log.eventsAfter(sent.length + 2_500, 1000)).toEqual([]);
    // The row store (state dirs from before the journal) reads them the same way.
    const rowsDir = freshDir();
    const rows = openSqliteState({ dir: rowsDir });
    try {
      await rows.store.startRun({ runId: 'a', workflow: 'wf', input: null, startedAt: now });
      const mine = [completed('a', 'x'), completed('b', 'y'), completed('a', 'z')];
      rows.log.appendEvents(mine);
      await rows.store.commit();
      expect(rows.log.runEvents!('a').map((e) => e.id)).toEqual([mine[0]!.id, mine[2]!.id]);
    } finally {
      rows.close();
    }
  });

  it('gc removes finished runs and the events of no run that are processed, and keeps the rest', async () => {
    const dir = freshDir();
    const s = open(dir);
    await started(s, 'old');
    await started(s, 'live');
    s.log.recordTask(task('old', 'x'));
    s.log.recordTask(task('live', 'x'));
    const orphan = (id: string): EventEnvelope => ({ id, source: 'x', 'detail-type': 'Y', time: '', detail: {} });
    const [done] = s.log.appendEvents([orphan('o1')]);
    s.log.markProcessed([done!]);
    await s.store.commit();
    const [open1] = s.log.appendEvents([orphan('o2')]);
    await s.store.finishRun('old', { status: 'succeeded', finishedAt: 10 });
    await s.store.release('old');
    await s.store.commit();
    const removed = s.log.gc(1_000);
    expect(removed).toEqual({ runs: 1, runIds: ['old'], deadLetters: 0, unstarted: [] });
    expect(s.log.tasks('old')).toEqual([]);
    expect(s.log.tasks('live').map((e) => e.task.step)).toEqual(['x']);
    expect(s.log.pendingEvents().map((p) => p.seq)).toEqual([open1]);
    const db = new Database(s.file, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM journal WHERE run_id IS NULL').get()).toEqual({ n: 1 });
    db.close();
  });

  it('gc keeps the row that marks an event of no run processed while the row of that event stays (for another event, pending): the event is not pending again', async () => {
    const dir = freshDir();
    const s = open(dir);
    const orphan = (id: string): EventEnvelope => ({ id, source: 'x', 'detail-type': 'Y', time: '', detail: {} });
    // One row holds both events; the mark of the first is in the next commit's row.
    const [first, second] = s.log.appendEvents([orphan('o1'), orphan('o2')]);
    await s.store.commit();
    s.log.markProcessed([first!]);
    await s.store.commit();
    s.log.gc(0);
    s.close();
    expect(open(dir).log.pendingEvents().map((p) => p.seq)).toEqual([second]);
  });

  // gc in another process deletes the plans no run uses: a long-lived engine (joinflow dev) must
  // put its plan back for its next run, though it had saved it before.
  it.each([['journal', openJournalState], ['row', openRowState]] as const)('an engine saves its plan again after gc in another process deleted it (%s store)', async (_kind, openState) => {
    const dir = freshDir();
    const state = openState({ dir });
    const engine = createEngine({ store: state.store, log: state.log, groupCommitMs: 0 });
    try {
      engine.register(compiled(diamondDef));
      expect((await engine.run('diamond', null, { runId: 'before' })).status).toBe('succeeded');
      const other = openState({ dir });
      expect(other.log.gc(Date.now() + 60_000).runIds).toEqual(['before']);
      other.close();
      expect((await engine.run('diamond', null, { runId: 'after' })).status).toBe('succeeded');
      const reader = openState({ dir });
      try {
        expect(reader.log.runPlan('after')?.workflow).toBe('diamond');
        expect(reader.log.attempts('after').map((a) => a.step).sort()).toEqual(['a', 'b', 'c']);
      } finally {
        reader.close();
      }
    } finally {
      await engine.close();
      state.close();
    }
  });

  it('a finished task lets go of its payload in memory, and is still read back whole', async () => {
    const dir = freshDir();
    const s = open(dir);
    await started(s, 'r', { doc: 'x'.repeat(1000) });
    const t: Task = { ...task('r', 'map', 1, { doc: 'x'.repeat(1000) }), item: 7, event: { input: { doc: 'x'.repeat(1000) }, results: { split: [1, 2] }, item: { big: 'y'.repeat(500) }, index: 7 } };
    s.log.recordTask(t);
    s.log.taskStarted(t, 10);
    s.log.taskFinished(t, 'succeeded', 20);
    expect(s.log.attempts('r')).toEqual([{ step: 'map', item: 7, attempt: 1, status: 'succeeded', startedAt: 10, finishedAt: 20 }]);
    // The payload is on file (not yet committed: read through the open transaction).
    expect(s.log.tasks('r')).toEqual([{ task: t, status: 'succeeded', startedAt: 10, finishedAt: 20 }]);
    await s.store.commit();
    s.close();
    const again = open(dir);
    expect(again.log.tasks('r')).toEqual([{ task: t, status: 'succeeded', startedAt: 10, finishedAt: 20 }]);
  });

  it('a task of another shape than the processor makes (an extra key, a key left undefined) is read back whole', async () => {
    const dir = freshDir();
    const s = open(dir);
    await started(s, 'r');
    const extra = { ...task('r', 'a'), note: { why: 'added by hand' } } as Task;
    const undefinedKey: Task = { ...task('r', 'b'), timeoutMs: undefined, placement: 'lambda' };
    const plain: Task = { ...task('r', 'c'), timeoutMs: 5000, placement: 'batch-gpu', event: { input: { x: 1 }, results: { a: null, b: [1] } } };
    for (const t of [extra, undefinedKey, plain]) s.log.recordTask(t);
    await s.store.commit();
    s.close();
    const again = open(dir);
    const back = again.log.tasks('r').map((e) => e.task);
    expect(back).toEqual([extra, undefinedKey, plain]);
    expect((back[0] as Task & { note?: unknown }).note).toEqual({ why: 'added by hand' });
  });

  it('an unfinished entry handed out keeps its task when that task then finishes (as recovery uses it)', async () => {
    const dir = freshDir();
    const s = open(dir);
    await started(s, 'r');
    const t: Task = { ...task('r', 'x'), event: { input: null, results: { a: 1 } } };
    s.log.recordTask(t);
    s.log.taskStarted(t, 1);
    const [entry] = s.log.unfinishedTasks();
    s.log.taskFinished(entry!.task, 'cancelled', 2);
    // Recovery builds the next attempt from the entry it was given.
    expect(entry!.task.event).toEqual({ input: null, results: { a: 1 } });
  });

  it('events of no run stay pending across a restart until processed', async () => {
    const dir = freshDir();
    const a = open(dir);
    const stray: EventEnvelope = { id: 'x-1', source: 'my.app', 'detail-type': 'Something', time: '', detail: { n: 1 } };
    const [seq] = a.log.appendEvents([stray]);
    await a.store.commit();
    a.close();
    const b = open(dir);
    expect(b.log.pendingEvents()).toEqual([{ seq, event: stray }]);
    b.log.markProcessed([seq!]);
    await b.store.commit();
    b.close();
    expect(open(dir).log.pendingEvents()).toEqual([]);
  });

  it('a run released long ago still takes late facts, numbered after its rows on file', async () => {
    const dir = freshDir();
    const s = open(dir);
    // 70 runs end and are released: the first ones' name tables leave memory.
    for (let i = 0; i < 70; i++) {
      await started(s, `r${i}`);
      s.log.recordTask(task(`r${i}`, `step-${i}`));
      s.log.appendEvents([completed(`r${i}`, `step-${i}`)]);
      await s.store.finishRun(`r${i}`, { status: 'succeeded', finishedAt: now });
      await s.store.release(`r${i}`);
      await s.store.commit();
    }
    const late = completed('r0', 'late-step');
    s.log.appendEvents([late]);
    await s.store.commit();
    s.close();
    const r = open(dir);
    expect(r.log.tasks('r0').map((e) => e.task.step)).toEqual(['step-0']);
    expect(r.log.eventsAfter(0, 1000).filter((e) => e.event.detail['runId'] === 'r0').map((e) => e.event.id)).toContain(late.id);
  });

  it('a rollback forgets what memory had beyond the file', async () => {
    const dir = freshDir();
    const s = open(dir);
    await started(s, 'r');
    await s.store.arrive('r', 'j', 'a', 2);
    await s.store.commit();
    await s.store.arrive('r', 'j', 'b', 2);
    s.log.recordTask(task('r', 'y'));
    s.close();
    const again = open(dir);
    expect(await again.store.arrive('r', 'j', 'b', 2)).toEqual({ fresh: true, count: 2, need: 2 });
    expect(again.log.tasks('r')).toEqual([]);
  });

  it("keeps a fan-in's collected outputs once per row, not once for its event and its result each", async () => {
    const dir = freshDir();
    const s = open(dir);
    const engine = createEngine({ store: s.store, log: s.log, groupCommitMs: 0 });
    try {
      const items = Array.from({ length: 40 }, (_, i) => i);
      engine.register(
        compiled({
          name: 'collect',
          steps: {
            list: { executor: { type: 'simulate', durationMs: 0, output: { items } } },
            each: { needs: ['list'], forEach: { step: 'list', path: 'items' }, executor: { type: 'simulate', durationMs: 0, output: { pad: 'x'.repeat(5_000) } } },
            after: { needs: ['each'], executor: { type: 'simulate', durationMs: 0 } },
          },
        }),
      );
      expect((await engine.run('collect', null)).status).toBe('succeeded');
    } finally {
      await engine.close();
    }
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    const perRow: number[] = [];
    try {
      for (const { facts } of db.prepare<[], { facts: Buffer }>('SELECT facts FROM journal ORDER BY id').all()) {
        const values = splitRow(facts).head.at(-1) as unknown[];
        perRow.push(values.filter((v) => Array.isArray(v) && v.length === 40 && typeof v[0] === 'object').length);
      }
    } finally {
      db.close();
    }
    // Two rows have it (the collect's event, then its result with the next task): once each,
    // where the second had it twice before.
    expect(perRow.filter((n) => n > 0)).toEqual([1, 1]);
  });

  it('refuses a state file of the row store with a message saying what it is', () => {
    const dir = freshDir();
    const db = new Database(path.join(dir, 'state.db'));
    db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL, created_at INTEGER NOT NULL); INSERT INTO schema_version VALUES (2, 0);');
    db.close();
    expect(() => openJournalState({ dir })).toThrow(/state schema version 2, but this joinflow uses version 7/);
  });

  it('reads a state file of schema 4 and makes it schema 7 with its first commit, so that joinflow 4 refuses what it would misread', async () => {
    const dir = freshDir();
    const first = openJournalState({ dir });
    await first.store.startRun({ runId: 'r4', workflow: 'wf', input: null, startedAt: 1 });
    await first.store.commit();
    first.close();
    const versions = () => {
      const db = new Database(path.join(dir, 'state.db'));
      try {
        return db.prepare<[], number>('SELECT version FROM schema_version ORDER BY version').pluck().all();
      } finally {
        db.close();
      }
    };
    // As joinflow 4 left it.
    const db = new Database(path.join(dir, 'state.db'));
    db.exec('DELETE FROM schema_version; INSERT INTO schema_version VALUES (4, 0);');
    db.close();
    const again = open(dir);
    expect(await again.store.getRun('r4')).toMatchObject({ runId: 'r4', startedAt: 1 });
    expect(versions()).toEqual([4]);
    await again.store.startRun({ runId: 'r5', workflow: 'wf', input: null, startedAt: 2 });
    await again.store.commit();
    expect(versions()).toEqual([4, 7]);
  });
});
