/**
 * The times the embedded engine records for a run and its steps, on every store (memory, the
 * journal, the row store), as `joinflow status --json` and `joinflow timeline --json` read them.
 * The engine runs on a clock the test moves, so times are compared with each other, never with
 * the wall clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import type { DurableLog } from '../../src/adapters/local/durable-log.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { summarizeRun, summarizeSteps } from '../../src/cli/local-runs.ts';
import { localTimeline } from '../../src/cli/local-timeline.ts';
import { createSimulateExecutor } from '../../src/adapters/local/simulate-executor.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { Executor, RunRecord, TriggerStore } from '../../src/ports.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-step-times-');
const stores = ['memory', 'journal', 'rows'] as const;
type StoreKind = (typeof stores)[number];
type State = { store: TriggerStore; log: DurableLog; close(): void };

/** A clock only the test moves. */
function testClock(): { t: number; now(): number } {
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  return clock;
}

/**
 * `process` steps: `bad` fails for good 10 ms after it starts; the others run until stopped, and
 * each then takes 40 ms to be gone (a process's SIGTERM and exit), one after the other.
 */
function stoppableProcesses(clock: { t: number }, started: string[]): Executor {
  return {
    kind: 'process',
    execute(task, signal) {
      started.push(task.step);
      if (task.step === 'bad') {
        return new Promise((resolve) => setImmediate(() => {
          clock.t += 10;
          resolve({ status: 'failed', error: { type: 'Boom', message: 'exited with code 3' }, retriable: false });
        }));
      }
      return new Promise((resolve) => signal.addEventListener('abort', () => setTimeout(() => {
        clock.t += 40;
        resolve({ status: 'aborted' });
      }, 5 * started.indexOf(task.step))));
    },
    async close() {},
  };
}

const plan = compileWorkflow({
  name: 'stopped',
  steps: {
    slow1: { executor: { type: 'process', command: 'sleep', args: ['5'] } },
    slow2: { executor: { type: 'process', command: 'sleep', args: ['5'] } },
    bad: { executor: { type: 'process', command: 'false' } },
    sink: { needs: ['slow1', 'slow2', 'bad'], executor: { type: 'process', command: 'true' } },
  },
}, { source: 'test' });

const open: Array<{ engine: Engine; state: State | undefined }> = [];
afterEach(async () => {
  for (const { engine, state } of open.splice(0)) {
    await engine.close();
    state?.close();
  }
});

function engineOn(kind: StoreKind, clock: { now(): number }, executor: Executor): { engine: Engine; state: State | undefined; dir: string } {
  const dir = tmp();
  const state = kind === 'memory' ? undefined : kind === 'journal' ? openJournalState({ dir }) : openSqliteState({ dir });
  const engine = createEngine({
    ...(state ? { store: state.store, log: state.log } : {}),
    clock, trace: true, concurrency: { process: 4 }, executors: { process: executor },
  });
  engine.register(plan);
  open.push({ engine, state });
  return { engine, state, dir };
}

/** What `status --json` and `timeline --json` read of a durable run, from its state dir opened afresh. */
function fromStateDir(kind: StoreKind, dir: string, runId: string): { run: RunRecord; steps: ReturnType<typeof summarizeSteps>; timeline: ReturnType<typeof localTimeline> } {
  const state = kind === 'journal' ? openJournalState({ dir }) : openSqliteState({ dir });
  try {
    const run = state.store.getRun(runId) as RunRecord;
    return { run, steps: summarizeSteps(run, state.log.tasks(runId)), timeline: localTimeline(run, state.log.tasks(runId), state.log.runPlan(runId), run.finishedAt!) };
  } finally {
    state.close();
  }
}

describe('a run that stops its running steps ends after them', () => {
  for (const kind of stores) {
    it(`failed, on the ${kind} store: the cancelled siblings end before the run does`, async () => {
      const clock = testClock();
      const started: string[] = [];
      const { engine, state, dir } = engineOn(kind, clock, stoppableProcesses(clock, started));
      const t0 = clock.t;
      const r = await engine.run('stopped', null);
      expect(r.status).toBe('failed');
      expect(r.steps).toMatchObject({ total: 3, failed: 1, cancelled: 2 });
      const record = (await engine.store.getRun(r.runId))!;
      const trace = state ? engine.traceOf(r.runId) : r.trace;
      const ends = Object.fromEntries(trace.map((t) => [t.step, [t.status, t.end - t0]]));
      // bad failed at +10 (the run's end was decided then); slow1 was gone at +50, slow2 at +90.
      expect(ends).toEqual({ bad: ['failed', 10], slow1: ['cancelled', 50], slow2: ['cancelled', 90] });
      expect(record.finishedAt! - t0).toBe(90);
      expect(r.durationMs).toBe(record.finishedAt! - record.startedAt);
      if (!state) return;
      await engine.close();
      state.close();
      open.length = 0;
      const read = fromStateDir(kind, dir, r.runId);
      expect(read.run.finishedAt).toBe(record.finishedAt);
      expect(read.steps.map((s) => [s.step, s.state, s.finishedAt! - t0]).sort()).toEqual([['bad', 'failed', 10], ['slow1', 'cancelled', 50], ['slow2', 'cancelled', 90]]);
      expect(read.timeline.finishedAt).toBe(record.finishedAt);
      for (const e of read.timeline.executions) expect(e.end).toBeLessThanOrEqual(read.timeline.finishedAt!);
    });
  }

  for (const kind of stores) {
    it(`cancelled, on the ${kind} store: the run ends when its stopped steps are gone`, async () => {
      const clock = testClock();
      const started: string[] = [];
      const executor = stoppableProcesses(clock, started);
      const { engine, state } = engineOn(kind, clock, { ...executor, execute: (task, signal) => executor.execute({ ...task, step: task.step === 'bad' ? 'slow3' : task.step }, signal) });
      const t0 = clock.t;
      const runId = await engine.start('stopped', null);
      await vi.waitUntil(() => started.length === 3);
      clock.t += 5;
      expect(await engine.cancel(runId)).toBe(true);
      const r = await engine.wait(runId);
      expect(r.status).toBe('cancelled');
      const record = (await engine.store.getRun(runId))!;
      if (state) expect(engine.traceOf(runId).map((t) => [t.status, t.end - t0]).sort((a, b) => (a[1] as number) - (b[1] as number))).toEqual([['cancelled', 45], ['cancelled', 85], ['cancelled', 125]]);
      // Three stopped, 40 ms each, after the cancel at +5.
      expect(record.finishedAt! - t0).toBe(125);
      expect(r.durationMs).toBe(125);
    });
  }
});

describe('a run stopping its steps, as another process reads its state meanwhile', () => {
  for (const kind of ['journal', 'rows'] as const) {
    for (const end of ['failed', 'cancelled'] as const) {
      it(`${end}, on the ${kind} store: no end on file until the steps it stops are gone, and then after them`, async () => {
        const clock = testClock();
        const started: string[] = [];
        const seen: Array<{ run: RunRecord; at: number; stopping: boolean; steps: Array<[string, string, number | undefined]>; timeline: ReturnType<typeof localTimeline> }> = [];
        let dir = '';
        // What `status` and `timeline` would show, read from the state dir by a connection of its own (what is committed).
        const look = (runId: string): void => {
          const state = kind === 'journal' ? openJournalState({ dir }) : openSqliteState({ dir });
          try {
            const run = state.store.getRun(runId) as RunRecord;
            const tasks = state.log.tasks(runId);
            seen.push({
              run,
              at: clock.now(),
              stopping: summarizeRun(run).stopping === true,
              steps: summarizeSteps(run, tasks).map((s) => [s.step, s.state, s.finishedAt]),
              timeline: localTimeline(run, tasks, state.log.runPlan(runId), clock.now()),
            });
          } finally {
            state.close();
          }
        };
        const inner = stoppableProcesses(clock, started);
        let runId = '';
        // Each stopped step is looked at as its stop begins, while it is still running.
        const executor: Executor = {
          ...inner,
          execute: (task, signal) => {
            signal.addEventListener('abort', () => look(runId));
            return inner.execute(end === 'cancelled' && task.step === 'bad' ? { ...task, step: 'slow3' } : task, signal);
          },
        };
        const made = engineOn(kind, clock, executor);
        dir = made.dir;
        const t0 = clock.t;
        runId = await made.engine.start('stopped', null);
        if (end === 'cancelled') {
          await vi.waitUntil(() => started.length === 3);
          await made.engine.cancel(runId);
        }
        const r = await made.engine.wait(runId);
        expect(r.status).toBe(end);
        look(runId);
        const stoppedSteps = end === 'failed' ? 2 : 3;
        expect(seen).toHaveLength(stoppedSteps + 1);
        for (const view of seen.slice(0, -1)) {
          // Ended, not finished: the steps it stops still run, and so does the run on the timeline.
          expect(view.run.status).toBe(end);
          expect(view.run.finishedAt).toBeUndefined();
          expect(view.stopping).toBe(true);
          expect(view.steps.filter(([, state]) => state === 'started').length).toBeGreaterThan(0);
          expect(view.timeline.finishedAt).toBe(view.at);
          expect(view.timeline.executions.filter((e) => e.status === 'running').length).toBeGreaterThan(0);
          for (const e of view.timeline.executions) expect(e.end).toBeLessThanOrEqual(view.at);
        }
        const last = seen.at(-1)!;
        expect(last.stopping).toBe(false);
        expect(last.run.finishedAt! - t0).toBe(end === 'failed' ? 90 : 120);
        for (const [, state, at] of last.steps) {
          expect(state).not.toBe('started');
          expect(at).toBeLessThanOrEqual(last.run.finishedAt!);
        }
      });
    }
  }
});

/** A clock that moves 1 ms each time it is read: every wait the engine records shows as time. */
function countingClock(): { now(): number } {
  let t = 1_700_000_000_000;
  return { now: () => t++ };
}

const WIDTH = 2_000;
const wide = compileWorkflow({
  name: 'wide',
  steps: {
    src: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: WIDTH }, (_, i) => i) } },
    item: { needs: ['src'], forEach: 'src', executor: { type: 'simulate', durationMs: 0 } },
    sink: { needs: ['item'], executor: { type: 'simulate', durationMs: 0 } },
  },
}, { source: 'test' });

describe('simulated steps of no duration take no time; their wait shows before their start', () => {
  for (const kind of ['memory', 'journal'] as const) {
    it(`a fan-out of ${WIDTH} on the ${kind} store: each item takes 0 ms, starts after src ends, and as its Step Started says`, async () => {
      const dir = tmp();
      const state = kind === 'journal' ? openJournalState({ dir }) : undefined;
      const engine = createEngine({ ...(state ? { store: state.store, log: state.log } : {}), clock: countingClock(), trace: true });
      open.push({ engine, state });
      engine.register(wide);
      const announced = new Map<string, number>();
      engine.bus.subscribe(null, (events) => {
        for (const e of events) {
          const d = e.detail as { step: string; item?: number; startedAt?: number };
          if (e['detail-type'] === 'Step Started') announced.set(`${d.step}${d.item ?? ''}`, d.startedAt!);
        }
      });
      const r = await engine.run('wide', null);
      expect(r.status).toBe('succeeded');
      const trace = state ? engine.traceOf(r.runId) : r.trace;
      expect(trace).toHaveLength(WIDTH + 2);
      const src = trace.find((t) => t.step === 'src')!;
      const sink = trace.find((t) => t.step === 'sink')!;
      const items = trace.filter((t) => t.step === 'item');
      for (const t of trace) {
        expect(t.end - t.start).toBe(0);
        expect(announced.get(`${t.step}${t.item ?? ''}`)).toBe(t.start);
      }
      expect(Math.min(...items.map((t) => t.start))).toBeGreaterThan(src.end);
      expect(sink.start).toBeGreaterThan(Math.max(...items.map((t) => t.end)));
      if (!state) return;
      const steps = summarizeSteps((await engine.store.getRun(r.runId))!, state.log.tasks(r.runId));
      expect(steps.filter((s) => s.durationMs !== 0)).toEqual([]);
    });
  }

  it('a concurrency limit still holds: no more items are handed to the executor at once than it allows', async () => {
    let inFlight = 0;
    let most = 0;
    const inner = createSimulateExecutor();
    const counted: Executor = {
      ...inner,
      start: (task, signal, done, begin) => {
        most = Math.max(most, ++inFlight);
        inner.start!(task, signal, (outcome, s) => {
          inFlight--;
          done(outcome, s);
        }, begin);
      },
    };
    const engine = createEngine({ concurrency: { simulate: 3 }, executors: { simulate: counted }, trace: true });
    open.push({ engine, state: undefined });
    engine.register(wide);
    const r = await engine.run('wide', null);
    expect(r.status).toBe('succeeded');
    expect(most).toBe(3);
    // As recorded: at no time were more than 3 executions running.
    const edges = r.trace.flatMap((t) => [[t.start, 1], [t.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    for (const [, d] of edges) expect((running += d)).toBeLessThanOrEqual(3);
  });
});
