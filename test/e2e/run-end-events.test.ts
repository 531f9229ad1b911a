/**
 * A run's end (Run Succeeded / Failed / Cancelled) drives no trigger. With no one else on the bus it
 * is logged as processed in the commit that ends the run, as Step Started is: no row of its own is
 * written after the run to mark it processed, and recovery has nothing of it to deliver. With a
 * subscriber it goes over the bus as before.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { closedAfterEach } from '../helpers/engines.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-run-end-');
const open = closedAfterEach();

const plan = compileWorkflow(
  { name: 'pair', steps: { a: { executor: { type: 'simulate', durationMs: 0 } }, b: { needs: ['a'], executor: { type: 'process', command: 'false' } } } },
  { source: 'test' },
);
const ok = compileWorkflow({ name: 'one', steps: { a: { executor: { type: 'simulate', durationMs: 0 } } } }, { source: 'test' });

function durable() {
  const dir = tmp();
  const state = openJournalState({ dir });
  // A window no run here outlasts, even on a loaded machine: the rows counted below are the
  // commits the runs make themselves, not those of a window that ran out mid-run (10 ms).
  const engine = createEngine({ store: state.store, log: state.log, stateDir: dir, groupCommitMs: 60_000 });
  engine.register(plan);
  engine.register(ok);
  open.push({ engine, state });
  return { dir, state, engine };
}

/** The journal's rows by run, as (run id, how many). */
function rowsByRun(dir: string): Map<string | null, number> {
  const db = new Database(`${dir}/state.db`, { readonly: true });
  try {
    const rows = db.prepare<[], { run_id: string | null; n: number }>('SELECT run_id, count(*) AS n FROM journal GROUP BY run_id').all();
    return new Map(rows.map((r) => [r.run_id, r.n]));
  } finally {
    db.close();
  }
}

describe("a run's end", () => {
  it('is logged as processed with the run, and no row follows the run to mark it', async () => {
    const { dir, state, engine } = durable();
    // The rows each run has when its run() resolves (its end is committed by then).
    const atEnd = new Map<string, number | undefined>();
    const runOf = async (workflow: string) => {
      const result = await engine.run(workflow, null);
      atEnd.set(result.runId, rowsByRun(dir).get(result.runId));
      return result;
    };
    const succeeded = await runOf('one');
    const failed = await runOf('pair');
    const again = await runOf('one');
    expect([succeeded.status, failed.status, again.status]).toEqual(['succeeded', 'failed', 'succeeded']);
    await state.store.commit();
    const rows = rowsByRun(dir);
    // A run of in-process steps is one row (one commit, at its end); the process step of "pair"
    // commits before it starts, so that run has two.
    expect(atEnd.get(succeeded.runId)).toBe(1);
    expect(atEnd.get(failed.runId)).toBe(2);
    for (const [runId, n] of atEnd) expect(rows.get(runId)).toBe(n);
    expect(rows.has(null)).toBe(false);
    expect(state.log.pendingEvents()).toEqual([]);
    // Still in the log for `events tail`, with the run's other events.
    const types = state.log.eventsAfter(0, 100).map((e) => `${e.event['detail-type']} ${(e.event.detail as { runId: string }).runId}`);
    expect(types).toContain(`Run Succeeded ${succeeded.runId}`);
    expect(types).toContain(`Run Failed ${failed.runId}`);
    expect(types).toContain(`Run Succeeded ${again.runId}`);
  });

  it('is still counted among the run\'s events', async () => {
    const { engine } = durable();
    const result = await engine.run('one', null);
    // Run Requested, Step Started, Step Completed, Run Succeeded.
    expect(result.events).toBe(4);
  });

  it('reaches a subscriber of the bus, and is then marked processed once delivered', async () => {
    const { state, engine } = durable();
    const heard: EventEnvelope[] = [];
    engine.bus.subscribe({ 'detail-type': ['Run Succeeded', 'Run Failed', 'Run Cancelled'] }, (events) => {
      heard.push(...events);
    });
    const succeeded = await engine.run('one', null);
    const failed = await engine.run('pair', null);
    await engine.bus.idle();
    expect(heard.map((e) => `${e['detail-type']} ${(e.detail as { runId: string }).runId}`)).toEqual([`Run Succeeded ${succeeded.runId}`, `Run Failed ${failed.runId}`]);
    await state.store.commit();
    expect(state.log.pendingEvents()).toEqual([]);
  });

  it('reaches a subscriber of an in-memory engine too, and none is needed for the run to end', async () => {
    const quiet = createEngine({});
    quiet.register(ok);
    open.push({ engine: quiet, state: { close() {} } });
    expect((await quiet.run('one', null)).status).toBe('succeeded');

    const engine = createEngine({});
    engine.register(ok);
    open.push({ engine, state: { close() {} } });
    const heard: string[] = [];
    engine.bus.subscribe({ 'detail-type': ['Run Succeeded'] }, (events) => {
      for (const e of events) heard.push((e.detail as { runId: string }).runId);
    });
    const result = await engine.run('one', null);
    await engine.bus.idle();
    expect(heard).toEqual([result.runId]);
  });
});
