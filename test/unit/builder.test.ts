/** The typed builder: `needs` only names earlier steps, and a step id is declared once. */
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { simulate, workflow, type WorkflowBuilder } from '../../src/model/builder.ts';

describe('workflow builder', () => {
  it('builds the plain definition a YAML file would give', () => {
    const w = workflow('w').step('a', simulate(0, 1)).step('b', simulate(0, 2), { needs: ['a'] }).output('b');
    expect(w.build()).toEqual({
      name: 'w',
      steps: { a: { needs: [], executor: { type: 'simulate', durationMs: 0, output: 1 } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0, output: 2 } } },
      output: 'b',
    });
  });

  it('refuses a step id declared twice, with the workflow and the id (it would replace the first)', () => {
    const w = workflow('cyc').step('a', simulate(0)).step('b', simulate(0), { needs: ['a'] });
    expect(() => w.step('a', simulate(0), { needs: ['b'] })).toThrow('workflow "cyc": step "a" is declared twice (step ids are unique)');
    expect(Object.keys(w.build().steps)).toEqual(['a', 'b']);
  });

  it('refuses an unknown need at the type level', () => {
    // @ts-expect-error -- "x" is not a step declared before
    const w = workflow('t').step('a', simulate(0)).step('c', simulate(0), { needs: ['x'] });
    expect(() => compileWorkflow(w.build(), { source: 'test' })).toThrow('unknown step "x"');
  });

  it('takes ids that are not literals (built in a loop) without refusing later ones', () => {
    let w: WorkflowBuilder<string> = workflow('loop').step('start', simulate(0));
    for (const id of ['p1', 'p2'] as string[]) w = w.step(id, simulate(0), { needs: ['start'] });
    const built = w.step('end', simulate(0), { needs: ['p1', 'p2'] }).build();
    expect(Object.keys(built.steps)).toEqual(['start', 'p1', 'p2', 'end']);
  });

  it('keeps an id "__proto__" a step, for the compiler to refuse by name', () => {
    const built = workflow('p').step('__proto__', simulate(0)).build();
    expect(Object.keys(built.steps)).toEqual(['__proto__']);
    expect(() => compileWorkflow(built, { source: 'test' })).toThrow('steps.__proto__');
  });
});
