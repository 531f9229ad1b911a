import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { RunTracker } from '../../src/adapters/local/run-tracker.ts';
import { settleFailures } from '../../src/adapters/local/engine-support.ts';
import type { Task } from '../../src/ports.ts';
import { summarizeSteps } from '../../src/cli/local-runs.ts';
import { diamondDef, plan } from '../helpers/plans.ts';
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
    expect(inMemory.steps).toEqual({ total: 2, succeeded: 1, failed: 1, cancelled: 0, retried: 0 });

    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    const durable = createEngine({ store: state.store, log: state.log });
    closers.push(() => durable.close());
    durable.register(NOT_ARRAY);
    const logged = await durable.run('not-array', null);
    expect(logged.steps).toEqual({ total: 2, succeeded: 1, failed: 1, cancelled: 0, retried: 0 });
    const record = await state.store.getRun(logged.runId);
    expect(RunTracker.fromRecord(record!, state.log).steps).toEqual({ total: 2, succeeded: 1, failed: 1, cancelled: 0, retried: 0 });
    // status shows the step too, with no attempt and the run's error.
    const each = summarizeSteps(record!, state.log.tasks(logged.runId)).find((s) => s.step === 'each');
    expect(each).toMatchObject({ state: 'failed', attempts: 0, error: { type: 'ForEachNotArray' } });
  });

  it('do not count the failing step twice when it had attempts', async () => {
    const engine = createEngine();
    closers.push(() => engine.close());
    engine.register(plan({ name: 'fails', steps: { boom: { executor: { type: 'process', command: 'false' }, retry: { maxAttempts: 2, backoffMs: 0 } } } }));
    const result = await engine.run('fails', null);
    expect(result.status).toBe('failed');
    expect(result.steps).toEqual({ total: 1, succeeded: 0, failed: 1, cancelled: 0, retried: 1 });
  });

  // Item 1 fails its first attempt, and its retry runs until the run is cancelled; item 0 succeeds.
  const RETRY_CANCELLED = plan({
    name: 'retry-cancelled',
    steps: {
      list: { executor: { type: 'simulate', durationMs: 0, output: { items: [0, 1] } } },
      each: {
        needs: ['list'],
        forEach: { step: 'list', path: 'items' },
        retry: { maxAttempts: 3, backoffMs: 0 },
        executor: { type: 'process', command: 'sh', args: ['-c', 'if [ "$JOINFLOW_ITEM" = 0 ]; then exit 0; fi; if [ "$JOINFLOW_ATTEMPT" = 1 ]; then exit 1; fi; exec sleep 30'] },
      },
    },
  });

  it('count a unit whose retry was cancelled after a failed attempt as cancelled, as status shows it', async () => {
    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    for (const options of [{}, { store: state.store, log: state.log }]) {
      let retrying = false;
      const engine = createEngine({
        ...options,
        // The retry of item 1 has started: the run can be cancelled.
        onEvents: (events) => {
          for (const e of events) {
            const d = e.detail as { step?: string; item?: number; attempt?: number };
            if (e['detail-type'] === 'Step Started' && d.step === 'each' && d.item === 1 && d.attempt === 2) retrying = true;
          }
        },
      });
      closers.push(() => engine.close());
      engine.register(RETRY_CANCELLED);
      const id = await engine.start('retry-cancelled', null);
      while (!retrying) await new Promise((r) => setTimeout(r, 5));
      const ended = engine.wait(id);
      expect(await engine.cancel(id)).toBe(true);
      const result = await ended;
      expect(result.status).toBe('cancelled');
      expect(result.steps).toEqual({ total: 3, succeeded: 2, failed: 0, cancelled: 1, retried: 1 });
      if (options.log) {
        const record = await state.store.getRun(id);
        const item = summarizeSteps(record!, state.log.tasks(id)).find((s) => s.step === 'each' && s.item === 1);
        expect(item).toMatchObject({ state: 'cancelled', attempts: 2 });
        expect(RunTracker.fromRecord(record!, state.log).steps).toEqual(result.steps);
      }
    }
  });

  it('start no queued task of a run once a step has failed it; those end cancelled, in the counts and in status', async () => {
    const dir = tmp();
    const marker = (step: string) => ['sh', ['-c', `echo started > ${dir}/${step}.started; sleep 1`]] as const;
    const FAILS_FIRST = plan({
      name: 'fails-first',
      steps: {
        a: { executor: { type: 'process', command: 'sh', args: ['-c', 'exit 1'] } },
        b: { executor: { type: 'process', command: marker('b')[0], args: [...marker('b')[1]] } },
        c: { executor: { type: 'process', command: marker('c')[0], args: [...marker('c')[1]] } },
      },
    });
    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    for (const options of [{}, { store: state.store, log: state.log }]) {
      // One process at a time, and a (the highest ranked... all rank alike: dispatch order) first.
      const engine = createEngine({ ...options, concurrency: { process: 1 }, trace: true });
      closers.push(() => engine.close());
      engine.register(FAILS_FIRST);
      const result = await engine.run('fails-first', null);
      expect(result.status).toBe('failed');
      expect(result.error).toMatchObject({ step: 'a' });
      // Neither b nor c was started (a started step would be stopped, and end cancelled with a trace record).
      expect(result.trace.map((r) => r.step)).toEqual(['a']);
      expect(existsSync(path.join(dir, 'b.started')) || existsSync(path.join(dir, 'c.started'))).toBe(false);
      expect(result.steps).toEqual({ total: 3, succeeded: 0, failed: 1, cancelled: 2, retried: 0 });
      if (options.log) {
        const record = await state.store.getRun(result.runId);
        const steps = summarizeSteps(record!, state.log.tasks(result.runId));
        expect(steps.map((s) => `${s.step}:${s.state}:${s.startedAt === undefined ? 'never started' : 'started'}`)).toEqual(['a:failed:started', 'b:cancelled:never started', 'c:cancelled:never started']);
        expect(RunTracker.fromRecord(record!, state.log).steps).toEqual(result.steps);
      }
    }
  });

  // A run that starts in a durable engine is counted by its tracker, without reading its attempts
  // back from the log: the two must agree (retries, items, failures for good, steps never run).
  it('count a run started here as its log counts it: retries, items, a failure for good', async () => {
    const flaky = 'if [ "$JOINFLOW_ITEM" = 1 ] && [ "$JOINFLOW_ATTEMPT" = 1 ]; then exit 1; fi';
    const RETRIES = plan({
      name: 'retries',
      steps: {
        list: { executor: { type: 'simulate', durationMs: 0, output: { items: [0, 1, 2] } } },
        each: { needs: ['list'], forEach: { step: 'list', path: 'items' }, retry: { maxAttempts: 2, backoffMs: 0 }, executor: { type: 'process', command: 'sh', args: ['-c', flaky] } },
        after: { needs: ['each'], executor: { type: 'simulate', durationMs: 0 } },
      },
    });
    const FAILS = plan({
      name: 'fails-for-good',
      steps: {
        ok: { executor: { type: 'simulate', durationMs: 0 } },
        boom: { needs: ['ok'], retry: { maxAttempts: 2, backoffMs: 0 }, executor: { type: 'process', command: 'false' } },
        never: { needs: ['boom'], executor: { type: 'simulate', durationMs: 0 } },
      },
    });
    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
    engine.register(RETRIES);
    engine.register(FAILS);
    const retried = await engine.run('retries', null);
    expect(retried.status).toBe('succeeded');
    expect(retried.steps).toEqual({ total: 5, succeeded: 5, failed: 0, cancelled: 0, retried: 1 });
    const failed = await engine.run('fails-for-good', null);
    expect(failed.status).toBe('failed');
    expect(failed.steps).toEqual({ total: 2, succeeded: 1, failed: 1, cancelled: 0, retried: 1 });
    for (const result of [retried, failed]) {
      const record = await state.store.getRun(result.runId);
      expect(RunTracker.fromRecord(record!, state.log).steps).toEqual(result.steps);
    }
  });

  it('count a recovered run from its log, also when it is started again by its id in the engine that recovered it', async () => {
    const dir = tmp();
    const TWO = plan({ name: 'two', steps: { a: { executor: { type: 'simulate', durationMs: 0 } }, b: { needs: ['a'], executor: { type: 'process', command: 'sleep', args: ['0.3'] } } } });
    const first = openJournalState({ dir });
    let bStarted = false;
    const killed = createEngine({ store: first.store, log: first.log, onEvents: (events) => { for (const e of events) if (e['detail-type'] === 'Step Started' && (e.detail as { step?: string }).step === 'b') bStarted = true; } });
    killed.register(TWO);
    await killed.start('two', null, { runId: 'recovered-run' });
    while (!bStarted) await new Promise((r) => setTimeout(r, 5));
    // Closing stops its runs as if the process had died (a finished, b running).
    await killed.close();
    first.close();
    const state = openJournalState({ dir });
    closers.push(() => state.close());
    const engine = createEngine({ store: state.store, log: state.log });
    closers.push(() => engine.close());
    engine.register(TWO);
    expect(await engine.recover()).toEqual(['recovered-run']);
    await engine.start('two', null, { runId: 'recovered-run' });
    const result = await engine.wait('recovered-run');
    expect(result.status).toBe('succeeded');
    // a ran in the first process: only the log knows it.
    expect(result.steps).toMatchObject({ total: 2, succeeded: 2 });
    const record = await state.store.getRun('recovered-run');
    expect(RunTracker.fromRecord(record!, state.log).steps).toEqual(result.steps);
  });

  it('report a run that ended with the events its first report counted, from either durable store', async () => {
    const SHAPES = [
      plan(diamondDef),
      // A retry, then a failure for good that a catch step takes; a choice that skips a branch.
      plan({
        name: 'mixed',
        steps: {
          list: { executor: { type: 'simulate', durationMs: 0, output: { items: [1, 2, 3] } } },
          each: { needs: ['list'], forEach: { step: 'list', path: 'items' }, executor: { type: 'simulate', durationMs: 0 } },
          flaky: { retry: { maxAttempts: 2, backoffMs: 0 }, catch: 'fallback', executor: { type: 'process', command: 'sh', args: ['-c', 'exit 1'] } },
          fallback: { executor: { type: 'simulate', durationMs: 0 } },
          never: { needs: ['list'], when: { results: { list: { items: [99] } } }, executor: { type: 'simulate', durationMs: 0 } },
        },
      }),
      NOT_ARRAY,
    ];
    for (const open of [openJournalState, openSqliteState]) {
      const dir = tmp();
      const results = [];
      {
        const state = open({ dir });
        const engine = createEngine({ store: state.store, log: state.log });
        for (const p of SHAPES) {
          engine.register(p);
          results.push(await engine.run(p.workflow, null));
        }
        await engine.close();
        state.close();
      }
      expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'failed']);
      // Another process: the runs are reported from the state dir alone.
      const state = open({ dir });
      closers.push(() => state.close());
      const engine = createEngine({ store: state.store, log: state.log });
      closers.push(() => engine.close());
      for (const [i, p] of SHAPES.entries()) {
        engine.register(p);
        const again = await engine.run(p.workflow, null, { runId: results[i]!.runId });
        expect([p.workflow, again.events]).toEqual([p.workflow, results[i]!.events]);
        expect(again.events).toBeGreaterThan(0);
      }
    }
  });

  it('let the held-back tasks go when the failure did not end the run (a late duplicate\'s), and drop them when it did', () => {
    const p = plan(diamondDef);
    const task = (step: string) => ({ workflow: 'diamond', runId: 'r', step, attempt: 1, maxAttempts: 1, executor: { type: 'simulate', durationMs: 0 }, event: { input: null, results: {} } }) as unknown as Task;
    const failedEvent = { id: 'e1', source: 'joinflow', 'detail-type': 'Step Failed', time: new Date(0).toISOString(), detail: { workflow: 'diamond', runId: 'r', step: 'nodeA', attempt: 1, error: { type: 'E', message: 'x' }, retrying: false } };
    for (const ended of [false, true]) {
      const tracker = new RunTracker('r', p, 0, 1, false);
      expect(tracker.failedAttempt(task('nodeA'), false)).toBe(true);
      expect(tracker.failedAttempt(task('nodeB'), false)).toBe(false); // already failing
      expect(tracker.wants(task('nodeC'))).toBe(false);
      const failing = new Set([tracker]);
      const resubmitted: Task[] = [];
      // A batch without the failure's event changes nothing.
      settleFailures(failing, [], (tasks) => resubmitted.push(...tasks));
      expect(failing.size).toBe(1);
      tracker.ended = ended;
      settleFailures(failing, ended ? [] : [failedEvent], (tasks) => resubmitted.push(...tasks));
      expect(failing.size).toBe(0);
      expect(tracker.failing).toBe(false);
      expect(resubmitted.map((t) => t.step)).toEqual(ended ? [] : ['nodeC']);
      expect(tracker.wants(task('nodeC'))).toBe(!ended);
    }
  });
});
