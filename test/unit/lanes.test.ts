import { describe, expect, it, vi } from 'vitest';
import { INIT_LIMIT_MS, Lanes, type LaneHooks, type TraceRecord } from '../../src/adapters/local/lanes.ts';
import { createLocalContainerExecutor } from '../../src/adapters/local/delegating-executors.ts';
import { createSimulateExecutor } from '../../src/adapters/local/simulate-executor.ts';
import type { Executor, StepOutcome, StopSignal, Task } from '../../src/ports.ts';

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
    // The timeout says how long the attempt took, and how much of it was init.
    ['still times out a handler that runs past its timeout once begun', 300, 500, 400, { status: 'timeout', timeoutMs: 100, tookMs: 400, initMs: 300 }],
    ['gives an init that never ends INIT_LIMIT_MS beyond the timeout (Lambda\'s Init limit), then times the task out', Infinity, 1, 100 + INIT_LIMIT_MS, { status: 'timeout', timeoutMs: 100, tookMs: 100 + INIT_LIMIT_MS, handlerStarted: false }],
  ])('%s', async (_title, initMs, runMs, endsAt, outcome) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
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
  // Locally a container step's handler runs in the function pool: timed as a function step's.
  it("times a task that another executor runs for its own (Executor.runner) as that executor's; its other tasks as before", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const inner = initExecutor(300, 80);
      const outer: Executor = {
        kind: 'simulate',
        runner: (t) => (t.step === 'handed' ? inner : undefined),
        execute: (t, signal, began, begin) => inner.execute(t, signal, began, begin),
        close: async () => {},
      };
      const { lanes, finished } = lanesWith(outer);
      lanes.submit(task('handed', 100));
      lanes.submit(task('own', 100));
      await vi.advanceTimersByTimeAsync(100);
      expect(finished).toEqual([{ step: 'own', outcome: { status: 'timeout', timeoutMs: 100 } }]);
      await vi.advanceTimersByTimeAsync(280);
      expect(finished).toEqual([{ step: 'own', outcome: { status: 'timeout', timeoutMs: 100 } }, { step: 'handed', outcome: { status: 'succeeded', output: 'ran' } }]);
    } finally {
      vi.useRealTimers();
    }
  });
});

// A simulated step of no duration waits for its executor's turn of the loop: that wait is not its time.
describe('Lanes: an executor that says when a task begins (deferredStart)', () => {
  type Done = (outcome: StepOutcome, signal: StopSignal) => void;
  /** An executor that keeps what it is handed; the test begins and ends each task. */
  function heldExecutor() {
    const held = new Map<string, { signal: StopSignal; done: Done; begin: ((signal: StopSignal) => void) | undefined }>();
    const executor: Executor = {
      kind: 'simulate',
      deferredStart: true,
      start: (t, signal, done, begin) => void held.set(t.step, { signal, done, begin }),
      execute: () => new Promise(() => {}),
      close: async () => {},
    };
    const begin = (step: string) => held.get(step)!.begin!(held.get(step)!.signal);
    const end = (step: string, outcome: StepOutcome) => held.get(step)!.done(outcome, held.get(step)!.signal);
    return { executor, held, begin, end };
  }

  /** Lanes on a clock that moves 1 ms each time it is read, with what the hooks were told. */
  function recorded(executor: Executor) {
    let t = 1_000;
    const log: string[] = [];
    const records: TraceRecord[] = [];
    const hooks: LaneHooks = {
      started: (task, at) => log.push(`started ${task.step} ${at}`),
      finished: (task, outcome, record) => {
        log.push(`finished ${task.step} ${outcome.status}`);
        records.push(record);
      },
      wanted: () => true,
      now: () => t++,
    };
    return { lanes: new Lanes(new Map([['simulate', executor]]), new Map(), hooks), log, records, read: () => t };
  }

  it('starts a task when the executor begins it, and one it ends without beginning when it ends, taking no time', () => {
    const { executor, begin, end } = heldExecutor();
    const { lanes, log, records } = recorded(executor);
    lanes.submitAll([task('a'), task('b')]);
    expect(log).toEqual([]);
    begin('a');
    begin('a'); // once only
    end('a', { status: 'succeeded', output: 1 });
    end('b', { status: 'succeeded', output: 2 });
    expect(log).toEqual(['started a 1000', 'finished a succeeded', 'started b 1002', 'finished b succeeded']);
    expect(records.map((r) => [r.step, r.start, r.end])).toEqual([['a', 1000, 1001], ['b', 1002, 1002]]);
  });

  it('a task stopped before it began never started: no Step Started, no record; stopRun counts it', async () => {
    const { executor, held, begin, end } = heldExecutor();
    const { lanes, log } = recorded(executor);
    lanes.submitAll([task('waits'), task('runs')]);
    begin('runs');
    const stopping = lanes.stopRun('r');
    expect(held.get('waits')!.signal.aborted).toBe(true);
    begin('waits'); // too late: it was stopped
    end('waits', { status: 'aborted' });
    end('runs', { status: 'aborted' });
    expect(await stopping).toBe(2);
    expect(log).toEqual(['started runs 1000', 'finished runs aborted']);
    expect(lanes.runningCount('r')).toBe(0);
  });

  it('counts its timeout from the task\'s beginning', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { executor, held, begin } = heldExecutor();
      const finished: string[] = [];
      const lanes = new Lanes(new Map([['simulate', executor]]), new Map(), {
        started: () => {}, finished: (t, outcome) => finished.push(`${t.step} ${outcome.status}`), wanted: () => true, now: () => Date.now(),
      });
      lanes.submit(task('t', 100));
      const signal = held.get('t')!.signal;
      signal.addEventListener('abort', () => held.get('t')!.done({ status: 'aborted' }, signal));
      await vi.advanceTimersByTimeAsync(500);
      expect(finished).toEqual([]);
      begin('t');
      await vi.advanceTimersByTimeAsync(99);
      expect(finished).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(finished).toEqual(['t timeout']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('begins a task run through execute() when the executor says so, as one run through start()', async () => {
    const begins: Array<() => void> = [];
    const ends: Array<() => void> = [];
    const executor: Executor = {
      kind: 'simulate',
      deferredStart: true,
      execute: (_t, signal, _began, begin) => new Promise((resolve) => {
        begins.push(() => begin!(signal));
        ends.push(() => resolve({ status: 'succeeded', output: null }));
      }),
      close: async () => {},
    };
    const { lanes, log, records } = recorded(executor);
    lanes.submitAll([task('a'), task('b')]);
    expect(log).toEqual([]);
    begins[1]!();
    expect(log).toEqual(['started b 1000']);
    ends[1]!();
    begins[0]!();
    ends[0]!();
    await vi.waitUntil(() => records.length === 2);
    expect(log).toEqual(['started b 1000', 'started a 1001', 'finished b succeeded', 'finished a succeeded']);
  });

  it('the simulate executor begins a timed step when handed over, and an instant one on its turn, taking no time', async () => {
    const { lanes, log, records } = recorded(createSimulateExecutor({ timeScale: 1 }));
    const timed = { ...task('timed'), executor: { type: 'simulate' as const, durationMs: 5 } };
    lanes.submitAll([timed, task('i1'), task('i2'), task('i3')]);
    // Only the timed one has started: the instant ones wait for the executor's turn.
    expect(log).toEqual(['started timed 1000']);
    await vi.waitUntil(() => records.length === 4);
    const by = Object.fromEntries(records.map((r) => [r.step, r]));
    for (const step of ['i1', 'i2', 'i3']) expect(by[step]!.end - by[step]!.start).toBe(0);
    expect(by['i1']!.start).toBeLessThan(by['i2']!.start);
    expect(by['timed']!.end).toBeGreaterThan(by['timed']!.start);
  });
});

// Local tasks' batches share a group commit (batch-effects.ts); test/e2e/group-commit.test.ts counts the commits.
describe('Lanes.isLocal', () => {
  it("is true of a container step whose handler runs in the process's function pool, not of a container command", () => {
    const idle = (kind: Executor['kind'], local: boolean): Executor => ({ kind, local, execute: () => new Promise(() => {}), close: async () => {} });
    const functions = idle('function', true);
    const processes = idle('process', false);
    const executors = new Map<Task['executor']['type'], Executor>([['function', functions], ['process', processes], ['container', createLocalContainerExecutor(functions, processes)]]);
    const lanes = new Lanes(executors, new Map(), { started: () => {}, finished: () => {}, wanted: () => true, now: () => 0 });
    const of = (executor: Task['executor']): Task => ({ ...task('s'), executor });
    expect(lanes.isLocal(of({ type: 'container', queue: 'q', module: 'm.mjs', export: 'handler', args: [], env: {} }))).toBe(true);
    expect(lanes.isLocal(of({ type: 'container', queue: 'q', command: 'tool', export: 'handler', args: [], env: {} }))).toBe(false);
    expect(lanes.isLocal(of({ type: 'function', module: 'm.mjs', export: 'handler' }))).toBe(true);
    expect(lanes.isLocal(of({ type: 'process', command: 'tool', args: [], env: {} }))).toBe(false);
  });
});
