import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { DetailType } from '../../src/model/events.ts';
import type { Effect } from '../../src/runtime/effects.ts';
import { DEFAULT_LEASE_MS } from '../../src/runtime/join.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';
import { drive, event, type Behaviour } from '../helpers/driver.ts';
import { diamondDef, fanoutDef, plan } from '../helpers/plans.ts';

const outputs: Behaviour = (task) => {
  if (task.step === 'split') return { output: Array.from({ length: (task.event.input as { n: number }).n }, (_, i) => i + 1) };
  if (task.step === 'square') return { output: (task.event.item as number) ** 2 };
  if (task.step === 'sum') return { output: (task.event.results['square'] as number[]).reduce((a, b) => a + b, 0) };
  return { output: `${task.step}(${Object.values(task.event.results).join(',')})` };
};

/** A processor on a fresh memory store, its clock at 0 and every event id 'x'. */
function processorOnMemory() {
  const store = createMemoryStore();
  return { store, p: new TriggerProcessor({ store, clock: { now: () => 0 }, newId: () => 'x' }) };
}

describe('trigger processor under at-least-once delivery', () => {
  it('runs a diamond: c joins a and b', async () => {
    const r = (await drive([plan(diamondDef)], [{ workflow: 'diamond', runId: 'r1', input: null }], outputs)).get('r1')!;
    expect(r.status).toBe(DetailType.RunSucceeded);
    expect(r.output).toEqual({ c: 'c(a(),b())' });
    expect([...r.executions.entries()].sort()).toEqual([['a#@1', 1], ['b#@1', 1], ['c#@1', 1]]);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('gives the same outputs and one execution per attempt when every event is duplicated and shuffled (seed %i)', async (seed) => {
    const plans = [plan(diamondDef), plan(fanoutDef)];
    const start = [
      { workflow: 'diamond', runId: 'd', input: null },
      { workflow: 'fan', runId: 'f', input: { n: 25 } },
    ];
    const clean = await drive(plans, start, outputs);
    const chaos = await drive(plans, start, outputs, { maxCopies: 3, window: 16, seed });
    for (const runId of ['d', 'f']) {
      const a = clean.get(runId)!;
      const b = chaos.get(runId)!;
      expect(b.status).toBe(DetailType.RunSucceeded);
      expect(b.output).toEqual(a.output);
      // Each trigger fired once, each attempt executed once, however often events arrived.
      // The same triggers and attempts as the clean run (not none), each once.
      expect(a.fires.size).toBeGreaterThan(0);
      expect([...b.fires].sort()).toEqual([...a.fires].sort());
      for (const [trigger, n] of b.fires) expect([trigger, n]).toEqual([trigger, 1]);
      for (const [key, n] of b.executions) expect([key, n]).toEqual([key, 1]);
      expect([...b.executions.keys()].sort()).toEqual([...a.executions.keys()].sort());
      expect(b.deadLetters).toEqual([]);
    }
    expect(chaos.get('f')!.output).toBe(Array.from({ length: 25 }, (_, i) => (i + 1) ** 2).reduce((x, y) => x + y));
  });

  it('hands a step its predecessors\' results as own keys under their names, whatever the names', async () => {
    const { p } = processorOnMemory();
    const sim = { type: 'simulate', durationMs: 0 } as const;
    p.register(plan({ name: 'odd', steps: { constructor: { executor: sim }, hasOwnProperty: { executor: sim }, last: { needs: ['constructor', 'hasOwnProperty'], executor: sim } } }));
    const ref = { workflow: 'odd', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'constructor', attempt: 1, output: 'c' }));
    const effects = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'hasOwnProperty', attempt: 1, output: null }));
    const dispatch = effects.find((e): e is Extract<Effect, { type: 'dispatch' }> => e.type === 'dispatch');
    const results = dispatch!.tasks[0]!.event.results;
    expect(Object.keys(results)).toEqual(['constructor', 'hasOwnProperty']);
    expect(JSON.stringify(results)).toBe('{"constructor":"c","hasOwnProperty":null}');
  });

  it('acts on nothing of a run cancelled meanwhile (joinflow cancel writes the status only)', async () => {
    const { p, store } = processorOnMemory();
    p.register(plan(diamondDef));
    const ref = { workflow: 'diamond', runId: 'r' };
    const started = await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    expect(started.some((e) => e.type === 'dispatch')).toBe(true);
    expect(await store.finishRun('r', { status: 'cancelled', finishedAt: 1, error: { type: 'Cancelled', message: 'cancelled with joinflow cancel' } })).toBe(true);
    // Both parents of c complete after the cancellation: c is not dispatched, the run does not end again.
    expect(await p.process(event(DetailType.StepCompleted, { ...ref, step: 'a', attempt: 1, output: 1 }))).toEqual([]);
    expect(await p.process(event(DetailType.StepCompleted, { ...ref, step: 'b', attempt: 1, output: 2 }))).toEqual([]);
    expect((await store.getRun('r'))?.status).toBe('cancelled');
  });

  it('names the item that failed the run in the run\'s error', async () => {
    const { p } = processorOnMemory();
    p.register(plan(fanoutDef));
    const ref = { workflow: 'fan', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 3 } }));
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: [1, 2, 3] }));
    const effects = await p.process(event(DetailType.StepFailed, { ...ref, step: 'square', item: 2, attempt: 1, error: { type: 'E', message: 'item 2 broke' }, retrying: false }));
    const finish = effects.find((e): e is Extract<Effect, { type: 'finish-run' }> => e.type === 'finish-run');
    expect(finish?.update.error).toEqual({ type: 'E', message: 'item 2 broke', step: 'square', item: 2 });
  });

  it('counts item completions that arrive before the fan-out width is known', async () => {
    const { p } = processorOnMemory();
    p.register(plan(fanoutDef));
    const ref = { workflow: 'fan', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 3 } }));
    // The three items finish (e.g. redelivered after a crash) before split's completion is seen.
    for (let i = 0; i < 3; i++) {
      const effects = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'square', attempt: 1, item: i, output: i * 10 }));
      expect(effects).toEqual([]);
    }
    const effects = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: ['a', 'b', 'c'] }));
    const published = effects.filter((e): e is Extract<Effect, { type: 'publish' }> => e.type === 'publish').flatMap((e) => e.events);
    const collected = published.find((e) => e['detail-type'] === DetailType.StepCompleted);
    expect(collected?.detail).toMatchObject({ step: 'square', items: 3, output: [0, 10, 20] });
    expect(effects.filter((e) => e.type === 'ack').map((e) => (e as { trigger: string }).trigger)).toEqual(['$collect:square', 'square']);
  });

  it('dead-letters a completion of an item beyond the fan-out\'s width, also one that came before the width: the collect waits for its own items', async () => {
    const { p } = processorOnMemory();
    p.register(plan(fanoutDef));
    const ref = { workflow: 'fan', runId: 'r' };
    const square = (item: number, output: unknown) => p.process(event(DetailType.StepCompleted, { ...ref, step: 'square', attempt: 1, item, output }));
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 3 } }));
    // Item 8 comes before the width is known (kept, judged later); then split's three items.
    expect(await square(8, 'forged')).toEqual([]);
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: [1, 2, 3] }));
    expect(await square(0, 0)).toEqual([]);
    expect(await square(1, 10)).toEqual([]);
    // Item 7 of 3 would be the third arrival (with 8, the fourth): dead-lettered, it counts for nothing.
    const refused = await square(7, 'forged');
    expect(refused.map((e) => (e as { reason?: string }).reason)).toEqual(['invalid Step Completed detail: item: step "square" of run "r" has 3 items (its forEach\'s width), so there is no item 7']);
    expect((await square(8, 'forged')).map((e) => e.type)).toEqual(['dead-letter']);
    const effects = await square(2, 20);
    const collected = effects.flatMap((e) => (e.type === 'publish' ? e.events : [])).find((e) => e['detail-type'] === DetailType.StepCompleted);
    expect(collected?.detail).toMatchObject({ step: 'square', items: 3, output: [0, 10, 20] });
  });

  it('neither retries an item its fan-out does not have nor fails the run for it: its failure, past the width or before the fan-out, is dead-lettered', async () => {
    const { p, store } = processorOnMemory();
    p.register(plan(fanoutDef));
    const ref = { workflow: 'fan', runId: 'r' };
    const failed = (item: number, retrying = true) => p.process(event(DetailType.StepFailed, { ...ref, step: 'square', item, attempt: 1, error: { type: 'E', message: 'boom' }, retrying }));
    const reasons = (effects: Effect[]) => effects.map((e) => (e.type === 'dead-letter' ? e.reason : e.type));
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 2 } }));
    expect(reasons(await failed(0))).toEqual(['invalid Step Failed detail: item: step "square" of run "r" has not fanned out, so there is no item 0']);
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: [1, 2] }));
    expect(reasons(await failed(2))).toEqual(['invalid Step Failed detail: item: step "square" of run "r" has 2 items (its forEach\'s width), so there is no item 2']);
    expect(reasons(await failed(9, false))).toEqual(['invalid Step Failed detail: item: step "square" of run "r" has 2 items (its forEach\'s width), so there is no item 9']);
    expect((await store.getRun('r'))?.status).toBe('running');
    // The refused failure of item 0 took nothing from item 0's own: its retry is scheduled.
    expect(reasons(await failed(0))).toEqual(['schedule', 'ack']);
    expect(reasons(await failed(1))).toEqual(['schedule', 'ack']);
  });

  it('starts a step with delayMs on a timer (each item of a forEach step), and retries it without the delay', async () => {
    const { p } = processorOnMemory();
    p.register(plan({
      name: 'later',
      steps: {
        split: { executor: { type: 'simulate', durationMs: 0 } },
        wait: { needs: ['split'], delayMs: 5000, executor: { type: 'simulate', durationMs: 0 }, retry: { maxAttempts: 2, backoffMs: 7 } },
        each: { needs: ['split'], forEach: 'split', delayMs: 300, executor: { type: 'simulate', durationMs: 0 } },
      },
    }));
    const ref = { workflow: 'later', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    const fired = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: ['x', 'y'] }));
    expect(fired.filter((e) => e.type === 'dispatch')).toEqual([]);
    const scheduled = fired.filter((e): e is Extract<Effect, { type: 'schedule' }> => e.type === 'schedule');
    expect(scheduled.map((e) => [e.task.step, e.task.item, e.task.attempt, e.delayMs])).toEqual([['wait', undefined, 1, 5000], ['each', 0, 1, 300], ['each', 1, 1, 300]]);
    const retried = await p.process(event(DetailType.StepFailed, { ...ref, step: 'wait', attempt: 1, error: { type: 'E', message: 'boom' }, retrying: true }));
    expect(retried.filter((e) => e.type === 'schedule').map((e) => (e as Extract<Effect, { type: 'schedule' }>).delayMs)).toEqual([7]);
  });

  it('gives forEach items their element and the other needs, not the step fanned out over (nor its fields beside the path); when sees all of it', async () => {
    const { p } = processorOnMemory();
    p.register(plan({
      name: 'cfg',
      steps: {
        cfg: { executor: { type: 'simulate', durationMs: 0 } },
        other: { executor: { type: 'simulate', durationMs: 0 } },
        each: { needs: ['cfg', 'other'], forEach: { step: 'cfg', path: 'files' }, when: { results: { cfg: { bucket: ['b'] } } }, executor: { type: 'simulate', durationMs: 0 } },
      },
    }));
    const ref = { workflow: 'cfg', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'other', attempt: 1, output: 'o' }));
    const fired = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'cfg', attempt: 1, output: { bucket: 'b', files: ['x', 'y'] } }));
    const tasks = fired.flatMap((e) => (e.type === 'dispatch' ? e.tasks : []));
    expect(tasks.map((t) => ({ ...t.event }))).toEqual([
      { input: null, results: { other: 'o' }, item: 'x', index: 0 },
      { input: null, results: { other: 'o' }, item: 'y', index: 1 },
    ]);
  });

  it('ignores a late duplicate of a retried attempt', async () => {
    const { store, p } = processorOnMemory();
    p.register(plan(fanoutDef));
    const ref = { workflow: 'fan', runId: 'r' };
    await p.process(event(DetailType.RunRequested, { ...ref, input: { n: 1 } }));
    await p.process(event(DetailType.StepCompleted, { ...ref, step: 'split', attempt: 1, output: [7] }));
    const failed = event(DetailType.StepFailed, { ...ref, step: 'square', item: 0, attempt: 1, error: { type: 'E', message: 'boom' }, retrying: true });
    const first = await p.process(failed);
    expect(first.filter((e) => e.type === 'schedule')).toHaveLength(1);
    const retried = (first.find((e) => e.type === 'schedule') as Extract<Effect, { type: 'schedule' }>).task;
    expect(retried).toMatchObject({ step: 'square', item: 0, attempt: 2, event: { item: 7, index: 0 } });
    // Attempt 2 succeeds; the item joins and `sum` is dispatched once.
    const done = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'square', item: 0, attempt: 2, output: 49 }));
    expect(done.some((e) => e.type === 'publish')).toBe(true);
    // Late duplicates of attempt 1 — its failure, and a completion from the abandoned run of it.
    expect(await p.process({ ...failed, id: 'redelivered' })).toEqual([]);
    expect(await p.process(event(DetailType.StepCompleted, { ...ref, step: 'square', item: 0, attempt: 1, output: 'stale' }))).toEqual([]);
    const results = await store.getResults('r', ['square#0']);
    expect(results.get('square#0')).toBe(49);
  });

  it('fails the run once when a step fails for good, and dispatches nothing after', async () => {
    const failing: Behaviour = (task) => (task.step === 'a' ? { error: 'nope', retriable: false } : outputs(task));
    const r = (await drive([plan(diamondDef)], [{ workflow: 'diamond', runId: 'r', input: null }], failing, { maxCopies: 3, window: 8, seed: 3 })).get('r')!;
    expect(r.status).toBe(DetailType.RunFailed);
    expect(r.executions.has('c#@1')).toBe(false);
    expect(r.fires.get('$fail')).toBe(1);
  });

  it('dead-letters malformed events, unknown workflows and unknown runs', async () => {
    const p = new TriggerProcessor({ store: createMemoryStore(), clock: { now: () => 0 }, newId: () => 'x' });
    p.register(plan(diamondDef));
    const reasons = async (e: unknown) => (await p.process(e as never)).map((x) => (x as { reason?: string }).reason);
    expect(await reasons({ nope: 1 })).toEqual([expect.stringMatching(/^malformed envelope/)]);
    expect(await reasons(event(DetailType.RunRequested, { workflow: 'ghost' }))).toEqual(['unknown workflow "ghost"']);
    expect(await reasons(event(DetailType.StepCompleted, { workflow: 'diamond', runId: 'nope', step: 'a', attempt: 1 }))).toEqual(['unknown run "nope"']);
    expect(await reasons(event(DetailType.StepCompleted, { workflow: 'diamond', runId: 'nope', step: 'zz', attempt: 1 }))).toEqual(['workflow "diamond" has no step "zz"']);
    expect(await reasons(event(DetailType.StepFailed, { workflow: 'diamond', runId: 'r', step: 'a', attempt: 0 }))).toEqual([expect.stringMatching(/^invalid Step Failed detail/)]);
  });
  it('does not send a step again when it takes over a fire whose step has finished since (claimed, dispatched, never acknowledged)', async () => {
    const store = createMemoryStore();
    let now = 0;
    const p = new TriggerProcessor({ store, clock: { now: () => now }, newId: () => 'x' });
    const sim = { type: 'simulate', durationMs: 0 } as const;
    p.register(plan({ name: 'ab', steps: { a: { executor: sim }, b: { needs: ['a'], executor: sim }, c: { needs: ['b'], executor: sim } } }));
    const ref = { workflow: 'ab', runId: 'r' };
    const dispatched = (effects: Effect[]) => effects.flatMap((e) => (e.type === 'dispatch' ? e.tasks.map((t) => t.step) : []));
    await p.process(event(DetailType.RunRequested, { ...ref, input: null }));
    const aDone = event(DetailType.StepCompleted, { ...ref, step: 'a', attempt: 1, output: 1 });
    // b's trigger fires, but its processor dies before the acknowledgement (no ack effect applied).
    expect(dispatched(await p.process(aDone))).toEqual(['b']);
    const bFirst = await p.process(event(DetailType.StepCompleted, { ...ref, step: 'b', attempt: 1, output: 2 }));
    expect(dispatched(bFirst)).toEqual(['c']);
    // Within the lease a redelivery leaves the fire to its claimer; after it, the fire is taken over.
    expect(dispatched(await p.process(aDone))).toEqual([]);
    now = DEFAULT_LEASE_MS + 1;
    const effects = await p.process(aDone);
    expect(effects.map((e) => e.type)).toEqual(['ack']);
    // b's completion fired c (never acknowledged either): c has no result, so its takeover sends it again.
    expect(dispatched(await p.process(event(DetailType.StepCompleted, { ...ref, step: 'b', attempt: 1, output: 2 })))).toEqual(['c']);
  });
});
