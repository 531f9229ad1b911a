import { describe, expect, it, vi } from 'vitest';
import { INIT_LIMIT_MS, Lanes, type LaneHooks } from '../../src/adapters/local/lanes.ts';
import { createSimulateExecutor } from '../../src/adapters/local/simulate-executor.ts';
import type { Executor, StepOutcome, Task } from '../../src/ports.ts';

function task(step: string, timeoutMs?: number): Task {
  const t: Task = { workflow: 'w', runId: 'r', step, attempt: 1, maxAttempts: 1, executor: { type: 'simulate', durationMs: 0 }, event: { input: null, results: {} } };
  if (timeoutMs !== undefined) t.timeoutMs = timeoutMs;
  return t;
}

function lanesWith(executor: Executor) {
  const finished: Array<{ step: string; outcome: unknown }> = [];
  const hooks: LaneHooks = {
    started: () => {},
    finished: (t, outcome) => finished.push({ step: t.step, outcome }),
    wanted: () => true,
    now: () => Date.now(),
  };
  return { lanes: new Lanes(new Map([['simulate', executor]]), new Map(), hooks), finished };
}

describe('Lanes', () => {
  it('runs an executor that reports by callback without calling execute', async () => {
    const simulate = createSimulateExecutor({ timeScale: 0 });
    let executeCalls = 0;
    const executor: Executor = { ...simulate, execute: (...args) => (executeCalls++, simulate.execute(...args)) };
    const { lanes, finished } = lanesWith(executor);
    lanes.submitAll([task('a'), task('b')]);
    // Reported on a later turn, never from inside submit.
    expect(finished).toEqual([]);
    await vi.waitUntil(() => finished.length === 2);
    expect(finished.map((f) => f.step)).toEqual(['a', 'b']);
    expect(finished[0]!.outcome).toEqual({ status: 'succeeded', output: null });
    expect(executeCalls).toBe(0);
  });

  it('fails the task when an executor throws from start or rejects from execute', async () => {
    const throwing: Executor = { kind: 'simulate', start: () => { throw new Error('start broke'); }, execute: () => Promise.reject(new Error('unused')), close: async () => {} };
    const rejecting: Executor = { kind: 'simulate', execute: () => Promise.reject(new Error('execute broke')), close: async () => {} };
    for (const [executor, message] of [[throwing, 'start broke'], [rejecting, 'execute broke']] as const) {
      const { lanes, finished } = lanesWith(executor);
      lanes.submit(task('a'));
      await vi.waitUntil(() => finished.length === 1);
      expect(finished[0]!.outcome).toEqual({ status: 'failed', error: { type: 'ExecutorError', message }, retriable: true });
    }
  });

  it('times out a callback task: the executor is stopped and the task reported as timed out', async () => {
    let stopped = false;
    const hanging: Executor = {
      kind: 'simulate',
      start: (_t, signal, done: (o: StepOutcome, s: typeof signal) => void) => signal.addEventListener('abort', () => { stopped = true; done({ status: 'aborted' }, signal); }),
      execute: () => new Promise(() => {}),
      close: async () => {},
    };
    const { lanes, finished } = lanesWith(hanging);
    lanes.submit(task('slow', 5));
    await vi.waitUntil(() => finished.length === 1);
    expect(stopped).toBe(true);
    expect(finished[0]!.outcome).toEqual({ status: 'timeout', timeoutMs: 5 });
  });
});

// Lambda leaves a cold start's Init out of the function timeout: so does an executor with an init phase.
describe('Lanes: a timeout after an init phase', () => {
  /** An executor with an init phase: the handler "begins" after `initMs`, then runs `runMs`, unless stopped. */
  function initExecutor(initMs: number, runMs: number): Executor {
    return {
      kind: 'simulate',
      initPhase: true,
      execute: (_t, signal, began) =>
        new Promise((resolve) => {
          // An init of Infinity never ends.
          const timers = Number.isFinite(initMs) ? [setTimeout(() => began?.(), initMs), setTimeout(() => resolve({ status: 'succeeded', output: 'ran' }), initMs + runMs)] : [];
          signal.addEventListener('abort', () => {
            for (const t of timers) clearTimeout(t);
            resolve({ status: 'aborted' });
          });
        }),
      close: async () => {},
    };
  }

  // A timeout of 100 ms each; the handler begins after `initMs` and runs `runMs`.
  it.each([
    ['counts from the handler\'s start: an init longer than the timeout does not time the task out', 300, 80, 380, { status: 'succeeded', output: 'ran' }],
    ['still times out a handler that runs past its timeout once begun', 300, 500, 400, { status: 'timeout', timeoutMs: 100 }],
    ['gives an init that never ends INIT_LIMIT_MS beyond the timeout (Lambda\'s Init limit), then times the task out', Infinity, 1, 100 + INIT_LIMIT_MS, { status: 'timeout', timeoutMs: 100 }],
  ])('%s', async (_title, initMs, runMs, endsAt, outcome) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { lanes, finished } = lanesWith(initExecutor(initMs, runMs));
      lanes.submit(task('t', 100));
      await vi.advanceTimersByTimeAsync(endsAt - 1);
      expect(finished).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(finished).toEqual([{ step: 't', outcome }]);
    } finally {
      vi.useRealTimers();
    }
  });
});
