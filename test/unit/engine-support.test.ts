/** The engine's copy of a registered plan: paths resolved, equal executors shared. */
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/adapters/local/engine-support.ts';
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
