import { describe, expect, it } from 'vitest';
import { compileWorkflow, serializePlan, type CompileOptions } from '../../src/compiler/compile.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import { diamondDef, fanoutDef, plan } from '../helpers/plans.ts';

function problemsOf(def: unknown, modules?: CompileOptions['modules']) {
  try {
    compileWorkflow(def, { source: 'workflows/x.yaml', ...(modules ? { modules } : {}) });
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowDefinitionError);
    return (error as WorkflowDefinitionError).problems;
  }
  throw new Error('expected a WorkflowDefinitionError');
}

const sim = { type: 'simulate', durationMs: 1 } as const;

describe('compiler: validation', () => {
  it('says how to write a number as a name (a step id 1 in YAML needs: [1])', () => {
    const problems = problemsOf({ name: 'w', steps: { '1': { executor: sim }, b: { needs: [1], executor: sim } } });
    expect(problems).toEqual([{ path: 'steps.b.needs[0]', message: "Invalid input: expected string, received number (in YAML, write it in quotes for a string: '1')" }]);
    // Not for other mistakes of type.
    expect(problemsOf({ name: 'w', steps: { b: { needs: [true], executor: sim } } })[0]!.message).toBe('Invalid input: expected string, received boolean');
  });

  it('says why a workflow name starting with "." or "-" is refused (its characters are all allowed)', () => {
    for (const name of ['.bad', '-bad']) {
      expect(problemsOf({ name, steps: { a: { executor: sim } } })).toEqual([
        { path: 'name', message: 'must be 1-64 characters of ASCII letters, digits, "_", "." or "-", not starting with "." or "-"' },
      ]);
    }
  });

  it('names the members of a cycle', () => {
    const problems = problemsOf({
      name: 'w',
      steps: { a: { needs: ['c'], executor: sim }, b: { needs: ['a'], executor: sim }, c: { needs: ['b'], executor: sim }, d: { executor: sim } },
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe('steps');
    expect(problems[0]!.message).toMatch(/^cycle: /);
    for (const s of ['a', 'b', 'c']) expect(problems[0]!.message).toContain(s);
    expect(problems[0]!.message).not.toContain('d');
  });

  it('names an unknown need with its step and index, and suggests a near id', () => {
    const problems = problemsOf({ name: 'w', steps: { nodeA: { executor: sim }, c: { needs: ['nodeA', 'nodeb'], executor: sim } } });
    expect(problems).toEqual([{ path: 'steps.c.needs[1]', message: 'unknown step "nodeb" (did you mean "nodeA"?)' }]);
    // The same id in another case beats an id one edit away, wherever it is; else the nearest one.
    const both = problemsOf({ name: 'w', steps: { nodeA: { executor: sim }, nodeB: { executor: sim }, c: { needs: ['nodeA', 'nodeb'], executor: sim } } });
    expect(both).toEqual([{ path: 'steps.c.needs[1]', message: 'unknown step "nodeb" (did you mean "nodeB"?)' }]);
    const near = problemsOf({ name: 'w', steps: { extract: { executor: sim }, extracts: { executor: sim }, c: { needs: ['extracts_', 'extract'], executor: sim } } });
    expect(near).toEqual([{ path: 'steps.c.needs[0]', message: 'unknown step "extracts_" (did you mean "extracts"?)' }]);
  });

  it('names an unknown need of a step whose own fields are bad, beside those fields', () => {
    const problems = problemsOf({ name: 'w', steps: { a: { executor: sim }, b: { needs: ['a', 'c'], executor: { type: 'simulate' } } } });
    expect(problems).toContainEqual({ path: 'steps.b.needs[1]', message: 'unknown step "c"' });
    expect(problems).toContainEqual({ path: 'steps.b.executor.durationMs', message: 'is required (expected number)' });
    expect(problems).toHaveLength(2);
  });

  it('calls a field left out required, and a field of the wrong type by its type', () => {
    expect(problemsOf({ steps: { a: { executor: sim } } })).toEqual([{ path: 'name', message: 'is required (expected string)' }]);
    expect(problemsOf({ name: 'w', steps: { a: { executor: { type: 'process' } } } })).toEqual([{ path: 'steps.a.executor.command', message: 'is required (expected string)' }]);
    expect(problemsOf({ name: 'w', steps: { a: { executor: { type: 'simulate', durationMs: 'x' } } } })[0]!.message).toMatch(/expected number, received string/);
    // A type left out is required, with the types there are (zod calls it an invalid discriminator, as a wrong one).
    expect(problemsOf({ name: 'w', steps: { a: { executor: { command: 'echo' } } } })).toEqual([
      { path: 'steps.a.executor.type', message: 'is required: one of "function", "process", "simulate", "batch", "container", "auto"' },
    ]);
    // So is a subscription target's type, checked with the workflow's own fields.
    expect(problemsOf({ name: 'w', steps: { a: { executor: sim } }, subscriptions: { s: { pattern: {}, target: { url: 'http://localhost:1' } } } })).toEqual([
      { path: 'subscriptions.s.target.type', message: 'is required: one of "webhook", "command", "workflow"' },
    ]);
  });

  it('rejects bad executor fields with their paths', () => {
    const problems = problemsOf({
      name: 'w',
      steps: {
        p: { executor: { type: 'process' } },
        s: { executor: { type: 'simulate', durationMs: -5 } },
        f: { executor: { type: 'function', module: 'x.ts', bogus: 1 } },
        q: { executor: { type: 'lambda' } },
        t: { executor: { type: 'simulat', durationMs: 1 } },
      },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toContain('steps.p.executor.command');
    expect(paths).toContain('steps.s.executor.durationMs');
    expect(paths.some((p) => p.startsWith('steps.f.executor'))).toBe(true);
    // An unknown type: what was written, and the nearest valid type when one is near.
    const typeOf = (step: string) => problems.find((p) => p.path === `steps.${step}.executor.type`)?.message;
    expect(typeOf('q')).toMatch(/^Invalid discriminator value\. Expected 'function' \| .*; got "lambda"$/);
    expect(typeOf('t')).toMatch(/; got "simulat" \(did you mean "simulate"\?\)$/);
  });

  it('refuses params of a function step that JSON cannot write, with their path (a BigInt crashed the plan)', () => {
    const fnStep = (params: unknown) => ({ executor: { type: 'function', module: 'h.ts', params } });
    const problems = problemsOf({
      name: 'w',
      steps: { big: fnStep({ n: 10n }), f: fnStep([1, () => 1]), m: fnStep(new Map([[1, 2]])), ok: fnStep({ a: [1, 'x', null, { b: true }] }) },
    });
    expect(problems).toEqual([
      { path: 'steps.big.executor.params.n', message: 'a bigint is not a JSON value' },
      { path: 'steps.f.executor.params[1]', message: 'a function is not a JSON value' },
      { path: 'steps.m.executor.params', message: 'a Map is not a JSON value: use plain objects and arrays' },
    ]);
    expect(problemsOf({ name: 'w', steps: { s: { executor: { ...sim, output: { t: Infinity } } } } })).toEqual([
      { path: 'steps.s.executor.output.t', message: 'Infinity is not a JSON number' },
    ]);
  });

  it('requires a container step to name exactly one of module and command', () => {
    const problems = problemsOf({
      name: 'w',
      steps: {
        both: { executor: { type: 'container', module: './h.ts', command: 'node' } },
        none: { executor: { type: 'container' } },
        ok: { executor: { type: 'container', command: 'node' } },
      },
    });
    expect(problems).toEqual([
      { path: 'steps.both.executor', message: 'a container step runs either a handler "module" or a "command": give exactly one' },
      { path: 'steps.none.executor', message: 'a container step runs either a handler "module" or a "command": give exactly one' },
    ]);
  });

  it('rejects forEach over a step that is not a predecessor', () => {
    const problems = problemsOf({ name: 'w', steps: { a: { executor: sim }, b: { executor: sim }, m: { needs: ['a'], forEach: 'b', executor: sim } } });
    expect(problems).toEqual([
      { path: 'steps.m.forEach', message: 'fans out over "b", which is not a predecessor of "m": add it to needs' },
    ]);
  });

  it('rejects a step id that names the files of a forEach step\'s item ("qc.0" beside forEach step "qc")', () => {
    const steps = { list: { executor: sim }, qc: { needs: ['list'], forEach: 'list', executor: sim }, 'qc.0': { needs: ['qc'], executor: sim }, 'list.1': { needs: ['list'], executor: sim }, 'qc.x': { executor: sim } };
    expect(problemsOf({ name: 'w', steps })).toEqual([
      { path: 'steps.qc.0', message: 'the id "qc.0" would share its file names (logs, working directory: <step>.<item>.<attempt>) with item 0 of forEach step "qc": rename it' },
    ]);
  });

  it('reports missing handler files and exports', () => {
    const def = {
      name: 'w',
      steps: {
        a: { executor: { type: 'function', module: './gone.ts' } },
        b: { executor: { type: 'function', module: './h.ts', export: 'nope' } },
      },
    };
    const problems = problemsOf(def, {
      './gone.ts': { error: 'handler module "./gone.ts" not found (no file workflows/gone.ts)' },
      './h.ts': { path: 'workflows/h.ts', exports: ['yes'] },
    });
    expect(problems).toEqual([
      { path: 'steps.a.executor.module', message: 'handler module "./gone.ts" not found (no file workflows/gone.ts)' },
      { path: 'steps.b.executor.export', message: '"workflows/h.ts" has no function export "nope" (it exports: yes)' },
    ]);
  });

  it('lists every problem at once, and rejects bad ids, self needs, duplicates and unknown output', () => {
    const problems = problemsOf({
      name: 'bad name!',
      steps: { 'x y': { executor: sim }, a: { needs: ['a', 'x y', 'x y'], executor: sim } },
      output: 'zz',
    });
    const text = problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    expect(text).toContain('steps.x y: step ids must be');
    expect(text).toContain('steps.a.needs[0]: step "a" cannot need itself');
    expect(text).toContain('steps.a.needs[2]: "x y" is listed twice');
    expect(text).toContain('output: unknown step "zz"');
    expect(text).toMatch(/name: must be/);
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });

  it('rejects non-objects and missing steps', () => {
    expect(problemsOf(42)[0]!.message).toMatch(/must be an object/);
    expect(problemsOf({ name: 'w' }).map((p) => p.path)).toContain('steps');
    expect(problemsOf({ name: 'w', steps: [] })[0]!.message).toMatch(/not a list/);
  });

  it('puts file, step and field in the error message', () => {
    try {
      compileWorkflow({ name: 'w', steps: { a: { needs: ['q'], executor: sim } } }, { source: 'workflows/w.yaml' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe(
        'workflows/w.yaml: invalid workflow definition (1 problem):\n  - steps.a.needs[0]: unknown step "q"',
      );
    }
  });
});

describe('compiler: plans', () => {
  it('gives the join step of a diamond need 2, activated by both predecessors', () => {
    const p = plan(diamondDef);
    const c = p.triggers.find((t) => t.id === 'c')!;
    expect(c.condition).toEqual({ type: 'join', need: 2, key: 'step' });
    expect(c.activation).toEqual({
      source: ['joinflow'],
      'detail-type': ['Step Completed'],
      detail: { workflow: ['diamond'], step: ['a', 'b'], item: [{ exists: false }] },
    });
    expect(p.triggers.find((t) => t.id === 'a')!.activation['detail-type']).toEqual(['Run Requested']);
    expect(p.output).toEqual({ sinks: ['c'] });
    expect(p.stats).toEqual({ steps: 3, edges: 2, depth: 2, criticalPathMs: 0 });
  });

  it('gives a forEach step a collect trigger with a dynamic need', () => {
    const p = plan(fanoutDef);
    const collect = p.triggers.find((t) => t.id === '$collect:square')!;
    expect(collect.condition).toEqual({ type: 'join', need: 'dynamic', key: 'item' });
    expect((collect.activation['detail'] as Record<string, unknown>)['item']).toEqual([{ exists: true }]);
    expect(p.steps['square']!.forEach).toEqual({ step: 'split' });
    expect(p.steps['square']!.retry).toEqual({ maxAttempts: 3, backoffMs: 1, factor: 2, maxDelayMs: 30_000 });
  });

  it('is byte-identical across compilations, and paths are relative to the workflow file', () => {
    const def = {
      name: 'w',
      steps: {
        f: { executor: { type: 'function', module: './handlers/h.ts' } },
        p: { needs: ['f'], executor: { type: 'process', command: 'node', args: ['x.mjs'], cwd: 'scripts' } },
      },
    };
    const one = serializePlan(compileWorkflow(structuredClone(def), { source: 'workflows/w.yaml' }));
    const two = serializePlan(compileWorkflow(structuredClone(def), { source: 'workflows/w.yaml' }));
    expect(one).toBe(two);
    const parsed = JSON.parse(one);
    expect(parsed.steps.f.executor.module).toBe('workflows/handlers/h.ts');
    expect(parsed.steps.p.executor.cwd).toBe('workflows/scripts');
    expect(parsed.stats.criticalPathMs).toBeNull();
  });
});

describe('compiler: wait any | {quorum}', () => {
  const s = (durationMs: number) => ({ type: 'simulate', durationMs }) as const;
  const compile = (def: unknown) => compileWorkflow(def, { source: 'workflows/x.yaml' });

  it('joins k of the needs, fails the run through $lost when the rest cannot make k, and keeps those needs out of $fail', () => {
    const p = compile({
      name: 'w',
      steps: { a: { executor: s(10) }, b: { executor: s(20) }, c: { executor: s(500) }, q: { needs: ['a', 'b', 'c'], wait: { quorum: 2 }, executor: s(5) } },
    });
    expect(p.steps['q']!.quorum).toBe(2);
    expect(p.triggers.find((t) => t.id === 'q')!.condition).toEqual({ type: 'join', need: 2, key: 'step' });
    const lost = p.triggers.find((t) => t.id === '$lost:q')!;
    expect(lost.condition).toEqual({ type: 'join', need: 2, key: 'step' });
    expect(lost.action).toEqual({ type: 'fail-run' });
    expect(lost.activation).toEqual({ source: ['joinflow'], 'detail-type': ['Step Failed'], detail: { workflow: ['w'], step: ['a', 'b', 'c'], retrying: [false] } });
    // $fail hears only q, the one step whose failure fails the run (the shorter list).
    expect(p.triggers.find((t) => t.id === '$fail')!.activation).toEqual({
      source: ['joinflow'], 'detail-type': ['Step Failed'], detail: { workflow: ['w'], step: ['q'], retrying: [false] },
    });
    // q starts when b (the second to finish) ends: 20 + 5 ms.
    expect(p.stats.criticalPathMs).toBe(25);
  });

  it('spares only the needs that every step needing them waits for in part, and no sink or output', () => {
    const p = compile({
      name: 'w',
      output: 'q',
      steps: {
        a: { executor: s(1) },
        b: { executor: s(1) },
        c: { executor: s(1) },
        q: { needs: ['a', 'b', 'c'], wait: 'any', executor: s(1) },
        all: { needs: ['a'], executor: s(1) },
      },
    });
    // a is also needed in full by "all": its failure fails the run at once; b and c are spared,
    // but two failures cannot leave "any" without a need, so no $lost trigger is needed.
    expect(p.triggers.find((t) => t.id === '$fail')!.activation['detail']).toEqual({ workflow: ['w'], step: [{ 'anything-but': ['b', 'c'] }], retrying: [false] });
    expect(p.triggers.some((t) => t.id === '$lost:q')).toBe(false);
  });

  it('spares whole branches before a step that waits for some of them: a step that can no longer run loses', () => {
    const p = compile({
      name: 'w',
      steps: {
        root: { executor: s(1) },
        fetchA: { needs: ['root'], executor: s(1) },
        fetchB: { needs: ['root'], executor: s(1) },
        computeA: { needs: ['fetchA'], executor: s(1) },
        computeB: { needs: ['fetchB'], executor: s(1) },
        pick: { needs: ['computeA', 'computeB'], wait: 'any', executor: s(1) },
        report: { needs: ['pick', 'root'], executor: s(1) },
      },
    });
    const lost = Object.fromEntries(p.triggers.filter((t) => t.id.startsWith('$lost:')).map((t) => [t.id, { need: (t.condition as { need: number }).need, steps: (t.activation['detail'] as { step: string[] }).step, action: t.action }]));
    expect(lost).toEqual({
      '$lost:computeA': { need: 1, steps: ['fetchA'], action: { type: 'lose', step: 'computeA' } },
      '$lost:computeB': { need: 1, steps: ['fetchB'], action: { type: 'lose', step: 'computeB' } },
      // pick is needed in full by the sink: losing both branches fails the run.
      '$lost:pick': { need: 2, steps: ['computeA', 'computeB'], action: { type: 'fail-run' } },
    });
    // root is needed in full by the sink: its failure fails the run at once, as do pick's and report's.
    expect((p.triggers.find((t) => t.id === '$fail')!.activation['detail'] as { step: unknown }).step).toEqual(['report', 'pick', 'root']);
  });

  it('compiles wait: all, and a quorum of every need, as the plain join (the same plan)', () => {
    const base = { name: 'w', steps: { a: { executor: s(1) }, b: { executor: s(1) }, j: { needs: ['a', 'b'], executor: s(1) } } };
    const plain = serializePlan(compile(base));
    for (const wait of ['all', { quorum: 2 }]) {
      expect(serializePlan(compile({ ...base, steps: { ...base.steps, j: { ...base.steps.j, wait } } }))).toBe(plain);
    }
  });

  it('refuses a wait with nothing to wait for, a quorum above the needs, a forEach, and malformed values', () => {
    expect(problemsOf({ name: 'w', steps: { a: { executor: s(1), wait: 'any' } } })).toEqual([
      { path: 'steps.a.wait', message: 'a step without needs starts with the run: there is nothing to wait for' },
    ]);
    expect(problemsOf({ name: 'w', steps: { a: { executor: s(1) }, b: { needs: ['a'], wait: { quorum: 2 }, executor: s(1) } } })).toEqual([
      { path: 'steps.b.wait.quorum', message: 'waits for 2 of its needs, but it has 1' },
    ]);
    const fan = problemsOf({ name: 'w', steps: { a: { executor: s(1) }, b: { executor: s(1) }, m: { needs: ['a', 'b'], forEach: 'a', wait: 'any', executor: s(1) } } });
    expect(fan).toEqual([{ path: 'steps.m.wait', message: 'a forEach step fans out over the output of "a", so it waits for all of its needs: drop "wait"' }]);
    for (const wait of ['some', { quorum: 0 }, { quorum: 1.5 }, { k: 1 }]) {
      const problems = problemsOf({ name: 'w', steps: { a: { executor: s(1) }, b: { needs: ['a'], wait, executor: s(1) } } });
      expect(problems, JSON.stringify(wait)).toHaveLength(1);
      expect(problems[0]!.path).toMatch(/^steps\.b\.wait/);
    }
  });
});

describe('compiler: choices (when)', () => {
  const s = (durationMs: number) => ({ type: 'simulate', durationMs }) as const;
  const compile = (def: unknown) => compileWorkflow(def, { source: 'workflows/x.yaml' });
  const when = { results: { a: { ok: [true] } } };
  const def = {
    name: 'c',
    steps: {
      a: { executor: s(1) },
      yes: { needs: ['a'], when, executor: s(1) },
      then: { needs: ['yes'], executor: s(1) },
      other: { needs: ['a'], executor: s(1) },
      join: { needs: ['then', 'other'], executor: s(1) },
    },
  };

  it('keeps when in the plan, and lets the steps after a step that may be skipped hear Step Skipped', () => {
    const p = compile(def);
    expect(p.steps['yes']!.when).toEqual(when);
    const types = (id: string) => p.triggers.find((t) => t.id === id)!.activation['detail-type'];
    // yes may be skipped, and then its only need... then: every need may be skipped.
    expect(types('then')).toEqual(['Step Completed', 'Step Skipped']);
    expect(p.steps['then']!.needsMaySkip).toBe(true);
    // join has a need that always completes (other): it is never skipped, but may miss then's result.
    expect(types('join')).toEqual(['Step Completed', 'Step Skipped']);
    expect(p.steps['join']!.needsMaySkip).toBe(true);
    expect(types('yes')).toEqual(['Step Completed']);
    expect(p.steps['yes']!.needsMaySkip).toBeUndefined();
    // join is the only sink, and it is never skipped: $succeed hears completions only.
    expect(types('$succeed')).toEqual(['Step Completed']);
    expect(compile({ name: 'c2', steps: { a: { executor: s(1) }, yes: { needs: ['a'], when, executor: s(1) } } }).triggers.find((t) => t.id === '$succeed')!.activation['detail-type'])
      .toEqual(['Step Completed', 'Step Skipped']);
  });

  it('leaves a plan without when as it was: no step hears Step Skipped', () => {
    const { yes: _yes, ...rest } = def.steps;
    const p = compile({ name: 'c', steps: { ...rest, yes: { needs: ['a'], executor: s(1) } } });
    expect(serializePlan(p)).not.toContain('Step Skipped');
    expect(serializePlan(p)).not.toContain('needsMaySkip');
  });

  it('refuses a pattern that is not one, a field the step does not receive, a result of a step it does not need, and a wait on a step that may be skipped', () => {
    const bad = (step: Record<string, unknown>) => problemsOf({ name: 'c', steps: { a: { executor: s(1) }, b: { executor: s(1) }, x: { needs: ['a'], executor: s(1), ...step } } });
    expect(bad({ when: { results: { a: { ok: true } } } })).toEqual([
      { path: 'steps.x.when.results.a.ok', message: 'must be an object whose leaves are arrays of match values' },
    ]);
    expect(bad({ when: { detail: { ok: [true] } } })[0]).toMatchObject({ path: 'steps.x.when.detail' });
    expect(bad({ when: { results: { b: { ok: [true] } } } })).toEqual([
      { path: 'steps.x.when.results.b', message: '"b" is not a need of "x", so its result is not among those the step receives: add it to needs' },
    ]);
    expect(bad({ when: 'a == 1' })[0]!.path).toBe('steps.x.when');
    const waits = problemsOf({
      name: 'c',
      steps: { a: { executor: s(1) }, b: { when: { input: { go: [true] } }, executor: s(1) }, q: { needs: ['a', 'b'], wait: 'any', executor: s(1) } },
    });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatchObject({ path: 'steps.q.wait' });
    expect(waits[0]!.message).toContain('"b" may end without a result');
  });
});

describe('compiler: catch', () => {
  const s = (durationMs: number) => ({ type: 'simulate', durationMs }) as const;
  const compile = (def: unknown) => compileWorkflow(def, { source: 'workflows/x.yaml' });
  const def = {
    name: 'k',
    steps: {
      load: { executor: s(1) },
      fit: { needs: ['load'], catch: 'fallback', executor: s(1) },
      fallback: { executor: s(1) },
      report: { needs: ['fit', 'fallback'], executor: s(1) },
    },
  };

  it('puts the catch step after the step it catches, lets the steps after it hear its failure, and keeps that failure from failing the run', () => {
    const p = compile(def);
    expect(p.steps['fit']!.catch).toBe('fallback');
    expect(p.steps['fallback']).toMatchObject({ needs: ['fit'], catches: 'fit', needsMaySkip: true });
    const activation = (id: string) => p.triggers.find((t) => t.id === id)!.activation;
    expect(activation('report')).toEqual({
      source: ['joinflow'],
      detail: { workflow: ['k'], item: [{ exists: false }] },
      $or: [
        { 'detail-type': ['Step Completed', 'Step Skipped'], detail: { step: ['fit', 'fallback'] } },
        { 'detail-type': ['Step Failed'], detail: { step: ['fit'], retrying: [false] } },
      ],
    });
    expect(activation('fallback')['$or']).toBeDefined();
    // $fail hears every step but fit; no $lost trigger waits on fit's failure.
    expect(activation('$fail')['detail']).toMatchObject({ step: [{ 'anything-but': ['fit'] }] });
    expect(p.triggers.filter((t) => t.id.startsWith('$lost:'))).toEqual([]);
    expect(p.output).toEqual({ sinks: ['report'] });
  });

  it('refuses a catch of itself, of an unknown step, on or to a forEach step, a catch step with needs or when, a catch step for two steps, and a cycle through a catch', () => {
    const with_ = (steps: Record<string, unknown>) => problemsOf({ name: 'k', steps: { load: { executor: s(1) }, ...steps } });
    expect(with_({ a: { catch: 'a', executor: s(1) } })).toEqual([{ path: 'steps.a.catch', message: 'step "a" cannot catch its own failure: name another step' }]);
    expect(with_({ a: { catch: 'nope', executor: s(1) } })).toEqual([{ path: 'steps.a.catch', message: 'unknown step "nope"' }]);
    expect(with_({ a: { needs: ['load'], forEach: 'load', catch: 'h', executor: s(1) }, h: { executor: s(1) } })[0]!.path).toBe('steps.a.catch');
    expect(with_({ a: { catch: 'h', executor: s(1) }, h: { needs: ['load'], forEach: 'load', executor: s(1) } }).map((p) => p.path)).toEqual(['steps.h.needs', 'steps.h.forEach']);
    expect(with_({ a: { catch: 'h', executor: s(1) }, h: { needs: ['load'], executor: s(1) } })).toEqual([
      { path: 'steps.h.needs', message: '"h" catches the failure of "a": it starts when "a" fails and gets the results of "a"\'s needs, so it has no needs of its own' },
    ]);
    expect(with_({ a: { catch: 'h', executor: s(1) }, h: { when: { input: { x: [1] } }, executor: s(1) } })[0]!.path).toBe('steps.h.when');
    expect(with_({ a: { catch: 'h', executor: s(1) }, b: { catch: 'h', executor: s(1) }, h: { executor: s(1) } })).toEqual([
      { path: 'steps.b.catch', message: '"h" already catches the failure of "a": a catch step catches one step' },
    ]);
    expect(with_({ a: { needs: ['h'], catch: 'h', executor: s(1) }, h: { executor: s(1) } })[0]!.message).toMatch(/^cycle: /);
    const waits = with_({ a: { catch: 'h', executor: s(1) }, h: { executor: s(1) }, q: { needs: ['a', 'load'], wait: 'any', executor: s(1) } });
    expect(waits.map((p) => p.path)).toEqual(['steps.q.wait']);
  });
});
