/**
 * The widest forEach an embedded engine runs: it holds every item's task at once, so a fan-out
 * past its heap would crash it (and the resume of a durable run the same way). A wider one fails
 * its step with ForEachTooWide, naming the width and the limit.
 */
import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { widestForEach } from '../../src/adapters/local/engine-support.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-foreach-width-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const fan = (n: number) =>
  plan({
    name: `fan-${n}`,
    steps: {
      list: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: n }, (_, i) => i) } },
      each: { needs: ['list'], forEach: 'list', executor: { type: 'simulate', durationMs: 0, output: 1 } },
      after: { needs: ['each'], executor: { type: 'simulate', durationMs: 0, output: 'done' } },
    },
  });

describe('the widest forEach', () => {
  it('fails a wider one with ForEachTooWide before any item runs, and runs one at the limit', async () => {
    const engine = createEngine({ maxForEachItems: 5 });
    closers.push(() => engine.close());
    engine.register(fan(6));
    engine.register(fan(5));
    const wide = await engine.run('fan-6', null);
    expect(wide.status).toBe('failed');
    expect(wide.error).toMatchObject({ type: 'ForEachTooWide', step: 'each' });
    expect(wide.error?.message).toBe("step \"each\": a forEach over 6 items, more than this engine runs (at most 5: the engine's maxForEachItems)");
    expect(wide.steps).toMatchObject({ succeeded: 1, failed: 1 });
    expect(wide.trace.filter((r) => r.step === 'each')).toEqual([]);
    expect(await engine.run('fan-5', null)).toMatchObject({ status: 'succeeded', output: { after: 'done' } });
  });

  it('fails it on a durable store too, leaving no task unfinished', async () => {
    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log, maxForEachItems: 3 });
    closers.push(() => engine.close());
    engine.register(fan(4));
    const r = await engine.run('fan-4', null);
    expect(r.error).toMatchObject({ type: 'ForEachTooWide', step: 'each' });
    expect(state.log.unfinishedTasks(r.runId)).toEqual([]);
  });

  it('by default holds what the heap holds at about 3 KB per item (4 KB with a durable log), and says how to raise it', () => {
    const heapKb = Math.round(getHeapStatistics().heap_size_limit / 1_048_576) * 1024;
    const memory = widestForEach({});
    expect(memory.items).toBe(Math.floor(heapKb / 3));
    expect(memory.why).toContain('--max-old-space-size');
    const durable = widestForEach({ log: {} as never });
    expect(durable.items).toBe(Math.floor(heapKb / 4));
    expect(durable.why).toContain('on a durable store');
  });

  it('refuses a maxForEachItems that is not a whole number of items', () => {
    expect(() => createEngine({ maxForEachItems: -1 })).toThrow(/maxForEachItems: a whole number of items, 0 or more, got -1/);
    expect(() => createEngine({ maxForEachItems: 1.5 })).toThrow(/maxForEachItems/);
  });
});
