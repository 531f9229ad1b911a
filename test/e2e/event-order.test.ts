/**
 * The order in which others hear a run's events on the embedded engine (a bus subscriber, the
 * `onEvents` hook that subscriptions use, the log `events tail` reads): each step's Step Started
 * before its Step Completed, the run's end last, and all of them by the time `run()` / `wait()`
 * resolves. Instant simulated steps are the case in point: their Step Started is published with
 * their Step Completed, in the batch that may end the run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-event-order-');
const WIDTH = 500;
const plan = compileWorkflow({
  name: 'instant',
  steps: {
    src: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: WIDTH }, (_, i) => i) } },
    item: { needs: ['src'], forEach: 'src', executor: { type: 'simulate', durationMs: 0 } },
    sink: { needs: ['item'], executor: { type: 'simulate', durationMs: 0 } },
  },
}, { source: 'test' });

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

type Listener = 'subscriber' | 'onEvents';

/** An engine (memory or journal store) and the events one listener heard, in order. */
function engineWith(durable: boolean, listener: Listener): { engine: Engine; heard: EventEnvelope[]; log: ReturnType<typeof openJournalState>['log'] | undefined } {
  const heard: EventEnvelope[] = [];
  const state = durable ? openJournalState({ dir: tmp() }) : undefined;
  const engine = createEngine({
    ...(state ? { store: state.store, log: state.log } : {}),
    ...(listener === 'onEvents' ? { onEvents: (events: readonly EventEnvelope[]) => void heard.push(...events) } : {}),
  });
  if (listener === 'subscriber') engine.bus.subscribe(null, (events) => void heard.push(...events));
  engine.register(plan);
  open.push(async () => {
    await engine.close();
    state?.close();
  });
  return { engine, heard, log: state?.log };
}

const unit = (e: EventEnvelope): string => {
  const d = e.detail as { step?: string; item?: number };
  return `${d.step}${d.item === undefined ? '' : `[${d.item}]`}`;
};

/** Checks the order of one run's events; returns how many steps (units) started. */
function checkOrder(events: readonly EventEnvelope[], runId: string, end: string): number {
  const mine = events.filter((e) => (e.detail as { runId?: string }).runId === runId);
  const started = new Set<string>();
  const completed = new Set<string>();
  mine.forEach((e, i) => {
    const type = e['detail-type'];
    if (type === 'Step Started') started.add(unit(e));
    if (type === 'Step Completed' && typeof (e.detail as { items?: unknown }).items === 'number') {
      // A forEach step's own completion (its items' outputs gathered): after each of its items' completions.
      const { step, items } = e.detail as { step: string; items: number };
      for (let item = 0; item < items; item++) expect(completed.has(`${step}[${item}]`), `${step} completed before its item ${item}`).toBe(true);
    } else if (type === 'Step Completed') {
      expect(started.has(unit(e)), `Step Completed of ${unit(e)} before its Step Started`).toBe(true);
      completed.add(unit(e));
    }
    if (type === end) expect(i, `${end} is not the run's last event`).toBe(mine.length - 1);
  });
  expect(mine.at(-1)?.['detail-type']).toBe(end);
  for (const u of started) expect(completed.has(u) || end !== 'Run Succeeded', `${u} started but never completed`).toBe(true);
  return started.size;
}

describe('others hear a run of instant steps in order, and all of it before run() resolves', () => {
  for (const durable of [false, true]) {
    for (const listener of ['subscriber', 'onEvents'] as const) {
      it(`${durable ? 'journal' : 'memory'} store, ${listener}: Started, Completed, then Run Succeeded, all heard when run() resolves`, async () => {
        const { engine, heard, log } = engineWith(durable, listener);
        const r = await engine.run('instant', null);
        expect(r.status).toBe('succeeded');
        // No bus.idle(): what was heard by the time run() resolved.
        const seen = [...heard];
        expect(checkOrder(seen, r.runId, 'Run Succeeded')).toBe(WIDTH + 2);
        // src, each item, item itself (its outputs gathered), sink.
        expect(seen.filter((e) => e['detail-type'] === 'Step Completed')).toHaveLength(WIDTH + 3);
        // The log that `events tail` reads has the same order.
        if (log) expect(checkOrder(log.runEvents!(r.runId), r.runId, 'Run Succeeded')).toBe(WIDTH + 2);
      });
    }
  }

  it('a run cancelled amid its instant items: nothing of it is heard after Run Cancelled, and every Step Completed after its Step Started', async () => {
    const { engine, heard } = engineWith(false, 'subscriber');
    const runId = await engine.start('instant', null);
    // Cancelled once some items are heard, with others still handed to the executor.
    await new Promise<void>((resolve) => {
      const off = engine.bus.subscribe({ 'detail-type': ['Step Completed'], detail: { step: ['item'] } }, () => {
        off();
        resolve();
      });
    });
    expect(await engine.cancel(runId)).toBe(true);
    const r = await engine.wait(runId);
    expect(r.status).toBe('cancelled');
    expect(r.steps.cancelled).toBeGreaterThan(0);
    checkOrder([...heard], runId, 'Run Cancelled');
  });
});
