import { describe, expect, it } from 'vitest';
import type { TaskEntry } from '../../src/adapters/local/durable-log.ts';
import { delayText, dueText, runErrorLine, runHeadline, summarizeSteps } from '../../src/cli/local-runs.ts';
import type { RunRecord, Task } from '../../src/ports.ts';

const task = (item: number, attempt = 1): Task => ({ workflow: 'w', runId: 'r', step: 'each', item, attempt, maxAttempts: 1, executor: { type: 'simulate', durationMs: 0 }, event: { input: null, results: {} } });
const failedItems = (items: number[]): TaskEntry[] => items.map((i) => ({ task: task(i), status: 'failed', startedAt: 1, finishedAt: 2 }));
const run = (error: RunRecord['error']): RunRecord => ({ runId: 'r', workflow: 'w', status: 'failed', input: null, startedAt: 0, finishedAt: 3, error });

describe('summarizeSteps', () => {
  it('gives the run\'s error to the item that failed the run, not to every failed item', () => {
    const steps = summarizeSteps(run({ type: 'ProcessExit', message: 'exited with code 5', step: 'each', item: 2 }), failedItems([0, 1, 2]));
    expect(steps.map((s) => [s.item, s.error?.message])).toEqual([[0, undefined], [1, undefined], [2, 'exited with code 5']]);
  });

  it('with an error that names no item (older records), only a lone failed entry of the step gets it', () => {
    const error = { type: 'ProcessExit', message: 'exited with code 3', step: 'each' };
    expect(summarizeSteps(run(error), failedItems([0, 1])).every((s) => s.error === undefined)).toBe(true);
    expect(summarizeSteps(run(error), failedItems([1]))[0]!.error).toEqual({ type: 'ProcessExit', message: 'exited with code 3' });
  });
});

describe('runErrorLine', () => {
  it('names the step and the item', () => {
    expect(runErrorLine({ type: 'E', message: 'm', step: 'each', item: 2 })).toBe('error in step "each" (item 2): E: m');
    expect(runErrorLine({ type: 'E', message: 'm', step: 'a' })).toBe('error in step "a": E: m');
    expect(runErrorLine({ type: 'Cancelled', message: 'by request' })).toBe('error: Cancelled: by request');
  });
});

describe('summarizeSteps of attempts that did not start', () => {
  const entry = (attempt: number, status: TaskEntry['status'], started: boolean): TaskEntry => ({
    task: { ...task(0, attempt), item: undefined } as Task,
    status,
    ...(started ? { startedAt: attempt * 10 } : {}),
    ...(status === 'started' || status === 'dispatched' ? {} : { finishedAt: started ? attempt * 10 + 5 : 100 }),
  });
  const running: RunRecord = { runId: 'r', workflow: 'w', status: 'running', input: null, startedAt: 0 };

  it('counts only the attempts that started, and names the retry that did not', () => {
    const [cancelled] = summarizeSteps({ ...running, status: 'cancelled', finishedAt: 100 }, [entry(1, 'failed', true), entry(2, 'cancelled', false)]);
    expect(cancelled).toMatchObject({ state: 'cancelled', attempts: 1, startedAt: 10, finishedAt: 15, durationMs: 5, unstarted: { attempt: 2, state: 'cancelled' } });
    const [queued] = summarizeSteps(running, [entry(1, 'failed', true), entry(2, 'dispatched', false)]);
    expect(queued).toMatchObject({ state: 'dispatched', attempts: 1, finishedAt: 15, unstarted: { attempt: 2, state: 'dispatched' } });
    const [retried] = summarizeSteps(running, [entry(1, 'failed', true), entry(2, 'cancelled', true)]);
    expect(retried).toMatchObject({ state: 'cancelled', attempts: 2 });
    expect(retried).not.toHaveProperty('unstarted');
    const [never] = summarizeSteps({ ...running, status: 'failed', finishedAt: 100 }, [entry(1, 'cancelled', false)]);
    expect(never).toMatchObject({ state: 'cancelled', attempts: 0, unstarted: { attempt: 1, state: 'cancelled' } });
    expect(never).not.toHaveProperty('startedAt');
  });

  it('shows a retry timer of a step with an attempt on the log as scheduled, and ignores one already dispatched', () => {
    const timer = { dueAt: 500, task: { step: 'each', attempt: 2 } };
    const [waiting] = summarizeSteps(running, [entry(1, 'failed', true)], [], [timer]);
    expect(waiting).toMatchObject({ state: 'failed', attempts: 1, unstarted: { attempt: 2, state: 'scheduled', dueAt: 500 } });
    const [fired] = summarizeSteps(running, [entry(1, 'failed', true), entry(2, 'started', true)], [], [timer]);
    expect(fired).toMatchObject({ state: 'started', attempts: 2, startedAt: 10 });
    expect(fired).not.toHaveProperty('unstarted');
    expect(fired).not.toHaveProperty('finishedAt');
  });
});

describe('summarizeSteps of steps without a task', () => {
  const running: RunRecord = { runId: 'r', workflow: 'w', status: 'running', input: null, startedAt: 0 };
  const done = (step: string): TaskEntry => ({ task: { ...task(0, 1), step, item: undefined } as Task, status: 'succeeded', startedAt: 1, finishedAt: 2 });

  it('shows a step (or item) whose only timer is its first attempt as waiting for its delay, due when the timer is', () => {
    const timers = [{ dueAt: 900, task: { step: 'later', attempt: 1 } }, { dueAt: 950, task: { step: 'each', item: 1, attempt: 1 } }];
    const steps = summarizeSteps(running, [done('first')], [], timers);
    expect(steps).toEqual([
      { step: 'first', state: 'succeeded', attempts: 1, startedAt: 1, finishedAt: 2, durationMs: 1 },
      { step: 'later', state: 'waiting', attempts: 0, delay: { dueAt: 900 } },
      { step: 'each', item: 1, state: 'waiting', attempts: 0, delay: { dueAt: 950 } },
    ]);
  });

  it('places a forEach step over an empty array after the last of its needs, as succeeded with 0 items', () => {
    const steps = summarizeSteps(running, [done('split'), done('sum')], [], [], [{ step: 'square', needs: ['split'] }, { step: 'split', needs: [] }]);
    expect(steps.map((s) => s.step)).toEqual(['split', 'square', 'sum']);
    expect(steps[1]).toEqual({ step: 'square', state: 'succeeded', attempts: 0, items: 0 });
  });
});

describe('dueText', () => {
  it("gives a retry's timer as delayText gives a delay's", () => {
    const dueAt = Date.parse('2026-11-24T21:50:36.175Z');
    expect(dueText('retry 2', { dueAt }, dueAt + 1, 'joinflow resume r1')).toBe('retry 2 due at 2026-11-24T21:50:36.175Z');
    expect(dueText('retry 2', { dueAt, interrupted: true }, dueAt + 1, 'joinflow resume r1')).toBe("retry 2 was due at 2026-11-24T21:50:36.175Z; runs once 'joinflow resume r1' continues the run");
    expect(dueText('retry 2', { dueAt, interrupted: true }, dueAt - 1, 'joinflow resume r1')).toBe("retry 2 due at 2026-11-24T21:50:36.175Z, if 'joinflow resume r1' has continued the run by then (else once it does)");
  });
});

describe('delayText', () => {
  const dueAt = Date.parse('2026-11-24T21:50:36.175Z');
  it('gives the due time of a running run\'s timer', () => {
    expect(delayText({ dueAt }, dueAt + 1, 'joinflow resume r1')).toBe('delay, due at 2026-11-24T21:50:36.175Z');
  });

  it('of an interrupted run, says the time has passed, or that it holds only if the run is resumed by then', () => {
    expect(delayText({ dueAt, interrupted: true }, dueAt + 1, 'joinflow resume r1')).toBe("delay, was due at 2026-11-24T21:50:36.175Z; runs once 'joinflow resume r1' continues the run");
    expect(delayText({ dueAt, interrupted: true }, dueAt, 'joinflow resume r1')).toBe("delay, was due at 2026-11-24T21:50:36.175Z; runs once 'joinflow resume r1' continues the run");
    expect(delayText({ dueAt, interrupted: true }, dueAt - 1, 'joinflow resume r1')).toBe("delay, due at 2026-11-24T21:50:36.175Z, if 'joinflow resume r1' has continued the run by then (else once it does)");
  });
});

describe('runHeadline', () => {
  const r1 = { runId: 'r1', workflow: 'wf', startedAt: Date.parse('2026-11-25T05:00:00.000Z') };
  it('says how long a run still going has run so far, not "running" twice', () => {
    expect(runHeadline({ ...r1, status: 'running' }, r1.startedAt + 4300)).toBe('run r1 (wf): running, started 2026-11-25T05:00:00.000Z, 4.3 s so far');
  });
  it('gives an ended run its duration, and says interrupted or stopping where the run is so', () => {
    expect(runHeadline({ ...r1, status: 'succeeded', finishedAt: r1.startedAt + 1234 }, r1.startedAt + 9999)).toBe('run r1 (wf): succeeded, started 2026-11-25T05:00:00.000Z, 1.2 s');
    expect(runHeadline({ ...r1, status: 'running', interrupted: true }, r1.startedAt + 5)).toBe('run r1 (wf): running, started 2026-11-25T05:00:00.000Z, interrupted');
    expect(runHeadline({ ...r1, status: 'failed', stopping: true }, r1.startedAt + 5)).toBe('run r1 (wf): failed, started 2026-11-25T05:00:00.000Z, stopping');
  });
});
