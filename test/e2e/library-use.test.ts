/**
 * The README's "Library use", through the package's public entry: src/index.ts, what `joinflow`
 * exports under the joinflow-source condition (plain Node gets its build, dist/index.js: see
 * package-install.test.ts).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile, compileWorkflow, createEngine, fn, openDurableState, workflow, type EventEnvelope } from '../../src/index.ts';
import { root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-lib-');

describe('library use', () => {
  it('runs a workflow file in memory and on the durable store; a subscriber before the run sees its events', async () => {
    const plan = await compileFile(path.join(root, 'workflows/fanout.ts'), root);
    const engine = createEngine({ concurrency: { function: 4 }, timeScale: 1, root });
    engine.register(plan);
    const seen: EventEnvelope[] = [];
    engine.bus.subscribe({ 'detail-type': ['Run Succeeded'] }, (events) => {
      seen.push(...events);
    });
    const result = await engine.run('fanout', { n: 10 });
    await engine.close();
    expect(result).toMatchObject({ workflow: 'fanout', status: 'succeeded', steps: { total: 12, succeeded: 12 } });
    expect(Object.keys(result).sort()).toEqual(['durationMs', 'events', 'output', 'runId', 'status', 'steps', 'trace', 'workflow']);
    expect(seen.map((e) => (e.detail as { runId: string }).runId)).toEqual([result.runId]);

    const dir = tmp();
    const state = openDurableState({ dir });
    const durable = createEngine({ store: state.store, log: state.log, root });
    durable.register(plan);
    const run = await durable.run('fanout', { n: 3 }, { runId: 'lib-1' });
    await durable.close();
    expect(run.status).toBe('succeeded');
    expect(state.log.listRuns().map((r) => `${r.runId}:${r.status}`)).toEqual(['lib-1:succeeded']);
    state.close();
  });

  // openDurableState gave no blob store: a library's large outputs stayed inline in state.db,
  // where the CLI's, as the README says, are files under <state>/blobs/.
  it('keeps step outputs over maxPayloadBytes as files under <state>/blobs/, as the CLI does, and reads them back', async () => {
    const big = 'x'.repeat(4096);
    const plan = compileWorkflow({
      name: 'big',
      steps: {
        make: { executor: { type: 'simulate', durationMs: 0, output: { big } } },
        last: { needs: ['make'], executor: { type: 'simulate', durationMs: 0, output: { also: big } } },
      },
    }, { source: 'test' });
    const dir = tmp();
    const state = openDurableState({ dir });
    const engine = createEngine({ store: state.store, log: state.log, blobs: state.blobs, stateDir: dir, maxPayloadBytes: 1024 });
    engine.register(plan);
    const run = await engine.run('big', null, { runId: 'big-1' });
    await engine.close();
    state.close();
    expect(run).toMatchObject({ status: 'succeeded', output: { last: { also: big } } });
    expect(readdirSync(path.join(dir, 'blobs', 'big-1')).sort()).toEqual(['last..1.json', 'make..1.json']);
  });

  it('answers a run id given again, and wait() after the end, with the run as it ended, counts included, in memory as durable', async () => {
    const plan = compileWorkflow({
      name: 'twice',
      steps: { a: { executor: { type: 'simulate', durationMs: 0, output: 1 } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0, output: 2 } } },
    }, { source: 'test' });
    const state = openDurableState({ dir: tmp() });
    for (const options of [{}, { store: state.store, log: state.log }]) {
      const engine = createEngine(options);
      engine.register(plan);
      const first = await engine.run('twice', { i: 1 }, { runId: 'same' });
      const again = await engine.run('twice', { i: 2 }, { runId: 'same' });
      const waited = await engine.wait('same');
      await engine.close();
      // durationMs aside: the durable store's record has it from its own timestamps.
      const { trace: _trace, durationMs: _ms, ...ended } = first;
      expect(ended).toMatchObject({ status: 'succeeded', output: { b: 2 }, steps: { total: 2, succeeded: 2 }, events: 6 });
      expect({ ...again, trace: undefined, durationMs: undefined }).toEqual({ ...ended, trace: undefined, durationMs: undefined });
      expect({ ...waited, durationMs: undefined }).toEqual({ ...ended, durationMs: undefined });
    }
    state.close();
  });

  it('runs a fan-out wider than the call stack (200,000 items), in memory and durable', async () => {
    const wf = {
      name: 'wide',
      steps: {
        split: { executor: { type: 'simulate' as const, durationMs: 0, output: Array.from({ length: 200_000 }, (_, i) => i) } },
        each: { needs: ['split'], forEach: 'split', executor: { type: 'simulate' as const, durationMs: 0 } },
      },
    };
    const plan = compileWorkflow(wf, { source: 'test' });
    const state = openDurableState({ dir: tmp() });
    for (const options of [{}, { store: state.store, log: state.log }]) {
      const engine = createEngine(options);
      engine.register(plan);
      const r = await engine.run('wide', null);
      await engine.close();
      expect(r).toMatchObject({ status: 'succeeded', steps: { total: 200_001, succeeded: 200_001 } });
    }
    state.close();
  }, 120_000);
});

describe('compileWorkflow(definition), as register() suggests it', () => {
  it('compiles a builder\'s build() given no options (it threw "Cannot read properties of undefined (reading \'modules\')"); its paths are relative to the root', async () => {
    const plan = compileWorkflow(workflow('inline').step('a', fn('./workflows/handlers/diamond.ts', 'nodeA')).build());
    expect(plan.steps['a']?.executor).toMatchObject({ type: 'function', module: 'workflows/handlers/diamond.ts' });
    const engine = createEngine({ root });
    engine.register(plan);
    const result = await engine.run('inline', { x: 4 });
    await engine.close();
    expect(result).toMatchObject({ status: 'succeeded', output: { a: { a: 5 } } });
    expect(() => compileWorkflow({ name: 'bad', steps: { a: { needs: ['b'], executor: { type: 'simulate', durationMs: 1 } } } }))
      .toThrow(/^invalid workflow definition \(1 problem\):\n {2}- steps\.a\.needs\[0\]: unknown step "b"/);
  });
});
