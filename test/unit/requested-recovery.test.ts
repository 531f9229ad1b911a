/**
 * A Run Requested that is on file but was not handled when its engine stopped (a commit carried
 * it before the processor got to it) starts its run when the runs of the state dir are recovered:
 * the request was accepted (PutEvents answered, engine.publish resolved) and must not be lost.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import { joinflow } from '../helpers/cli.ts';
import { plan } from '../helpers/plans.ts';
import { closedAfterEach, oneStepWf, runRequest } from '../helpers/run-requests.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-requested-recovery-');
const closers = closedAfterEach();

const wf = oneStepWf;
const request = runRequest;

/** A durable engine on the state of `dir`, both closed after the test. */
function durableEngine(dir: string) {
  const state = openJournalState({ dir });
  closers.push(() => state.close());
  const engine = createEngine({ store: state.store, log: state.log });
  closers.push(() => engine.close());
  return { state, engine };
}

/** A state dir whose engine logged (and committed) `events` for the runs it adopted, and stopped before handling them. */
async function stoppedBefore(events: EventEnvelope[], adopted: string[]): Promise<string> {
  const dir = tmp();
  const s = openJournalState({ dir });
  for (const runId of adopted) s.log.saveRun(runId, wf, { pid: 999_999_999, root: process.cwd() });
  s.log.appendEvents(events);
  await s.store.commit();
  s.close();
  return dir;
}

describe('a Run Requested on file whose run had not started', () => {
  it.each([
    ['named by its runId', request('e1', { runId: 'r1', input: { x: 1 } }), 'r1'],
    ['without a runId (the event id names the run)', request('e2', { input: { x: 2 } }), 'e2'],
  ])('starts its run on recovery: %s', async (_what, event, runId) => {
    const dir = await stoppedBefore([event], [runId]);
    const { state, engine } = durableEngine(dir);
    expect(await engine.recover()).toEqual([runId]);
    expect(await engine.wait(runId)).toMatchObject({ status: 'succeeded', output: 'A' });
    expect((await state.store.getRun(runId))?.input).toEqual(event.detail['input']);
  });

  it('is continued by joinflow resume, with the runs that were running', async () => {
    const dir = await stoppedBefore([request('e1', { runId: 'r1', input: { x: 1 } }), request('e2', { input: { x: 2 } })], ['r1', 'e2']);
    // Before: list and status show it as an interrupted run, as resume will take it.
    const listed = joinflow(['list', '--state', dir, '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ runId: string; status: string; interrupted?: boolean }>).map((x) => [x.runId, x.status, x.interrupted]).sort()).toEqual([['e2', 'running', true], ['r1', 'running', true]]);
    const status = joinflow(['status', 'r1', '--state', dir]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`interrupted: the engine process that ran it is gone; 'joinflow resume r1 --state ${dir}' continues it`);
    const timeline = joinflow(['timeline', 'r1', '--state', dir]);
    expect([timeline.code, timeline.stdout]).toEqual([0, expect.stringContaining(`'joinflow resume r1 --state ${dir}' continues it`)]);
    const r = joinflow(['resume', '--state', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('joinflow resume: continuing 2 run(s): r1, e2');
    const runs = JSON.parse(joinflow(['list', '--state', dir, '--json']).stdout) as Array<{ runId: string; status: string }>;
    expect(runs.map((x) => [x.runId, x.status]).sort()).toEqual([['e2', 'succeeded'], ['r1', 'succeeded']]);
  });
});

describe('engine.publish on a durable engine (what joinflow dev answers PutEvents with)', () => {
  it('resolves once the events are on file', async () => {
    const dir = tmp();
    const { engine } = durableEngine(dir);
    engine.register(wf);
    await engine.publish([request('p1', { runId: 'r9', input: { x: 9 } })]);
    // Another connection, as another process would read the file after a crash here.
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) FROM journal WHERE run_id = 'r9'").pluck().get()).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    expect(await engine.wait('r9')).toMatchObject({ status: 'succeeded' });
  });
});

describe('an unstarted run named to the CLI', () => {
  it('joinflow resume <runId> continues it', async () => {
    const dir = await stoppedBefore([request('e1', { runId: 'r1', input: { x: 1 } }), request('e2', { input: { x: 2 } })], ['r1', 'e2']);
    const r = joinflow(['resume', '--state', dir, 'r1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runId: 'r1', status: 'succeeded', output: 'A' });
    // The other one is left for another resume.
    expect(joinflow(['resume', '--state', dir, 'e2', '--json']).code).toBe(0);
  });

  it.each([
    ['named by its runId', request('e1', { runId: 'r1' }), 'r1'],
    ['without a runId', request('e2', {}), 'e2'],
  ])('joinflow cancel <runId> cancels it, and resume does not start it: %s', async (_what, event, runId) => {
    const dir = await stoppedBefore([event], [runId]);
    const r = joinflow(['cancel', '--state', dir, runId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`run ${runId} cancelled`);
    const after = joinflow(['resume', '--state', dir]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toContain('no unfinished runs');
    const state = openJournalState({ dir });
    try {
      expect((await state.store.getRun(runId))?.status).toBe('cancelled');
      // Its request is handled: no event of it is left pending.
      expect(state.log.pendingEvents()).toEqual([]);
    } finally {
      state.close();
    }
  });
});

describe('a Run Requested whose event id cannot name a run (no runId: the processor dead-letters it)', () => {
  it('is not taken on by a live engine (it would never end)', async () => {
    const dir = tmp();
    const { engine } = durableEngine(dir);
    engine.register(wf);
    await engine.publish([request('bad/id', { input: 1 })]);
    await engine.bus.idle();
    expect(engine.owns('bad/id')).toBe(false);
    expect(engine.deadLetters.map((d) => d.reason)).toEqual([expect.stringContaining('cannot name the run')]);
  });

  it('is not recovered, when a run row was saved for it', async () => {
    const dir = await stoppedBefore([request('bad/id', { input: 1 }), request('e1', { runId: 'r1' })], ['bad/id', 'r1']);
    const { engine } = durableEngine(dir);
    expect(await engine.recover()).toEqual(['r1']);
  });
});

describe('engine.publish when the state cannot be written', () => {
  it('rejects, not waits for ever, when the engine stopped in the middle of the batch', async () => {
    const dir = tmp();
    const state = openJournalState({ dir });
    closers.push(() => state.close());
    // A write of the batch fails (a full disk): the engine stops before the batch is applied.
    state.log.deadLetter = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    const failures: Error[] = [];
    const engine = createEngine({ store: state.store, log: state.log, onFailure: (e) => failures.push(e) });
    closers.push(() => engine.close());
    engine.register(wf);
    await expect(engine.publish([request('p1', { workflow: 'unknown', runId: 'r9' })])).rejects.toThrow(/SQLITE_FULL/);
    expect(failures).toHaveLength(1);
    await expect(engine.publish([request('p2', { runId: 'r8' })])).rejects.toThrow(/SQLITE_FULL/);
  });
});

describe('the rows of a run started on recovery', () => {
  it('read back, once it has ended, as they were written', async () => {
    const chain = plan({
      name: 'wf',
      steps: {
        a: { executor: { type: 'simulate', durationMs: 0, output: ['x', 'y', 'z'] } },
        b: { needs: ['a'], forEach: 'a', executor: { type: 'simulate', durationMs: 0, output: 'B' } },
        c: { needs: ['b'], executor: { type: 'simulate', durationMs: 0, output: 'C' } },
      },
      output: 'c',
    });
    const dir = tmp();
    const s = openJournalState({ dir });
    s.log.saveRun('r1', chain, { pid: 999_999_999, root: process.cwd() });
    s.log.appendEvents([request('e1', { runId: 'r1', input: { x: 1 } })]);
    await s.store.commit();
    s.close();
    const state = openJournalState({ dir });
    const engine = createEngine({ store: state.store, log: state.log });
    // What the engine published, to compare with what its rows give back (names numbered alike).
    const seen = new Map<string, EventEnvelope>();
    engine.bus.subscribe(null, (events) => void events.forEach((e) => seen.set(e.id, structuredClone(e))));
    expect(await engine.recover()).toEqual(['r1']);
    const result = await engine.wait('r1');
    const tasks = state.log.tasks('r1');
    await engine.close();
    state.close();
    const again = openJournalState({ dir });
    try {
      const events = again.log.runEvents!('r1');
      expect(events.map((e) => e['detail-type'])).toContain(DetailType.RunSucceeded);
      expect(events.length).toBeGreaterThan(8);
      for (const e of events) expect(e).toEqual(seen.get(e.id));
      expect(again.log.tasks('r1')).toEqual(tasks);
      expect(await again.store.getRun('r1')).toMatchObject({ status: result.status, output: result.output });
    } finally {
      again.close();
    }
  });
});

describe('recovery of a run named "undefined"', () => {
  it('does not take an event of no run for one of its own', async () => {
    const foreign: EventEnvelope = { id: 'f1', source: 'myapp', 'detail-type': 'Order Placed', time: new Date(0).toISOString(), detail: { order: 1 } };
    const dir = await stoppedBefore([request('e1', { runId: 'undefined' }), foreign], ['undefined']);
    const { state, engine } = durableEngine(dir);
    expect(await engine.recover()).toEqual(['undefined']);
    expect(await engine.wait('undefined')).toMatchObject({ status: 'succeeded' });
    await engine.close();
    // Left as events of no run are (recovery delivers the runs' own).
    expect(state.log.pendingEvents().map((p) => p.event.id)).toEqual(['f1']);
  });
});
