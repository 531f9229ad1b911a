/** The engine's copy of a registered plan: paths resolved, equal executors shared. */
import { describe, expect, it } from 'vitest';
import { concurrencyLimits, defaultConcurrency, resolvePaths } from '../../src/adapters/local/engine-support.ts';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';

describe('resolvePaths', () => {
  const plan = compileWorkflow(
    {
      name: 'wf',
      steps: {
        a: { executor: { type: 'simulate', durationMs: 0 } },
        b: { executor: { type: 'simulate', durationMs: 0 }, needs: ['a'] },
        c: { executor: { type: 'simulate', durationMs: 5 }, needs: ['a'] },
        d: { executor: { type: 'process', command: 'true' }, needs: ['b', 'c'] },
        e: { executor: { type: 'process', command: 'true' }, needs: ['d'] },
      },
    },
    { source: 'test' },
  );

  it('gives steps with equal executors one executor object, and leaves the plan it was given alone', () => {
    const before = JSON.stringify(plan);
    const resolved = resolvePaths(plan, '/work/x');
    const ex = (id: string) => resolved.steps[id]!.executor;
    expect(ex('a')).toBe(ex('b'));
    expect(ex('c')).not.toBe(ex('a'));
    expect(ex('d')).toBe(ex('e'));
    expect(ex('d')).toEqual({ ...plan.steps['d']!.executor, cwd: '/work/x' });
    expect(plan.steps['a']!.executor).not.toBe(plan.steps['b']!.executor);
    expect(JSON.stringify(plan)).toBe(before);
  });
});

describe('concurrency limits', () => {
  it('are the defaults with the given ones over them, each a whole number >= 1 or Infinity', () => {
    expect(concurrencyLimits({ function: 3, simulate: Infinity })).toEqual({ ...defaultConcurrency(), function: 3, simulate: Infinity });
    // A limit of 0 would queue every task of that kind forever: refused when the engine is made.
    for (const bad of [0, -1, 1.5, NaN]) {
      expect(() => concurrencyLimits({ process: bad })).toThrow(`concurrency.process: a whole number of at least 1 (or Infinity), got ${bad}`);
    }
    expect(() => createEngine({ concurrency: { function: 0 } })).toThrow('concurrency.function');
  });
});
