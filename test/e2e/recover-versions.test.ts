/**
 * recover() and workflow versions: an engine has one plan per workflow name, and a run goes on
 * with the version it started with. A run of another version than the one registered (or than
 * another run recovered with it) is left for another engine; it ran with the wrong plan.
 */
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openDurableState } from '../../src/adapters/local/durable-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-recover-versions-');

const version = (v: string) => compileWorkflow({
  name: 'w',
  steps: { wait: { executor: { type: 'simulate', durationMs: 300, output: v } } },
  output: 'wait',
}, { source: 'w.yaml' });

/** Starts a run of `plan` in its own engine and closes the engine before the run ends (interrupted). */
async function interrupted(dir: string, plan: ReturnType<typeof version>, runId: string): Promise<void> {
  const state = openDurableState({ dir });
  const engine = createEngine({ store: state.store, log: state.log });
  engine.register(plan);
  await engine.start('w', null, { runId });
  await new Promise((r) => setTimeout(r, 50));
  await engine.close();
  state.close();
}

describe('recover() and workflow versions', () => {
  it('leaves a run of another version than the one registered, refuses it by name, and an engine without it registered runs it with its own', async () => {
    const dir = tmp();
    await interrupted(dir, version('v1'), 'old');
    const state = openDurableState({ dir });
    try {
      const withV2 = createEngine({ store: state.store, log: state.log });
      withV2.register(version('v2'));
      expect(await withV2.recover()).toEqual([]);
      await expect(withV2.recover('old')).rejects.toThrow('run "old" was started with another version of workflow "w" than the one this engine runs');
      await withV2.close();
      const plain = createEngine({ store: state.store, log: state.log });
      expect(await plain.recover()).toEqual(['old']);
      expect(await plain.wait('old')).toMatchObject({ status: 'succeeded', output: 'v1' });
      await plain.close();
    } finally {
      state.close();
    }
  });

  it('of two runs of different versions, takes the first\'s version and leaves the other run for another engine', async () => {
    const dir = tmp();
    await interrupted(dir, version('v1'), 'one');
    await interrupted(dir, version('v2'), 'two');
    const state = openDurableState({ dir });
    try {
      const first = createEngine({ store: state.store, log: state.log });
      const ids = await first.recover();
      expect(ids).toHaveLength(1);
      const [taken] = ids;
      const left = taken === 'one' ? 'two' : 'one';
      expect(await first.wait(taken!)).toMatchObject({ status: 'succeeded', output: taken === 'one' ? 'v1' : 'v2' });
      await first.close();
      const second = createEngine({ store: state.store, log: state.log });
      expect(await second.recover()).toEqual([left]);
      expect(await second.wait(left)).toMatchObject({ status: 'succeeded', output: left === 'one' ? 'v1' : 'v2' });
      await second.close();
    } finally {
      state.close();
    }
  });
});
