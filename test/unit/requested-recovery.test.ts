/**
 * A Run Requested that is on file but was not handled when its engine stopped (a commit carried
 * it before the processor got to it) starts its run when the runs of the state dir are recovered:
 * the request was accepted (PutEvents answered, engine.publish resolved) and must not be lost.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import { joinflow } from '../helpers/cli.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-requested-recovery-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const wf = plan({ name: 'wf', steps: { a: { executor: { type: 'simulate', durationMs: 0, output: 'A' } } }, output: 'a' });
const request = (id: string, detail: Record<string, unknown>): EventEnvelope => ({ id, source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(0).toISOString(), detail: { workflow: 'wf', ...detail } });

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
    const state = openJournalState({ dir });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
    expect(await engine.recover()).toEqual([runId]);
    expect(await engine.wait(runId)).toMatchObject({ status: 'succeeded', output: 'A' });
    expect((await state.store.getRun(runId))?.input).toEqual(event.detail['input']);
  });

  it('is continued by joinflow resume, with the runs that were running', async () => {
    const dir = await stoppedBefore([request('e1', { runId: 'r1', input: { x: 1 } }), request('e2', { input: { x: 2 } })], ['r1', 'e2']);
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
    const state = openJournalState({ dir });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
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
