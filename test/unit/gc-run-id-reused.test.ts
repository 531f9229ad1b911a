/**
 * A run id used again after `joinflow gc` (another process) deleted its finished run, by the
 * engine that ran it: the new run's rows number their names after its plan, as a reader of the
 * file (status, events, timeline, resume) reads them from its first row on, not after the names
 * the engine had read or written for the rows gc deleted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { DetailType } from '../../src/model/events.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-gc-reused-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const wf = plan({ name: 'wf', steps: { a: { executor: { type: 'simulate', durationMs: 0, output: { k: 'A' } } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0, output: 'B' } } }, output: 'b' });

describe('a run id used again by a live engine after gc in another process deleted its run', () => {
  it('the new run reads back in another process', async () => {
    const dir = tmp();
    const state = openJournalState({ dir });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
    engine.register(wf);
    expect(await engine.run('wf', { n: 1 }, { runId: 'x' })).toMatchObject({ status: 'succeeded' });
    const gc = openJournalState({ dir });
    expect(gc.log.gc(Date.now() + 1000).runIds).toEqual(['x']);
    gc.close();
    expect(await engine.run('wf', { n: 2 }, { runId: 'x' })).toMatchObject({ status: 'succeeded', output: 'B' });
    await engine.close();
    const reader = openJournalState({ dir });
    closers.push(() => reader.close());
    expect(await reader.store.getRun('x')).toMatchObject({ status: 'succeeded', input: { n: 2 }, output: 'B' });
    const events = reader.log.runEvents!('x');
    expect(events.find((e) => e['detail-type'] === DetailType.RunRequested)?.detail).toMatchObject({ runId: 'x', input: { n: 2 } });
    expect(events.filter((e) => e['detail-type'] === DetailType.StepCompleted).map((e) => e.detail['step'])).toEqual(['a', 'b']);
    expect(reader.log.attempts('x').map((a) => [a.step, a.status])).toEqual([['a', 'succeeded'], ['b', 'succeeded']]);
  });
});
