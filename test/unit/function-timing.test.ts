/**
 * When a function step's attempt starts, when its timeout starts counting, and what its timeout
 * says: the function executor (real worker threads) under the lanes, as the engine runs it. A
 * `container` step's handler runs in the same pool locally, and is timed the same way.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalContainerExecutor } from '../../src/adapters/local/delegating-executors.ts';
import { createFunctionExecutor } from '../../src/adapters/local/function-executor.ts';
import { INIT_LIMIT_MS, Lanes, type LaneHooks, type TraceRecord } from '../../src/adapters/local/lanes.ts';
import { attemptEvent, type AttemptEnd } from '../../src/adapters/local/step-events.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { Executor, StepOutcome, Task } from '../../src/ports.ts';
import { slowImport } from '../helpers/slow-import.ts';
import { tempDirs } from '../helpers/tmp.ts';

const handlers = fileURLToPath(new URL('../fixtures/handlers/', import.meta.url));
const tmp = tempDirs('jf-fn-timing-');
const pools: Executor[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close();
});

function task(step: string, module: string, exportName: string, extra: Partial<Task> = {}): Task {
  return { workflow: 'w', runId: 'r', step, attempt: 1, maxAttempts: 1, executor: { type: 'function', module, export: exportName }, event: { input: {}, results: {} }, ...extra };
}

/** A `container` step's task: a handler `module` (locally in the function pool), or a `command`. */
function containerTask(step: string, run: { module: string; export: string } | { command: string }, extra: Partial<Task> = {}): Task {
  return { ...task(step, '', ''), executor: { type: 'container', queue: 'default', args: [], env: {}, export: 'handler', ...run }, ...extra };
}

/**
 * Lanes over a function pool of `threads` (without a concurrency limit unless given), and what
 * they report. Container steps run as on the engine: a handler in that pool, a command on
 * `processes` (by default, one that runs until it is stopped, and records what it was given).
 */
function lanesOver(threads: number, limit?: number) {
  const pool = createFunctionExecutor({ threads, warming: 1 });
  pools.push(pool);
  const commands: Task[] = [];
  const processes: Executor = {
    kind: 'process',
    execute: (t, signal) => {
      commands.push(t);
      return new Promise<StepOutcome>((resolve) => signal.addEventListener('abort', () => resolve({ status: 'aborted' })));
    },
    close: async () => {},
  };
  const log: string[] = [];
  const ends: Array<{ step: string; outcome: AttemptEnd; record: TraceRecord }> = [];
  const started = new Map<string, number>();
  let last = 0;
  const hooks: LaneHooks = {
    started: (t, at) => void started.set(t.step, at),
    finished: (t, outcome, record) => {
      log.push(`finished ${t.step}`);
      ends.push({ step: t.step, outcome, record });
    },
    wanted: () => true,
    // Each reading is later than the one before: which of two times was taken first shows.
    now: () => (last = Math.max(Date.now(), last + 1)),
  };
  const executors = new Map<Task['executor']['type'], Executor>([['function', pool], ['container', createLocalContainerExecutor(pool, processes)]]);
  const lanes = new Lanes(executors, new Map(limit === undefined ? [] : [['function', limit]]), hooks);
  return { lanes, ends, started, commands };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Submits `t`, whose module (`slow`) then takes `ms` to load, and waits until the lanes have reported `count` ends. */
async function loadingFor(lanes: Lanes, slow: ReturnType<typeof slowImport>, t: Task, ms: number, ends: readonly unknown[], count: number): Promise<void> {
  lanes.submit(t);
  await vi.waitUntil(slow.importing, { timeout: 30_000 });
  await sleep(ms);
  slow.release();
  await vi.waitUntil(() => ends.length === count, { timeout: 30_000 });
}

describe("a function step's timeout counts from its handler's start", () => {
  it("does not count the load of the handler's module on a worker that ran another module before", async () => {
    const { lanes, ends } = lanesOver(1);
    lanes.submit(task('first', join(handlers, 'plain.mjs'), 'handler', { event: { input: { name: 'x' }, results: {} } }));
    await vi.waitUntil(() => ends.length === 1, { timeout: 30_000 });
    const slow = slowImport(tmp());
    // The module loads for longer than the step's timeout.
    await loadingFor(lanes, slow, task('loads', slow.module, 'now', { timeoutMs: 300 }), 900, ends, 2);
    expect(ends[1]!.outcome).toMatchObject({ status: 'succeeded', output: 'ran' });
    expect(ends[1]!.record.initMs).toBeGreaterThanOrEqual(900);
  });

  it('does not count the load of a handler whose file changed on the worker that ran it (joinflow dev): its init, until the handler starts', async () => {
    const { lanes, ends } = lanesOver(1);
    const slow = slowImport(tmp());
    const gated = await readFile(slow.module, 'utf8');
    // The same module, loading at once; the worker that runs it keeps it loaded.
    await writeFile(slow.module, "export const now = () => 'first';\nexport const hangs = () => new Promise(() => {});\n");
    lanes.submit(task('first', slow.module, 'now', { timeoutMs: 300 }));
    await vi.waitUntil(() => ends.length === 1, { timeout: 30_000 });
    expect(ends[0]!.outcome).toMatchObject({ status: 'succeeded', output: 'first' });
    // Changed on disk: the warm worker imports it again, for longer than the step's timeout.
    await writeFile(slow.module, gated);
    await loadingFor(lanes, slow, task('reloads', slow.module, 'now', { timeoutMs: 300 }), 900, ends, 2);
    expect(ends[1]!.outcome).toMatchObject({ status: 'succeeded', output: 'ran' });
    expect(ends[1]!.record.initMs).toEqual(expect.any(Number));
    // After the load the handler's own time counts: one that never returns times out, saying how long the load took.
    lanes.submit(task('hangs', slow.module, 'hangs', { timeoutMs: 300 }));
    await vi.waitUntil(() => ends.length === 3, { timeout: 30_000 });
    expect(ends[2]!.outcome).toMatchObject({ status: 'timeout', timeoutMs: 300 });
    expect(ends[2]!.outcome).not.toHaveProperty('handlerStarted');
  });

  it('reports, on a timeout after a long init, how long the init took: the message names the step, the attempt, the limit and that wait', async () => {
    const { lanes, ends } = lanesOver(1);
    const slow = slowImport(tmp());
    await loadingFor(lanes, slow, task('waits', slow.module, 'hangs', { timeoutMs: 300, attempt: 2, maxAttempts: 3 }), 600, ends, 1);
    const { outcome, record } = ends[0]!;
    expect(outcome).toMatchObject({ status: 'timeout', timeoutMs: 300, initMs: expect.any(Number) });
    const initMs = (outcome as { initMs: number }).initMs;
    expect(initMs).toBeGreaterThanOrEqual(600);
    expect(record).toMatchObject({ status: 'failed', initMs });
    const { event } = attemptEvent(task('waits', slow.module, 'hangs', { timeoutMs: 300, attempt: 2, maxAttempts: 3 }), outcome, (type, detail) => ({ type, detail }) as unknown as EventEnvelope);
    const error = (event as unknown as { detail: { error: { type: string; message: string } } }).detail.error;
    expect(error.type).toBe('StepTimeout');
    expect(error.message).toBe(
      `step "waits" timed out after 300 ms of its handler (attempt 2): its timeoutMs counts from the handler's start, ` +
        `which came ${initMs} ms into the attempt, spent starting a worker thread or loading its module (${record.end - record.start} ms in all)`,
    );
  });
});

describe('the time a function step waits in the pool for a busy thread is not its own', () => {
  it('without a concurrency limit, each task starts when a thread takes it, not when the pool got it, and that wait is not its init', async () => {
    const { lanes, ends, started } = lanesOver(1);
    const steps = ['a', 'b', 'c'];
    lanes.submitAll(steps.map((step) => task(step, join(handlers, 'handlers.ts'), 'slow', { event: { input: { ms: 100 }, results: {} } })));
    await vi.waitUntil(() => ends.length === 3, { timeout: 30_000 });
    const records = ends.map((e) => e.record);
    expect(ends.map((e) => e.step)).toEqual(steps);
    expect(ends.every((e) => e.outcome.status === 'succeeded')).toBe(true);
    // One thread: each ran after the one before it had ended, and started (Step Started) then;
    // its start taken after the end of the one before it.
    for (let i = 1; i < 3; i++) {
      expect(records[i]!.start).toBeGreaterThan(records[i - 1]!.end);
      expect(started.get(steps[i]!)).toBe(records[i]!.start);
    }
    // The first waited for the worker to start: its init. The others found it warm.
    expect(records[0]!.initMs).toEqual(expect.any(Number));
    expect(records[1]!.initMs).toBeUndefined();
    expect(records[2]!.initMs).toBeUndefined();
  });
});

describe("a container step's handler, which runs in the function pool locally, is timed as a function step's", () => {
  it("does not count the load of its module on a worker that ran another module before", async () => {
    const { lanes, ends } = lanesOver(1);
    lanes.submit(task('first', join(handlers, 'plain.mjs'), 'handler', { event: { input: { name: 'x' }, results: {} } }));
    await vi.waitUntil(() => ends.length === 1, { timeout: 30_000 });
    const slow = slowImport(tmp());
    await loadingFor(lanes, slow, containerTask('loads', { module: slow.module, export: 'now' }, { timeoutMs: 300 }), 900, ends, 2);
    expect(ends[1]!.outcome).toMatchObject({ status: 'succeeded', output: 'ran' });
    expect(ends[1]!.record.initMs).toBeGreaterThanOrEqual(900);
  });

  it('does not count the load of a handler whose file changed on the worker that ran it (joinflow dev)', async () => {
    const { lanes, ends } = lanesOver(1);
    const slow = slowImport(tmp());
    const gated = await readFile(slow.module, 'utf8');
    await writeFile(slow.module, "export const now = () => 'first';\n");
    lanes.submit(containerTask('first', { module: slow.module, export: 'now' }, { timeoutMs: 300 }));
    await vi.waitUntil(() => ends.length === 1, { timeout: 30_000 });
    expect(ends[0]!.outcome).toMatchObject({ status: 'succeeded', output: 'first' });
    await writeFile(slow.module, gated);
    await loadingFor(lanes, slow, containerTask('reloads', { module: slow.module, export: 'now' }, { timeoutMs: 300 }), 900, ends, 2);
    expect(ends[1]!.outcome).toMatchObject({ status: 'succeeded', output: 'ran' });
    expect(ends[1]!.record.initMs).toEqual(expect.any(Number));
  });

  it('says on a timeout after a long init how long the init took, as a function step does', async () => {
    const { lanes, ends } = lanesOver(1);
    const slow = slowImport(tmp());
    const waits = containerTask('waits', { module: slow.module, export: 'hangs' }, { timeoutMs: 300 });
    await loadingFor(lanes, slow, waits, 600, ends, 1);
    const { outcome, record } = ends[0]!;
    expect(outcome).toMatchObject({ status: 'timeout', timeoutMs: 300, initMs: expect.any(Number) });
    const initMs = (outcome as { initMs: number }).initMs;
    expect(initMs).toBeGreaterThanOrEqual(600);
    expect(record).toMatchObject({ status: 'failed', initMs });
    const { event } = attemptEvent(waits, outcome, (type, detail) => ({ type, detail }) as unknown as EventEnvelope);
    expect((event as unknown as { detail: { error: { message: string } } }).detail.error.message).toBe(
      `step "waits" timed out after 300 ms of its handler (attempt 1): its timeoutMs counts from the handler's start, ` +
        `which came ${initMs} ms into the attempt, spent starting a worker thread or loading its module (${record.end - record.start} ms in all)`,
    );
  });

  it("starts when a thread takes it, not while a function step's handler keeps the pool's one thread busy", async () => {
    const { lanes, ends, started } = lanesOver(1);
    const slow = { event: { input: { ms: 100 }, results: {} } };
    lanes.submitAll([
      task('a', join(handlers, 'handlers.ts'), 'slow', slow),
      containerTask('b', { module: join(handlers, 'handlers.ts'), export: 'slow' }, slow),
      containerTask('c', { module: join(handlers, 'handlers.ts'), export: 'slow' }, slow),
    ]);
    await vi.waitUntil(() => ends.length === 3, { timeout: 30_000 });
    expect(ends.map((e) => [e.step, e.outcome.status])).toEqual([['a', 'succeeded'], ['b', 'succeeded'], ['c', 'succeeded']]);
    const records = ends.map((e) => e.record);
    for (let i = 1; i < 3; i++) {
      expect(records[i]!.start).toBeGreaterThan(records[i - 1]!.end);
      expect(started.get(ends[i]!.step)).toBe(records[i]!.start);
    }
    // They found the worker warm, with their module loaded: no init.
    expect(records[1]!.initMs).toBeUndefined();
    expect(records[2]!.initMs).toBeUndefined();
  });

  it('leaves a container command as it was: a process, started at once, its timeout counted from then and saying nothing of an init', async () => {
    const { lanes, ends, started, commands } = lanesOver(1);
    lanes.submit(containerTask('cmd', { command: 'tool' }, { timeoutMs: 200 }));
    expect(started.has('cmd')).toBe(true);
    await vi.waitUntil(() => ends.length === 1, { timeout: 30_000 });
    expect(commands.map((t) => t.executor)).toEqual([{ type: 'process', command: 'tool', args: [], env: {} }]);
    expect(ends[0]!.outcome).toEqual({ status: 'timeout', timeoutMs: 200 });
    expect(ends[0]!.record.initMs).toBeUndefined();
  });
});

describe('the message of a timeout', () => {
  const make = (type: string, detail: unknown) => ({ type, detail }) as unknown as EventEnvelope;
  const messageOf = (outcome: AttemptEnd) => (attemptEvent(task('s', 'm.mjs', 'h', { timeoutMs: 200 }), outcome, make).event as unknown as { detail: { error: { message: string } } }).detail.error.message;

  it('names the step, the limit and the attempt; a function step also the init before its handler, or that its handler never started', () => {
    expect(messageOf({ status: 'timeout', timeoutMs: 200 })).toBe('step "s" timed out after 200 ms (attempt 1)');
    expect(messageOf({ status: 'timeout', timeoutMs: 200, tookMs: 1234, initMs: 1034 })).toBe(
      'step "s" timed out after 200 ms of its handler (attempt 1): its timeoutMs counts from the handler\'s start, which came 1034 ms into the attempt, spent starting a worker thread or loading its module (1234 ms in all)',
    );
    expect(messageOf({ status: 'timeout', timeoutMs: 200, tookMs: 200 + INIT_LIMIT_MS, handlerStarted: false })).toBe(
      `step "s" timed out (attempt 1) before its handler started: the worker thread and the module it waited for were not ready ${200 + INIT_LIMIT_MS} ms into the attempt (its timeoutMs of 200 ms plus ${INIT_LIMIT_MS} ms allowed for a start-up, Lambda's limit on Init)`,
    );
  });
});
