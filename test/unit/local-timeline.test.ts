/** A local run's task log as a timeline: bars, statuses of unfinished tasks, and the DAG from the plan. */
import { describe, expect, it } from 'vitest';
import type { TaskEntry } from '../../src/adapters/local/durable-log.ts';
import { localTimeline } from '../../src/cli/local-timeline.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { RunRecord, Task } from '../../src/ports.ts';
import { summarizeTimeline } from '../../src/timeline/timeline.ts';

const task = (step: string, attempt: number, type: 'function' | 'process' | 'simulate', item?: number): Task => ({
  workflow: 'w',
  runId: 'r',
  step,
  ...(item === undefined ? {} : { item }),
  attempt,
  maxAttempts: 3,
  executor: type === 'simulate' ? { type, durationMs: 1 } : type === 'process' ? { type, command: 'x', args: [], env: {} } : { type, module: 'm', export: 'handler' },
  event: { input: null, results: {} },
});

const plan = {
  steps: {
    split: { needs: [], executor: { type: 'function' } },
    mProject_ID0000001: { needs: [], executor: { type: 'simulate' } },
    // A forEach over a step that is not in needs still waits for it.
    each: { needs: [], forEach: { step: 'split' }, executor: { type: 'process' } },
  },
} as unknown as TriggerPlan;

const entries: TaskEntry[] = [
  { task: task('split', 1, 'function'), status: 'failed', startedAt: 105, finishedAt: 120 },
  { task: task('split', 2, 'function'), status: 'succeeded', startedAt: 130, finishedAt: 140 },
  { task: task('mProject_ID0000001', 1, 'simulate'), status: 'succeeded', startedAt: 101, finishedAt: 190 },
  { task: task('each', 1, 'process', 0), status: 'started', startedAt: 150 },
  { task: task('each', 1, 'process', 1), status: 'dispatched' },
];

describe('localTimeline', () => {
  it('one bar per started task, kind from the executor, DAG from the plan', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'failed', input: null, startedAt: 100, finishedAt: 200 };
    const t = localTimeline(run, entries, plan, 999);
    expect(t.executions.map((e) => [e.step, e.item, e.attempt, e.kind, e.status, e.start, e.end, e.category])).toEqual([
      ['mProject_ID0000001', undefined, 1, 'simulate', 'succeeded', 101, 190, 'mProject'],
      ['split', undefined, 1, 'function', 'failed', 105, 120, 'split'],
      ['split', undefined, 2, 'function', 'succeeded', 130, 140, 'split'],
      // Started, never finished, run over: abandoned, ends with the run.
      ['each', 0, 1, 'process', 'cancelled', 150, 200, 'each'],
    ]);
    expect(t.needs).toEqual({ split: [], mProject_ID0000001: [], each: ['split'] });
    expect(t).toMatchObject({ title: 'run r · w', runId: 'r', status: 'failed', startedAt: 100, finishedAt: 200, schedule: 'measured', notes: [] });
  });

  it('a running run: unfinished bars end now and a note says so; no plan: a note too', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'running', input: null, startedAt: 100 };
    const t = localTimeline(run, entries, undefined, 999);
    expect(t.executions.find((e) => e.step === 'each')).toMatchObject({ status: 'running', end: 999 });
    expect(t.notes).toEqual(['the state dir has no plan for this run: the critical path ignores dependencies', 'the run is still running: its makespan runs to now, and bars of running steps end now']);
    expect(t.needs).toEqual({});
    // It ends, so far, now.
    expect(t.finishedAt).toBe(999);
  });

  it('a running run none of whose steps runs now (a retry waits out its backoff): its makespan still runs to now (it stopped at the last end)', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'running', input: null, startedAt: 100 };
    const waiting: TaskEntry[] = [{ task: task('split', 1, 'function'), status: 'failed', startedAt: 105, finishedAt: 120 }];
    const t = localTimeline(run, waiting, plan, 1_600);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 1_500, criticalPathMs: 15, overheadMs: 1_485 });
    // An interrupted run stops where its log does.
    expect(summarizeTimeline(localTimeline(run, waiting, plan, 1_600, true)).makespanMs).toBe(20);
  });

  it('an interrupted run (its engine is gone): unfinished bars end at the last time the log recorded, not now, and a note says how to go on', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'running', input: null, startedAt: 100 };
    const t = localTimeline(run, entries, plan, 999, true);
    // The last recorded time is mProject's end (190): the chart does not grow while nothing happens.
    expect(t.executions.find((e) => e.step === 'each')).toMatchObject({ status: 'running', end: 190 });
    expect(localTimeline(run, entries, plan, 5_000, true).executions.find((e) => e.step === 'each')!.end).toBe(190);
    expect(t.notes).toEqual(["the run was interrupted (the engine that ran it is gone): bars of the steps it was running end at the last time it recorded; 'joinflow resume r' continues it"]);
  });
});

describe('localTimeline of a run with steps that did not run', () => {
  it('has no bar for them, and a note naming them and why', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'succeeded', input: null, startedAt: 100, finishedAt: 200 };
    const t = localTimeline(run, [
      { task: task('check', 1, 'simulate'), status: 'succeeded', startedAt: 101, finishedAt: 110 },
      { task: task('publish', 0, 'simulate'), status: 'skipped', finishedAt: 110 },
      { task: task('computeA', 0, 'simulate'), status: 'failed', finishedAt: 111 },
    ], plan, 999);
    expect(t.executions.map((e) => e.step)).toEqual(['check']);
    // The plan's own steps (split, mProject_ID0000001, each) have no entry: the run ended before them.
    expect(t.notes).toContain('steps that did not run: publish (skipped), computeA (its needs failed), split (the run ended before it), mProject_ID0000001 (the run ended before it), each (the run ended before it)');
  });

  it('says apart a forEach step that completed with no items (a result, no task on the log)', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'failed', input: null, startedAt: 100, finishedAt: 130 };
    const log: TaskEntry[] = [{ task: task('split', 1, 'function'), status: 'succeeded', startedAt: 105, finishedAt: 120 }];
    expect(localTimeline(run, log, plan, 999, false, new Set(['each'])).notes).toEqual([
      'steps that did not run: mProject_ID0000001 (the run ended before it), each (its forEach array was empty)',
    ]);
  });

  it('names the steps a failed run never reached (no entry in the log), but not while it runs or is interrupted', () => {
    const run: RunRecord = { runId: 'r', workflow: 'w', status: 'failed', input: null, startedAt: 100, finishedAt: 130 };
    const log: TaskEntry[] = [{ task: task('split', 1, 'function'), status: 'failed', startedAt: 105, finishedAt: 120 }];
    expect(localTimeline(run, log, plan, 999).notes).toEqual(['steps that did not run: mProject_ID0000001 (the run ended before it), each (the run ended before it)']);
    expect(localTimeline({ ...run, status: 'running' }, log, plan, 999).notes).toEqual(['the run is still running: its makespan runs to now, and bars of running steps end now']);
    expect(localTimeline({ ...run, status: 'running' }, log, plan, 999, true).notes).toHaveLength(1);
  });
});
