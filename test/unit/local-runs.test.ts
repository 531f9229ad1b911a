import { describe, expect, it } from 'vitest';
import type { TaskEntry } from '../../src/adapters/local/durable-log.ts';
import { runErrorLine, summarizeSteps } from '../../src/cli/local-runs.ts';
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
