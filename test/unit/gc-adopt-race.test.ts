/**
 * engine.publish (what `joinflow dev` answers PutEvents with) takes on the runs its Run Requested
 * events start (their rows saved, status NULL) in the transaction that logs those events: a
 * commit in between (another batch applied while publish awaited the store) would put a row on
 * file that nothing pending names, which `joinflow gc` in another process deletes as a run that
 * never started; the run then started without its plan and options on file (resume, status and
 * events tail of other processes need them).
 */
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { closedAfterEach, oneStepWf, runRequest } from '../helpers/run-requests.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-gc-adopt-race-');
const closers = closedAfterEach();

const wf = oneStepWf;
const request = runRequest;
const stores = { journal: openJournalState, rows: openSqliteState };

describe.each(Object.keys(stores) as Array<keyof typeof stores>)('engine.publish of two Run Requested, gc in another process between its awaits (%s store)', (kind) => {
  it('gc deletes neither run taken on: both start with their plan and options on file', async () => {
    const dir = tmp();
    const state = stores[kind]({ dir });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
    engine.register(wf);
    const getRun = state.store.getRun.bind(state.store);
    let unstarted: string[] | undefined;
    state.store.getRun = (runId) => {
      if (runId === 'r2' && unstarted === undefined) {
        // What another continuation may do while publish awaits: commit (a batch applied). gc
        // in another process, waiting for the write lock, takes it right after.
        void state.store.commit();
        const other = stores[kind]({ dir });
        try {
          unstarted = other.log.gc(0).unstarted;
        } finally {
          other.close();
        }
      }
      return getRun(runId);
    };
    await engine.publish([request('p1', { runId: 'r1', input: 1 }), request('p2', { runId: 'r2', input: 2 })]);
    expect(unstarted).toEqual([]);
    expect(await engine.wait('r1')).toMatchObject({ status: 'succeeded', output: 'A' });
    expect(await engine.wait('r2')).toMatchObject({ status: 'succeeded', output: 'A' });
    await engine.close();
    const reader = stores[kind]({ dir });
    closers.push(() => reader.close());
    for (const runId of ['r1', 'r2']) {
      expect(reader.log.runPlan(runId)?.workflow, runId).toBe('wf');
      expect(reader.log.runOptions(runId), runId).toMatchObject({ pid: process.pid });
    }
  });
});
