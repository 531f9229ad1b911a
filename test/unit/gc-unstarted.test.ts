/**
 * gc deletes the rows of runs taken on that never started (`runs.status` NULL: the engine saved
 * the run's plan when it accepted its Run Requested, which was then handled without starting it,
 * e.g. dead-lettered) once nothing pending would start them, in both SQLite stores; a row whose
 * request is still pending stays (recovery starts it), also when that request names its run by
 * its event id (no runId: logged among the events of no run).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';

type State = ReturnType<typeof openJournalState> | ReturnType<typeof openSqliteState>;
const dirs: string[] = [];
const opened: State[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-gc-unstarted-'));
  dirs.push(dir);
  return dir;
}
const stores = {
  journal: (dir: string) => openJournalState({ dir }),
  rows: (dir: string) => openSqliteState({ dir }),
};

/** The ids of the rows without a status, and the rows (journal or events) of `runId`. */
function onFile(dir: string, runId: string): { unstarted: string[]; rowsOf: number } {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    const unstarted = db.prepare<[], string>('SELECT run_id FROM runs WHERE status IS NULL ORDER BY run_id').pluck().all();
    const table = db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'journal'`).pluck().get() ? 'journal' : 'events';
    return { unstarted, rowsOf: db.prepare<[string], number>(`SELECT count(*) FROM ${table} WHERE run_id = ?`).pluck().get(runId)! };
  } finally {
    db.close();
  }
}

const plan = { workflow: 'wf', steps: {}, triggers: [] } as never;
let n = 0;
function requested(detail: Record<string, unknown>, id = `req-${++n}`): EventEnvelope {
  return { id, source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(Date.UTC(2026, 11, 1) + ++n).toISOString(), detail: { workflow: 'wf', ...detail } };
}

describe.each(Object.keys(stores) as Array<keyof typeof stores>)('gc of runs taken on that never started (%s store)', (kind) => {
  const open = (dir: string) => {
    const s = stores[kind](dir);
    opened.push(s);
    return s;
  };

  it('deletes those whose request was handled (dead-lettered), keeps those whose request is pending, then deletes them once it is handled', async () => {
    const dir = freshDir();
    const s = open(dir);
    // As the engine takes a run on: its plan saved, its request logged, one commit.
    const takeOn = (runId: string, event: EventEnvelope) => {
      s.log.saveRun(runId, plan, { pid: 1 });
      return s.log.appendEvents([event])[0]!;
    };
    const refusedEvent = requested({ runId: 'refused', input: { r: 1 } });
    const refused = takeOn('refused', refusedEvent);
    takeOn('waiting', requested({ runId: 'waiting', input: { w: 1 } }));
    // Without a runId: its event id names the run.
    takeOn('named-1', requested({ input: 'by id' }, 'named-1'));
    const namedDone = takeOn('named-2', requested({ input: 'by id, handled' }, 'named-2'));
    // A run that started: gc keeps it, running.
    const started = takeOn('started', requested({ runId: 'started', input: 1 }));
    await s.store.startRun({ runId: 'started', workflow: 'wf', input: 1, startedAt: 1 });
    s.log.markProcessed([started]);
    await s.store.commit();
    // Handled without starting them: dead-lettered.
    s.log.markProcessed([refused, namedDone]);
    s.log.deadLetter(refusedEvent, 'refused', 5);
    await s.store.commit();
    const before = onFile(dir, 'refused');
    expect(before.unstarted).toEqual(['named-1', 'named-2', 'refused', 'waiting']);
    expect(before.rowsOf).toBeGreaterThan(0);

    const removed = s.log.gc(0);
    expect(removed).toMatchObject({ runs: 0, runIds: [], deadLetters: 0 });
    expect([...(removed.unstarted ?? [])].sort()).toEqual(['named-2', 'refused']);
    expect(onFile(dir, 'refused')).toEqual({ unstarted: ['named-1', 'waiting'], rowsOf: 0 });
    // The dead letter keeps the request until it is older than the cutoff.
    expect(s.log.deadLetters().map((d) => d.event)).toEqual([refusedEvent]);
    s.close();
    opened.length = 0;

    // What recovery reads in a new process: the runs still to start, their requests pending.
    const again = open(dir);
    expect(again.log.unstartedRuns!()).toEqual(['waiting', 'named-1']);
    expect(again.log.pendingEvents().map((p) => p.event.id).sort()).toEqual(['named-1', expect.stringMatching(/^req-/)]);
    expect(await again.store.getRun('started')).toMatchObject({ status: 'running' });
    again.log.markProcessed(again.log.pendingEvents().map((p) => p.seq));
    await again.store.commit();
    expect([...(again.log.gc(0).unstarted ?? [])].sort()).toEqual(['named-1', 'waiting']);
    expect(onFile(dir, 'waiting')).toEqual({ unstarted: [], rowsOf: 0 });
  });

  it('a run id whose row gc deleted can be taken on and run again, in the same process', async () => {
    const dir = freshDir();
    const s = open(dir);
    s.log.saveRun('again', plan, { pid: 1 });
    s.log.markProcessed(s.log.appendEvents([requested({ runId: 'again', input: 1 })]));
    await s.store.commit();
    expect(s.log.gc(0).unstarted).toEqual(['again']);
    s.log.saveRun('again', plan, { pid: 1 });
    const request = requested({ runId: 'again', input: 2 });
    s.log.appendEvents([request]);
    await s.store.startRun({ runId: 'again', workflow: 'wf', input: 2, startedAt: 3 });
    await s.store.commit();
    s.close();
    opened.length = 0;
    const reader = open(dir);
    expect(await reader.store.getRun('again')).toMatchObject({ status: 'running', input: 2 });
    expect(reader.log.pendingEvents().map((p) => p.event)).toEqual([request]);
  });
});

describe('gc of a state dir of journal schema 6', () => {
  it("deletes its run taken on whose request was dead-lettered, and keeps the one whose request is pending", () => {
    const dir = freshDir();
    cpSync(path.join(import.meta.dirname, '../fixtures/journal-v6/state.db'), path.join(dir, 'state.db'));
    const s = openJournalState({ dir });
    opened.push(s);
    expect(onFile(dir, 'refused')).toEqual({ unstarted: ['refused', 'waiting'], rowsOf: 1 });
    // Before 0: no finished run is old enough; only what never started goes.
    expect(s.log.gc(0)).toMatchObject({ runs: 0, unstarted: ['refused'] });
    expect(onFile(dir, 'refused')).toEqual({ unstarted: ['waiting'], rowsOf: 0 });
    expect(s.log.unstartedRuns!()).toEqual(['waiting']);
    expect(s.log.pendingEvents().map((p) => p.event.detail['runId'])).toEqual(['live', 'early', 'waiting']);
  });
});
