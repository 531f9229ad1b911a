/** The typed builder: `needs` only names earlier steps, and a step id is declared once. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { fn, proc, simulate, workflow, type StepOptions, type WorkflowBuilder } from '../../src/model/builder.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import type { StepInput } from '../../src/model/workflow.ts';

/** Fields of a step in a workflow file that the builder's options lack (`executor` is an argument of its own): none. */
const missingOptions: Exclude<keyof StepInput, keyof StepOptions<string> | 'executor'> extends never ? true : false = true;

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

  // It was 'cannot load module: workflow "cyc": step "a" is declared twice', as if the file would not load.
  it('names the file and the step of a workflow file that declares a step twice, as a definition error', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jf-builder-'));
    const file = path.join(dir, 'twice.mjs');
    const builder = pathToFileURL(path.resolve(import.meta.dirname, '../../src/model/builder.ts')).href;
    writeFileSync(file, `import { simulate, workflow } from ${JSON.stringify(builder)};\nexport default workflow('cyc').step('a', simulate(0)).step('a', simulate(1)).build();\n`);
    try {
      const error = await compileFile(file).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowDefinitionError);
      expect((error as WorkflowDefinitionError).problems).toEqual([{ path: 'steps.a', message: 'workflow "cyc": step "a" is declared twice (step ids are unique)' }]);
      expect((error as Error).message).not.toContain('cannot load module');
      expect((error as WorkflowDefinitionError).file).toContain('twice.mjs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown need at the type level', () => {
    // @ts-expect-error -- "x" is not a step declared before
    const w = workflow('t').step('a', simulate(0)).step('c', simulate(0), { needs: ['x'] });
    expect(() => compileWorkflow(w.build(), { source: 'test' })).toThrow('unknown step "x"');
  });

  it('takes every field a workflow file gives a step, delayMs and files included (tsc refused them)', () => {
    expect(missingOptions).toBe(true);
    const w = workflow('d')
      .step('a', proc('node', ['make.mjs']), { files: { outputs: ['out/a.txt'] } })
      .step('b', simulate(0), { needs: ['a'], delayMs: 250, retry: { maxAttempts: 2 } });
    const plan = compileWorkflow(w.build(), { source: 'test' });
    expect(plan.steps['a']!.files).toEqual({ inputs: [], outputs: ['out/a.txt'] });
    expect(plan.steps['b']!.delayMs).toBe(250);
  });

  it('gives a function step params, through fn or by spreading fn (one handler for several steps)', () => {
    const w = workflow('p')
      .step('de', fn('./h.ts', 'translate', { params: { to: 'de' } }))
      .step('fr', { ...fn('./h.ts', 'translate'), params: { to: 'fr' } })
      .step('plain', fn('./h.ts'));
    expect(w.build().steps).toEqual({
      de: { needs: [], executor: { type: 'function', module: './h.ts', export: 'translate', params: { to: 'de' } } },
      fr: { needs: [], executor: { type: 'function', module: './h.ts', export: 'translate', params: { to: 'fr' } } },
      plain: { needs: [], executor: { type: 'function', module: './h.ts', export: 'handler' } },
    });
  });

  it('leaves needs that are not a list (from JavaScript) to the compiler, which names it; a string was split into characters', () => {
    const w = workflow('js').step('load', simulate(0)).step('b', simulate(0), { needs: 'load' as unknown as ['load'] });
    expect(w.build().steps['b']!.needs).toBe('load');
    expect(() => compileWorkflow(w.build(), { source: 'test' })).toThrow(/steps\.b\.needs: Invalid input: expected array, received string/);
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

  // README: in a TypeScript workflow a value JSON cannot write is a definition error naming its
  // path. build() copied the steps with structuredClone, which threw a DataCloneError on a function
  // or a symbol (the CLI then crashed on the DOMException's numeric code) and turned a class
  // instance into a plain object that was accepted.
  it('leaves a value JSON cannot write in place, for the compiler to refuse by its path', () => {
    class Point {
      x = 1;
    }
    const built = workflow('j')
      .step('a', fn('./h.ts', 'handler', { params: { f: () => 1, s: Symbol('s'), p: new Point() } }))
      .build();
    let problems: unknown;
    try {
      compileWorkflow(built, { source: 'test' });
    } catch (error) {
      problems = (error as { problems?: unknown }).problems;
    }
    expect(problems).toEqual(expect.arrayContaining([
      { path: 'steps.a.executor.params.f', message: 'a function is not a JSON value' },
    ]));
    const params = (built.steps['a']!.executor as { params: Record<string, unknown> }).params;
    expect(typeof params['s']).toBe('symbol');
    expect(params['p']).toBeInstanceOf(Point);
  });

  it('copies plain objects and arrays, keeping shared and cyclic ones so', () => {
    const shared = { n: [1, 2] };
    const cyclic: Record<string, unknown> = { shared };
    cyclic['self'] = cyclic;
    const w = workflow('c').step('a', simulate(0, { cyclic, again: shared }));
    const output = (w.build().steps['a']!.executor as { output: { cyclic: Record<string, unknown>; again: unknown } }).output;
    expect(output.cyclic).not.toBe(cyclic);
    expect(output.cyclic['self']).toBe(output.cyclic);
    expect(output.cyclic['shared']).toBe(output.again);
    expect(output.again).toEqual({ n: [1, 2] });
    shared.n.push(3);
    expect(output.again).toEqual({ n: [1, 2] });
    expect(() => compileWorkflow(w.build(), { source: 'test' })).toThrow('steps.a.executor.output.cyclic.self: refers back to itself');
  });
});
