/**
 * Function steps on the embedded engine, end to end: where an attempt's time starts when the pool
 * has no free thread (`--concurrency function=0`), what a timeout after a slow start says, the
 * same for container steps' handlers (which run in that pool), and the memory cap of a placed
 * step's worker.
 */
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { createFunctionExecutor } from '../../src/adapters/local/function-executor.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { summarizeSteps } from '../../src/cli/local-runs.ts';
import { localTimeline } from '../../src/cli/local-timeline.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { RunRecord } from '../../src/ports.ts';
import { slowImport } from '../helpers/slow-import.ts';
import { tempDirs } from '../helpers/tmp.ts';

const handlers = fileURLToPath(new URL('../fixtures/handlers/handlers.ts', import.meta.url));
const tmp = tempDirs('jf-fn-limits-');
const closing: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

function engineWith(options: Parameters<typeof createEngine>[0] = {}): Engine {
  const engine = createEngine({ trace: true, ...options });
  closing.push(() => engine.close());
  return engine;
}


/**
 * Three steps run on one thread: none started before the one before it ended; only the first
 * waited for the worker to start (its init), the others found it warm (the durable log keeps no
 * init: the run's own trace has it); status and the timeline give each the engine's times.
 */
function expectOneAfterAnother(engine: Engine, state: ReturnType<typeof openJournalState>, r: Awaited<ReturnType<Engine['run']>>): void {
  const trace = engine.traceOf(r.runId).sort((x, y) => x.start - y.start);
  for (let i = 1; i < trace.length; i++) expect(trace[i]!.start).toBeGreaterThanOrEqual(trace[i - 1]!.end);
  const inits = new Map(r.trace.map((t) => [t.step, t.initMs !== undefined]));
  expect(trace.map((t) => inits.get(t.step))).toEqual([true, false, false]);
  const run = state.store.getRun(r.runId) as RunRecord;
  const byStep = new Map(summarizeSteps(run, state.log.tasks(r.runId)).map((s) => [s.step, s]));
  const timeline = new Map(localTimeline(run, state.log.tasks(r.runId), state.log.runPlan(r.runId), run.finishedAt!).executions.map((e) => [e.step, e]));
  for (const t of trace) {
    expect(byStep.get(t.step)).toMatchObject({ startedAt: t.start, finishedAt: t.end });
    expect(timeline.get(t.step)).toMatchObject({ start: t.start, end: t.end });
  }
}

describe('with no limit on function steps (--concurrency function=0)', () => {
  it('a step that waits for a busy thread starts when it gets one: status, timeline and trace show its own time', async () => {
    const dir = tmp();
    const state = openJournalState({ dir });
    closing.push(() => state.close());
    const engine = engineWith({ store: state.store, log: state.log, concurrency: { function: Infinity }, executors: { function: createFunctionExecutor({ threads: 1 }) } });
    const steps = Object.fromEntries(['a', 'b', 'c'].map((s) => [s, { executor: { type: 'function', module: handlers, export: 'slow' } }]));
    engine.register(compileWorkflow({ name: 'wide', steps }, { source: 'test' }));
    const r = await engine.run('wide', { ms: 100 });
    expect(r.status).toBe('succeeded');
    // One thread runs them one after the other: none started before the one before it ended.
    expectOneAfterAnother(engine, state, r);
  });
});

describe('a function step that times out after a slow start', () => {
  it('fails with a StepTimeout that names the step, the attempt, the limit and the start-up before the handler', async () => {
    const slow = slowImport(tmp());
    const engine = engineWith({ executors: { function: createFunctionExecutor({ threads: 1 }) } });
    engine.register(compileWorkflow({ name: 'late', steps: { s: { timeoutMs: 300, executor: { type: 'function', module: slow.module, export: 'hangs' } } } }, { source: 'test' }));
    const running = engine.run('late', null);
    while (!slow.importing()) await new Promise((resolve) => setTimeout(resolve, 10));
    // The module loads for longer than the step's timeout, which does not count it.
    await new Promise((resolve) => setTimeout(resolve, 600));
    slow.release();
    const r = await running;
    expect(r.status).toBe('failed');
    const [attempt] = r.trace;
    expect(attempt).toMatchObject({ step: 's', status: 'failed', initMs: expect.any(Number) });
    expect(attempt!.initMs).toBeGreaterThanOrEqual(600);
    expect(r.error).toMatchObject({ type: 'StepTimeout', step: 's' });
    expect(r.error!.message).toBe(
      `step "s" timed out after 300 ms of its handler (attempt 1): its timeoutMs counts from the handler's start, which came ${attempt!.initMs} ms into the attempt, ` +
        `spent starting a worker thread or loading its module (${attempt!.end - attempt!.start} ms in all)`,
    );
  });
});

describe("container steps with a module (their handler runs in the function pool locally)", () => {
  const container = (module: string, exportName: string) => ({ type: 'container', module, export: exportName });

  it("one that waits for a thread a function step keeps busy starts when it gets it: status, timeline and trace show its own time", async () => {
    const dir = tmp();
    const state = openJournalState({ dir });
    closing.push(() => state.close());
    const engine = engineWith({ store: state.store, log: state.log, concurrency: { function: Infinity, container: Infinity }, executors: { function: createFunctionExecutor({ threads: 1 }) } });
    const steps = {
      a: { executor: { type: 'function', module: handlers, export: 'slow' } },
      b: { executor: container(handlers, 'slow') },
      c: { executor: container(handlers, 'slow') },
    };
    engine.register(compileWorkflow({ name: 'mixed', steps }, { source: 'test' }));
    const r = await engine.run('mixed', { ms: 100 });
    expect(r.status).toBe('succeeded');
    expect(engine.traceOf(r.runId)).toHaveLength(3);
    expectOneAfterAnother(engine, state, r);
  });

  it('one whose module loads for longer than its timeout succeeds, and that load is its init', async () => {
    const slow = slowImport(tmp());
    const engine = engineWith({ executors: { function: createFunctionExecutor({ threads: 1 }) } });
    engine.register(compileWorkflow({ name: 'late', steps: { s: { timeoutMs: 300, executor: container(slow.module, 'now') } } }, { source: 'test' }));
    const running = engine.run('late', null);
    while (!slow.importing()) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 600));
    slow.release();
    const r = await running;
    expect(r).toMatchObject({ status: 'succeeded', output: { s: 'ran' } });
    expect(r.trace).toEqual([expect.objectContaining({ step: 's', status: 'succeeded', initMs: expect.any(Number) })]);
    expect(r.trace[0]!.initMs).toBeGreaterThanOrEqual(600);
  });
});

describe("a placed step's memory caps its handler's worker", () => {
  const auto = (exportName: string) => ({ type: 'auto', module: handlers, export: exportName, image: 'example/img:1' });

  it('at its resources.memoryMb, or the 1,024 MB its placement gives without one; a function step keeps V8\'s limit', async () => {
    const engine = engineWith();
    engine.register(compileWorkflow({
      name: 'limits',
      steps: {
        capped: { executor: auto('heapLimit'), resources: { memoryMb: 256 } },
        placed: { executor: auto('heapLimit') },
        plain: { executor: { type: 'function', module: handlers, export: 'heapLimit' } },
      },
    }, { source: 'test' }));
    const r = await engine.run('limits', null);
    expect(r.status).toBe('succeeded');
    const limits = r.output as Record<string, { limitMb: number }>;
    // V8's limit is the old generation's cap plus the young generation's room.
    expect(limits['capped']!.limitMb).toBeGreaterThanOrEqual(256);
    expect(limits['capped']!.limitMb).toBeLessThan(512);
    expect(limits['placed']!.limitMb).toBeGreaterThanOrEqual(1024);
    expect(limits['placed']!.limitMb).toBeLessThan(1280);
    expect(limits['plain']!.limitMb).toBe(Math.round(getHeapStatistics().heap_size_limit / 2 ** 20));
  });

  it('fails each attempt of a handler that allocates past it, retried as other failures, and the engine goes on', async () => {
    const engine = engineWith();
    engine.register(compileWorkflow({
      name: 'greedy',
      steps: { hoard: { executor: auto('hoards'), resources: { memoryMb: 128 }, retry: { maxAttempts: 2, backoffMs: 0 } } },
    }, { source: 'test' }));
    engine.register(compileWorkflow({ name: 'after', steps: { d: { executor: auto('double'), resources: { memoryMb: 128 } } } }, { source: 'test' }));
    const r = await engine.run('greedy', null);
    expect(r.status).toBe('failed');
    expect(r.trace.map((t) => [t.step, t.attempt, t.status])).toEqual([['hoard', 1, 'failed'], ['hoard', 2, 'failed']]);
    expect(r.error).toMatchObject({ type: 'OutOfMemory', step: 'hoard' });
    expect(r.error!.message).toContain(`the handler ${handlers}#hoards of step 'hoard' (attempt 2, run ${r.runId}) ran out of memory`);
    expect(r.error!.message).toContain("the step's limit of 128 MB (resources.memoryMb)");
    const after = await engine.run('after', { x: 21 });
    expect(after).toMatchObject({ status: 'succeeded', output: { d: 42 } });
  });
});
