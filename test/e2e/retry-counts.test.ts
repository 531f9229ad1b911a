/**
 * The run's counts (`retried` above all) for a retry the run's end stops, on the memory store and
 * the durable ones: as the run's result says them, and as a run reported again from its state
 * (`joinflow resume <run> --json`, `wait()` after the engine forgot it) says them. A retry counts
 * as retried once its attempt started; one that never started (it waited for its backoff, or for
 * a free slot) is the step's cancellation, not a retry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type RunResult } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { RunTracker } from '../../src/adapters/local/run-tracker.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { Executor, RunRecord, StepOutcome } from '../../src/ports.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-retry-counts-');
const stores = ['memory', 'journal', 'rows'] as const;

/** `retr` fails (retriably) on its first attempt; `slow` runs until stopped; `bad` fails for good once `retr`'s retry is where the case wants it. */
const plan = (backoffMs: number) => compileWorkflow({
  name: 'retries',
  steps: {
    retr: { retry: { maxAttempts: 3, backoffMs }, executor: { type: 'process', command: 'retr' } },
    slow: { executor: { type: 'process', command: 'slow' } },
    bad: { executor: { type: 'process', command: 'bad' } },
  },
}, { source: 'test' });

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

/**
 * `failBad`: when `bad` fails, given the attempts of retr so far and how often it looked (every
 * 5 ms); until then it runs (and stops when told). `stopRetry`: retr's second attempt runs until stopped.
 */
function executor(failBad: (retrAttempts: number, polls: number) => boolean, stopRetry = false): Executor {
  let retrAttempts = 0;
  const untilStopped = (signal: Parameters<Executor['execute']>[1]) => new Promise<StepOutcome>((resolve) => signal.addEventListener('abort', () => resolve({ status: 'aborted' })));
  return {
    kind: 'process',
    async close() {},
    async execute(task, signal) {
      if (task.step === 'retr') {
        retrAttempts++;
        if (task.attempt > 1 && stopRetry) return untilStopped(signal);
        return { status: 'failed', error: { type: 'Flaky', message: 'flaky' }, retriable: true };
      }
      if (task.step === 'slow') return untilStopped(signal);
      for (let polls = 0; !failBad(retrAttempts, polls); polls++) {
        if (signal.aborted) return { status: 'aborted' };
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return { status: 'failed', error: { type: 'Bad', message: 'bad data' }, retriable: false };
    },
  };
}

/** Runs the workflow on a store; gives the run's result and, on a durable store, the result read back from its state. */
/** `watch`: called before the run starts; what it returns is awaited once the run has started. */
async function runOn(kind: (typeof stores)[number], backoffMs: number, ex: Executor, limit: number, watch?: (engine: Engine) => (runId: string) => Promise<void>): Promise<{ result: RunResult; again?: RunResult }> {
  const dir = tmp();
  const state = kind === 'memory' ? undefined : kind === 'journal' ? openJournalState({ dir }) : openSqliteState({ dir });
  const engine = createEngine({ ...(state ? { store: state.store, log: state.log } : {}), concurrency: { process: limit }, executors: { process: ex } });
  open.push(async () => {
    await engine.close();
    state?.close();
  });
  engine.register(plan(backoffMs));
  const after = watch?.(engine);
  const runId = await engine.start('retries', null);
  await after?.(runId);
  const result = await engine.wait(runId);
  if (!state) return { result };
  return { result, again: RunTracker.fromRecord((await engine.store.getRun(runId)) as RunRecord, state.log) };
}

const cases = [
  {
    name: 'the run fails while the retry waits for its backoff',
    backoffMs: 60_000, limit: 3, ex: () => executor((n) => n >= 1),
    status: 'failed', steps: { total: 3, succeeded: 0, failed: 1, cancelled: 2, retried: 0 },
  },
  {
    name: 'the run fails while the retry, due, waits for a free slot',
    // Two slots, held by slow and bad once retr's first attempt is over: its retry, due 1 ms later, queues. (Should its
    // timer not have fired in bad's 10 looks, on a very busy machine, the case is the one above, with the same counts.)
    backoffMs: 1, limit: 2, ex: () => executor((n, polls) => n >= 1 && polls >= 10),
    status: 'failed', steps: { total: 3, succeeded: 0, failed: 1, cancelled: 2, retried: 0 },
  },
  {
    name: 'the run fails while the retry runs: it started, so it counts',
    backoffMs: 1, limit: 3, ex: () => executor((n) => n >= 2, true),
    status: 'failed', steps: { total: 3, succeeded: 0, failed: 1, cancelled: 2, retried: 1 },
  },
] as const;

describe('a retry the run\'s end stops is counted alike on every store', () => {
  for (const c of cases) {
    it(c.name, async () => {
      for (const kind of stores) {
        const { result, again } = await runOn(kind, c.backoffMs, c.ex(), c.limit);
        expect({ kind, status: result.status, steps: result.steps }).toEqual({ kind, status: c.status, steps: c.steps });
        if (again) expect({ kind, steps: again.steps }).toEqual({ kind, steps: c.steps });
      }
    });
  }

  it('the run is cancelled while the retry waits for its backoff', async () => {
    for (const kind of stores) {
      const { result, again } = await runOn(kind, 60_000, executor(() => false), 3, (engine) => {
        // The engine handles an event before the bus hands it on: once retr's failure is heard, its retry waits for its timer.
        const failed = new Promise<void>((resolve) => {
          const off = engine.bus.subscribe({ 'detail-type': ['Step Failed'], detail: { step: ['retr'] } }, () => {
            off();
            resolve();
          });
        });
        return async (runId) => {
          await failed;
          expect(await engine.cancel(runId)).toBe(true);
        };
      });
      const steps = { total: 3, succeeded: 0, failed: 0, cancelled: 3, retried: 0 };
      expect({ kind, status: result.status, steps: result.steps }).toEqual({ kind, status: 'cancelled', steps });
      if (again) expect({ kind, steps: again.steps }).toEqual({ kind, steps });
    }
  });
});
