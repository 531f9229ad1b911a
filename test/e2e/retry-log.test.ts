/**
 * Retried attempts are tasks of the durable log (each with its start and end, so a timeline
 * draws every attempt), whether the retry timer fires in the same process or after a restart.
 */
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { Executor } from '../../src/ports.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-retry-log-');

/** Step `a` fails attempts 1 and 2 (retriably) and succeeds on the third; other steps succeed. */
const flaky: Executor = {
  kind: 'simulate',
  async execute(task) {
    return task.step === 'a' && task.attempt < 3 ? { status: 'failed', error: { type: 'Flaky', message: `attempt ${task.attempt}` }, retriable: true } : { status: 'succeeded', output: task.attempt };
  },
  async close() {},
};

const plan = (backoffMs: number) =>
  compileWorkflow(
    { name: 'retry-log', steps: { a: { executor: { type: 'simulate', durationMs: 0 }, retry: { maxAttempts: 3, backoffMs, factor: 1 } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0 } } } },
    { source: 'test' },
  );

const attempts = (tasks: ReturnType<ReturnType<typeof openSqliteState>['log']['tasks']>) =>
  tasks.map((t) => [t.task.step, t.task.attempt, t.status, t.startedAt !== undefined && t.finishedAt !== undefined && t.finishedAt >= t.startedAt]);

describe('retried attempts in the durable log', () => {
  it('logs each attempt with its times when the timer fires in the same process', async () => {
    const state = openSqliteState({ dir: tmp() });
    const engine = createEngine({ store: state.store, log: state.log, executors: { simulate: flaky } });
    try {
      engine.register(plan(1));
      const r = await engine.run('retry-log', null);
      expect(r.status).toBe('succeeded');
      expect(r.steps).toEqual({ total: 2, succeeded: 2, failed: 0, cancelled: 0, retried: 2 });
      expect(attempts(state.log.tasks(r.runId))).toEqual([
        ['a', 1, 'failed', true],
        ['a', 2, 'failed', true],
        ['a', 3, 'succeeded', true],
        ['b', 1, 'succeeded', true],
      ]);
    } finally {
      await engine.close();
      state.close();
    }
  });

  it('logs the attempt a timer starts after a restart', async () => {
    const dir = tmp();
    let state = openSqliteState({ dir });
    let engine = createEngine({ store: state.store, log: state.log, executors: { simulate: flaky } });
    engine.register(plan(60_000));
    const runId = await engine.start('retry-log', null);
    // Attempt 1 fails; its retry waits a minute: stop the engine while the timer is pending.
    for (let i = 0; i < 500 && state.log.timers(runId).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(state.log.timers(runId)).toHaveLength(1);
    await engine.close();
    state.close();

    state = openSqliteState({ dir });
    const due = state.log.timers(runId)[0]!;
    // Make the timer due now, as if the restart came a minute later.
    state.log.removeTimer(due.id);
    state.log.addTimer(Date.now(), due.task);
    await state.store.commit();
    engine = createEngine({ store: state.store, log: state.log, executors: { simulate: flaky } });
    try {
      expect(await engine.recover()).toEqual([runId]);
      // Attempt 2 fails too, and its own retry is a minute away again: it is enough that it is logged.
      const done = () => state.log.tasks(runId).some((t) => t.task.attempt === 2 && t.finishedAt !== undefined);
      for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(attempts(state.log.tasks(runId))).toEqual([
        ['a', 1, 'failed', true],
        ['a', 2, 'failed', true],
      ]);
    } finally {
      await engine.close();
      state.close();
    }
  });
});
