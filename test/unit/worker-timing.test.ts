/**
 * The timeout of a task `joinflow worker` runs (worker-timing.ts), on fake timers: a container
 * handler's, run in the function pool, counts from the handler's start with INIT_LIMIT_MS for its
 * init, as the embedded engine's lanes count it (test/unit/lanes.test.ts); a command's from the start.
 * test/aws/worker.test.ts runs the worker itself with a module that loads slowly.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startAttemptTimer } from '../../src/adapters/aws/worker-timing.ts';
import { createLocalContainerExecutor } from '../../src/adapters/local/delegating-executors.ts';
import { INIT_LIMIT_MS } from '../../src/adapters/local/lanes.ts';
import type { Executor, Task } from '../../src/ports.ts';

const pending: Executor = { kind: 'function', initPhase: true, deferredStart: true, execute: () => new Promise(() => {}), close: async () => {} };
const containers = createLocalContainerExecutor(pending, { ...pending, kind: 'process', initPhase: undefined, deferredStart: undefined });

function task(run: { module: string } | { command: string }): Task {
  return { workflow: 'w', runId: 'r', step: 's', attempt: 1, maxAttempts: 1, timeoutMs: 100, executor: { type: 'container', queue: 'q', args: [], env: {}, export: 'handler', ...run }, event: { input: {}, results: {} } };
}

beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
afterEach(() => void vi.useRealTimers());

/** A timer on the fake clock, and when it expired (undefined: not yet). */
function timerOf(t: Task) {
  const out: { expiredAt?: number } = {};
  const timing = startAttemptTimer(containers, t, Date.now, () => (out.expiredAt = Date.now() - timing.start));
  return Object.assign(out, { timing });
}

describe("joinflow worker: a task's timeout", () => {
  it("counts a handler's from its start, however long its init took", () => {
    const t = timerOf(task({ module: 'm.mjs' }));
    vi.advanceTimersByTime(3000);
    t.timing.began!();
    vi.advanceTimersByTime(99);
    expect(t.expiredAt).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(t.expiredAt).toBe(3100);
    expect(t.timing.timedOut(t.timing.start + 3100)).toEqual({ status: 'timeout', timeoutMs: 100, tookMs: 3100, initMs: 3000 });
  });

  it('gives an init that never ends INIT_LIMIT_MS beyond the timeout, then says the handler never started', () => {
    const t = timerOf(task({ module: 'm.mjs' }));
    vi.advanceTimersByTime(100 + INIT_LIMIT_MS - 1);
    expect(t.expiredAt).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(t.expiredAt).toBe(100 + INIT_LIMIT_MS);
    expect(t.timing.timedOut(t.timing.start + 100 + INIT_LIMIT_MS)).toEqual({ status: 'timeout', timeoutMs: 100, tookMs: 100 + INIT_LIMIT_MS, handlerStarted: false });
  });

  it("goes back to the init's limit, from the attempt's start, when told the handler had not begun after all (its module loads again)", () => {
    const t = timerOf(task({ module: 'm.mjs' }));
    t.timing.began!();
    vi.advanceTimersByTime(50);
    t.timing.began!(false);
    vi.advanceTimersByTime(100 + INIT_LIMIT_MS - 51);
    expect(t.expiredAt).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(t.expiredAt).toBe(100 + INIT_LIMIT_MS);
  });

  it("counts a command's from the attempt's start, and says nothing of an init", () => {
    const t = timerOf(task({ command: 'tool' }));
    expect(t.timing.began).toBeUndefined();
    vi.advanceTimersByTime(100);
    expect(t.expiredAt).toBe(100);
    expect(t.timing.timedOut(t.timing.start + 100)).toEqual({ status: 'timeout', timeoutMs: 100 });
  });

  it("keeps a handler's reported init within its attempt, and ignores a start told after the attempt ended", () => {
    const t = timerOf(task({ module: 'm.mjs' }));
    vi.advanceTimersByTime(40);
    expect(t.timing.initMs({ status: 'succeeded', output: 1, initMs: 45 }, t.timing.start + 40)).toBe(40);
    expect(t.timing.initMs({ status: 'succeeded', output: 1 }, t.timing.start + 40)).toBeUndefined();
    t.timing.clear();
    t.timing.began!();
    vi.advanceTimersByTime(100 + INIT_LIMIT_MS);
    expect(t.expiredAt).toBeUndefined();
  });
});
