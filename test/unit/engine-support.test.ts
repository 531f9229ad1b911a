/** The engine's copy of a registered plan: paths resolved, equal executors shared. */
import { describe, expect, it } from 'vitest';
import { concurrencyLimits, defaultConcurrency, jsonInput, parsedInput, resolvePaths } from '../../src/adapters/local/engine-support.ts';
import { parseInput } from '../../src/cli/input.ts';
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

describe('jsonInput', () => {
  it("copies a caller's object as JSON keeps it, so that changing it later does not change the run", () => {
    const given = { at: new Date(0), n: 1, gone: undefined, list: [1, { x: 'y' }] };
    const input = jsonInput(given);
    expect(input).not.toBe(given);
    expect(input).toEqual({ at: '1970-01-01T00:00:00.000Z', n: 1, list: [1, { x: 'y' }] });
    expect(jsonInput(-0)).toBe(0);
    expect(() => jsonInput({ n: 1n })).toThrow(/cannot be written as JSON/);
  });

  it('takes a string, and an input read from JSON text (--input), without copying it: a copy costs twice its size', () => {
    const s = 'x'.repeat(1000);
    expect(jsonInput(s)).toBe(s);
    const parsed = parseInput('{"s": "abc", "list": [1, {"z": -0, "w": [-0, 0.5]}], "m": -0.0}') as { list: [number, { z: number; w: number[] }]; m: number };
    expect(jsonInput(parsed)).toBe(parsed);
    // -0 is the one value JSON does not give back: it becomes 0 as in a copy.
    expect(Object.is(parsed.list[1].z, 0)).toBe(true);
    expect(Object.is(parsed.list[1].w[0], 0)).toBe(true);
    expect(Object.is(parsed.m, 0)).toBe(true);
    expect(parsed).toEqual(JSON.parse(JSON.stringify(parsed)));
  });

  it('gives a number too large for a double (Infinity to JSON.parse) as null, as a copy and the journal do', () => {
    const text = '{"big": 1e400, "list": [-1e400, 2, {"n": 1e999}]}';
    const parsed = parseInput(text);
    const taken = jsonInput(parsed);
    expect(taken).toEqual({ big: null, list: [null, 2, { n: null }] });
    // What the durable state keeps and gives back after a restart: the same value.
    expect(taken).toEqual(JSON.parse(JSON.stringify(JSON.parse(text))));
  });

  it('copies a parsed input nested too deep for the walk, and refuses one too deep for JSON.stringify as before', () => {
    const nest = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const deep = parsedInput(nest(1_100));
    const copy = jsonInput(deep);
    expect(copy).not.toBe(deep);
    expect(copy).toEqual(deep);
    expect(() => jsonInput(parsedInput(nest(100_000)))).toThrow(/cannot be written as JSON/);
  });
});
