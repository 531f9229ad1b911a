/**
 * Fallback to Batch in the runtime: a Lambda-placed auto step with `fallback: batch` whose attempt
 * times out gets its next attempt as a Batch task at once (not after the backoff), even past
 * retry.maxAttempts; further retries stay on Batch; other failures retry where they ran.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { DetailType } from '../../src/model/events.ts';
import type { Task } from '../../src/ports.ts';
import type { Effect } from '../../src/runtime/effects.ts';
import { nextAttempt, retriesAfter } from '../../src/runtime/fallback.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';
import { event } from '../helpers/driver.ts';

const auto = { type: 'auto' as const, module: './handlers/h.ts', export: 'run', image: 'example/img:1', command: ['run'] };

function planWith(maxAttempts: number) {
  return compileWorkflow(
    {
      name: 'fb',
      steps: { s: { executor: auto, resources: { memoryMb: 2048 }, timeoutMs: 5_000, fallback: 'batch', retry: { maxAttempts, backoffMs: 250 } } },
    },
    { source: 'workflows/fb.yaml' },
  );
}

const timeout = { type: 'StepTimeout', message: 'timed out' };
const boom = { type: 'Error', message: 'boom' };

describe('fallback rules', () => {
  it('says a timed-out Lambda attempt of a fallback step is retried, whatever its attempt count', () => {
    expect(retriesAfter({ attempt: 1, maxAttempts: 1, fallback: 'batch' }, timeout, true)).toBe(true);
    expect(retriesAfter({ attempt: 1, maxAttempts: 1, fallback: 'batch' }, boom, true)).toBe(false);
    expect(retriesAfter({ attempt: 1, maxAttempts: 1 }, timeout, true)).toBe(false);
    expect(retriesAfter({ attempt: 1, maxAttempts: 2 }, boom, true)).toBe(true);
    expect(retriesAfter({ attempt: 1, maxAttempts: 2 }, boom, false)).toBe(false);
  });

  it('moves to Batch after a timeout on Lambda, stays there, and allows one attempt more', () => {
    const step = planWith(2).steps['s']!;
    expect(nextAttempt(step, { attempt: 1, error: timeout, placement: 'lambda' })).toEqual({ on: 'fallback', backoff: false });
    expect(nextAttempt(step, { attempt: 2, error: timeout, placement: 'lambda' })).toEqual({ on: 'fallback', backoff: false });
    expect(nextAttempt(step, { attempt: 1, error: boom, placement: 'lambda' })).toEqual({ on: 'primary', backoff: true });
    expect(nextAttempt(step, { attempt: 2, error: boom, placement: 'lambda' })).toBeUndefined();
    expect(nextAttempt(step, { attempt: 2, error: boom, placement: 'batch-cpu' })).toEqual({ on: 'fallback', backoff: true });
    expect(nextAttempt(step, { attempt: 2, error: timeout, placement: 'batch-cpu' })).toEqual({ on: 'fallback', backoff: true });
    expect(nextAttempt(step, { attempt: 3, error: boom, placement: 'batch-cpu' })).toBeUndefined();
  });
});

function tasksOf(effects: Effect[]): Array<{ via: string; task: Task }> {
  return effects.flatMap((e) => (e.type === 'dispatch' ? e.tasks.map((task) => ({ via: 'dispatch', task })) : e.type === 'schedule' ? [{ via: `schedule ${e.delayMs}`, task: e.task }] : []));
}

function published(effects: Effect[]) {
  return effects.flatMap((e) => (e.type === 'publish' || e.type === 'finish-run' ? e.events : []));
}

describe('trigger processor with a fallback step', () => {
  async function started(maxAttempts: number) {
    const p = new TriggerProcessor({ store: createMemoryStore(), clock: { now: () => 0 }, newId: () => 'x' });
    p.register(planWith(maxAttempts));
    const first = tasksOf(await p.process(event(DetailType.RunRequested, { workflow: 'fb', runId: 'r', input: { n: 1 } })));
    return { p, first };
  }
  const failed = (attempt: number, error: object, placement: string, retrying: boolean) =>
    event(DetailType.StepFailed, { workflow: 'fb', runId: 'r', step: 's', attempt, error, retrying, placement });

  it('dispatches the first attempt to Lambda with the step timeout and the fallback mark', async () => {
    const { first } = await started(1);
    expect(first).toHaveLength(1);
    expect(first[0]!.via).toBe('dispatch');
    expect(first[0]!.task).toMatchObject({
      attempt: 1,
      maxAttempts: 1,
      executor: { type: 'function', module: 'workflows/handlers/h.ts', export: 'run' },
      placement: 'lambda',
      fallback: 'batch',
      timeoutMs: 5_000,
    });
  });

  it('dispatches the attempt after a Lambda timeout to Batch at once, then fails the run when Batch fails for good', async () => {
    const { p } = await started(1);
    const after = tasksOf(await p.process(failed(1, timeout, 'lambda', true)));
    expect(after.map((a) => a.via)).toEqual(['dispatch']);
    const task = after[0]!.task;
    expect(task).toMatchObject({ attempt: 2, maxAttempts: 2, placement: 'batch-cpu', event: { input: { n: 1 }, results: {} } });
    expect(task.executor).toEqual({ type: 'batch', image: 'example/img:1', command: ['run'], vcpus: 2, memoryMb: 4096, gpus: 0, env: {} });
    // No Lambda timeout on Batch, and no second fallback from there.
    expect(task.timeoutMs).toBeUndefined();
    expect(task.fallback).toBeUndefined();
    const end = await p.process(failed(2, boom, 'batch-cpu', false));
    expect(published(end).map((e) => e['detail-type'])).toEqual([DetailType.RunFailed]);
  });

  it('retries a Batch attempt on Batch after the backoff, and a non-timeout Lambda failure on Lambda', async () => {
    const { p } = await started(3);
    const lambdaRetry = tasksOf(await p.process(failed(1, boom, 'lambda', true)));
    expect(lambdaRetry.map((a) => [a.via, a.task.attempt, a.task.placement, a.task.executor.type])).toEqual([['schedule 250', 2, 'lambda', 'function']]);
    const fallback = tasksOf(await p.process(failed(2, timeout, 'lambda', true)));
    expect(fallback.map((a) => [a.via, a.task.attempt, a.task.placement, a.task.maxAttempts])).toEqual([['dispatch', 3, 'batch-cpu', 4]]);
    const batchRetry = tasksOf(await p.process(failed(3, boom, 'batch-cpu', true)));
    expect(batchRetry.map((a) => [a.via, a.task.attempt, a.task.placement, a.task.executor.type])).toEqual([['schedule 1000', 4, 'batch-cpu', 'batch']]);
    // Attempt 4 of at most 3 + 1: a failure marked retrying fails for good instead.
    const last = await p.process(failed(4, boom, 'batch-cpu', true));
    expect(tasksOf(last)).toEqual([]);
    expect(published(last).map((e) => [e['detail-type'], (e.detail as { retrying: boolean }).retrying])).toEqual([[DetailType.StepFailed, false]]);
  });
});
