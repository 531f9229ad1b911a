import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { RunTracker } from '../../src/adapters/local/run-tracker.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-run-steps-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

// "each" fails at dispatch, before any attempt: its forEach source is not an array.
const NOT_ARRAY = plan({
  name: 'not-array',
  steps: {
    list: { executor: { type: 'simulate', durationMs: 0, output: { items: 5 } } },
    each: { needs: ['list'], forEach: { step: 'list', path: 'items' }, executor: { type: 'simulate', durationMs: 0 } },
  },
});

describe('the steps a run result counts', () => {
  it('count a step that failed the run without an attempt as failed, in memory and from the log', async () => {
    const memory = createEngine();
    closers.push(() => memory.close());
    memory.register(NOT_ARRAY);
    const inMemory = await memory.run('not-array', null);
    expect(inMemory.error?.type).toBe('ForEachNotArray');
    expect(inMemory.steps).toEqual({ total: 2, succeeded: 1, failed: 1, retried: 0 });

    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    const durable = createEngine({ store: state.store, log: state.log });
    closers.push(() => durable.close());
    durable.register(NOT_ARRAY);
    const logged = await durable.run('not-array', null);
    expect(logged.steps).toEqual({ total: 2, succeeded: 1, failed: 1, retried: 0 });
    const record = await state.store.getRun(logged.runId);
    expect(RunTracker.fromRecord(record!, state.log).steps).toEqual({ total: 2, succeeded: 1, failed: 1, retried: 0 });
  });

  it('do not count the failing step twice when it had attempts', async () => {
    const engine = createEngine();
    closers.push(() => engine.close());
    engine.register(plan({ name: 'fails', steps: { boom: { executor: { type: 'process', command: 'false' }, retry: { maxAttempts: 2, backoffMs: 0 } } } }));
    const result = await engine.run('fails', null);
    expect(result.status).toBe('failed');
    expect(result.steps).toEqual({ total: 1, succeeded: 0, failed: 1, retried: 1 });
  });
});
