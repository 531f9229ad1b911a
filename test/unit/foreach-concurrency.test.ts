/**
 * forEach `maxConcurrency: n`: at most n items run at once (runtime/window.ts), under duplicated
 * and reordered deliveries, on the memory and the durable store, and the plan's $window trigger.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type TraceRecord } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { DetailType } from '../../src/model/events.ts';
import { runTraceTimeline, type RunTraceRecord } from '../../src/timeline/run-trace.ts';
import { summarizeTimeline } from '../../src/timeline/timeline.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { drive, type Behaviour } from '../helpers/driver.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-foreach-concurrency-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** split -> square (forEach over n items, maxConcurrency `lanes`, 3 attempts) -> sum. */
const fan = (lanes: number | undefined, name = 'fan'): WorkflowInput => ({
  name,
  steps: {
    split: { executor: { type: 'simulate', durationMs: 0 } },
    square: { needs: ['split'], forEach: { step: 'split', ...(lanes === undefined ? {} : { maxConcurrency: lanes }) }, executor: { type: 'simulate', durationMs: 0 }, retry: { maxAttempts: 3, backoffMs: 1 } },
    sum: { needs: ['square'], executor: { type: 'simulate', durationMs: 0 } },
  },
  output: 'sum',
});

const outputs: Behaviour = (task) => {
  if (task.step === 'split') return { output: Array.from({ length: (task.event.input as { n: number }).n }, (_, i) => i + 1) };
  // Item 4 fails its first attempt: its retry keeps its lane.
  if (task.step === 'square' && task.item === 4 && task.attempt === 1) return { error: 'flaky' };
  if (task.step === 'square') return { output: (task.event.item as number) ** 2 };
  return { output: (task.event.results['square'] as number[]).reduce((a, b) => a + b, 0) };
};

describe('forEach maxConcurrency, at the trigger processor', () => {
  const sum = Array.from({ length: 20 }, (_, i) => (i + 1) ** 2).reduce((a, b) => a + b);

  it('runs at most maxConcurrency items at once, and every item once per attempt', async () => {
    const r = (await drive([plan(fan(3))], [{ workflow: 'fan', runId: 'f', input: { n: 20 } }], outputs)).get('f')!;
    expect([r.status, r.output]).toEqual([DetailType.RunSucceeded, sum]);
    expect(r.widest.get('square')).toBe(3);
    expect(r.executions.get('square#4@2')).toBe(1);
    expect([...r.executions.keys()].filter((k) => k.startsWith('square#')).length).toBe(21);
    // Without it, the fan-out runs every item at once (what the limit changes).
    const wide = (await drive([plan(fan(undefined))], [{ workflow: 'fan', runId: 'f', input: { n: 20 } }], outputs)).get('f')!;
    expect(wide.widest.get('square')).toBe(20);
  });

  it.each([1, 2, 3, 4, 5, 6])('holds when every event is duplicated and shuffled (seed %i)', async (seed) => {
    const r = (await drive([plan(fan(4))], [{ workflow: 'fan', runId: 'f', input: { n: 20 } }], outputs, { maxCopies: 3, window: 16, seed })).get('f')!;
    expect([r.status, r.output]).toEqual([DetailType.RunSucceeded, sum]);
    expect(r.widest.get('square')).toBeLessThanOrEqual(4);
    // Each item started once (a duplicated end releases the next item once), each retry once.
    for (const [key, n] of r.executions) expect([key, n]).toEqual([key, 1]);
    expect(r.executions.size).toBe(1 + 20 + 1 + 1);
    expect(r.deadLetters).toEqual([]);
  });

  it('never starts the items held back by an item that failed for good: its step has failed', async () => {
    const failing: Behaviour = (task) => (task.step === 'square' && task.item === 0 ? { error: 'broken', retriable: false } : outputs(task));
    const r = (await drive([plan(fan(2))], [{ workflow: 'fan', runId: 'f', input: { n: 6 } }], failing)).get('f')!;
    expect(r.status).toBe(DetailType.RunFailed);
    const items = [...r.executions.keys()].filter((k) => k.startsWith('square#'));
    expect(items).toContain('square#1@1');
    expect(items.filter((k) => k.startsWith('square#0@') || k.startsWith('square#2@'))).toEqual(['square#0@1']);
  });

  it('is a narrower fan-out than its list when the list is shorter: all of it at once', async () => {
    const r = (await drive([plan(fan(50))], [{ workflow: 'fan', runId: 'f', input: { n: 5 } }], outputs)).get('f')!;
    expect(r.status).toBe(DetailType.RunSucceeded);
    expect(r.widest.get('square')).toBe(5);
  });
});

describe('forEach maxConcurrency, compiled', () => {
  it('adds a $window trigger that hears each item\'s result once', () => {
    const p = plan(fan(3));
    expect(p.steps['square']!.forEach).toEqual({ step: 'split', maxConcurrency: 3 });
    expect(p.triggers.find((t) => t.id === '$window:square')).toEqual({
      id: '$window:square',
      activation: { source: ['joinflow'], 'detail-type': [DetailType.StepCompleted], detail: { workflow: ['fan'], step: ['square'], item: [{ exists: true }] } },
      condition: { type: 'always', key: 'item' },
      action: { type: 'release', step: 'square' },
    });
    expect(plan(fan(undefined)).triggers.some((t) => t.id.startsWith('$window:'))).toBe(false);
  });

  it('refuses a maxConcurrency that is not a whole number of items, at least 1, naming where', () => {
    const bad = (n: unknown) => () => compileWorkflow({ ...fan(3), steps: { ...fan(3).steps, square: { ...fan(3).steps['square']!, forEach: { step: 'split', maxConcurrency: n } } } } as WorkflowInput);
    expect(bad(0)).toThrow(/steps\.square\.forEach\.maxConcurrency: must be at least 1/);
    expect(bad(1.5)).toThrow(/steps\.square\.forEach\.maxConcurrency: must be a whole number of items/);
  });
});

describe('forEach maxConcurrency, on the embedded engine', () => {
  /** The most records of `trace` running at one time (each from its start, inclusive, to its end). */
  const mostAtOnce = (trace: TraceRecord[]): number => Math.max(...trace.map((a) => trace.filter((b) => b.start <= a.start && a.start < b.end).length));
  const slow = (lanes: number | undefined, name: string): WorkflowInput => ({
    name,
    steps: {
      list: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: 8 }, (_, i) => i) } },
      each: { needs: ['list'], forEach: { step: 'list', ...(lanes === undefined ? {} : { maxConcurrency: lanes }) }, executor: { type: 'simulate', durationMs: 30, output: 1 } },
    },
  });

  it.each(['memory', 'durable'] as const)('starts item i + n after item i has ended (%s store)', async (kind) => {
    const state = kind === 'durable' ? openJournalState({ dir: tmp() }) : undefined;
    if (state) closers.push(() => state.close());
    const engine = createEngine(state ? { store: state.store, log: state.log, trace: true } : { trace: true });
    closers.push(() => engine.close());
    const lanes = plan(slow(3, 'lanes'));
    engine.register(lanes);
    engine.register(plan(slow(undefined, 'wide')));
    const r = await engine.run('lanes', null);
    expect(r.status).toBe('succeeded');
    const items = r.trace.filter((t) => t.step === 'each').sort((a, b) => a.item! - b.item!);
    expect(items.map((t) => t.item)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 0; i + 3 < items.length; i++) expect(items[i + 3]!.start).toBeGreaterThanOrEqual(items[i]!.end);
    expect(mostAtOnce(items)).toBe(3);
    // The timeline knows the lanes: its critical path runs through the items of one lane in turn.
    const t = runTraceTimeline(r.trace as RunTraceRecord[], lanes, 'lanes');
    expect(t.lanes).toEqual({ each: 3 });
    const path = summarizeTimeline(t).criticalPath.map((i) => t.executions[i]!).filter((e) => e.step === 'each').map((e) => e.item!);
    expect(path.length).toBeGreaterThanOrEqual(2);
    for (let k = 1; k < path.length; k++) expect(path[k]! - path[k - 1]!).toBe(3);
    const wide = await engine.run('wide', null);
    expect(mostAtOnce(wide.trace.filter((t) => t.step === 'each'))).toBe(8);
  });
});

describe('forEach maxConcurrency, through processor crashes (--chaos crash-at=N)', () => {
  it.each([1, 3, 7, 20, 40])('a fan-out of 30 items in 4 lanes survives a crash before effect %i, with duplicated and reordered delivery', async (n) => {
    const def = fan(4, 'lanes-crash');
    const steps = { ...def.steps, split: { executor: { type: 'simulate' as const, durationMs: 0, output: Array.from({ length: 30 }, (_, i) => i) } }, sum: { ...def.steps['sum']!, executor: { type: 'simulate' as const, durationMs: 0, output: 'summed' } } };
    const engine = createEngine({ chaos: { crashAt: n, duplicate: 1, reorder: 8, seed: n }, trace: true });
    closers.push(() => engine.close());
    engine.register(plan({ ...def, steps }));
    const r = await engine.run('lanes-crash', null);
    expect([r.status, r.output]).toEqual(['succeeded', 'summed']);
    expect(r.steps.total).toBe(32);
    expect(new Set(r.trace.filter((t) => t.step === 'square' && t.status === 'succeeded').map((t) => t.item)).size).toBe(30);
  });
});
