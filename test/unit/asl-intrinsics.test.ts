import { describe, expect, it } from 'vitest';
import { applyTemplate, parseCall, templateProblems } from '../../src/importers/asl/paths.ts';

const run = (expr: string, data: unknown = {}): unknown => (applyTemplate({ 'v.$': expr }, data, {}) as { v: unknown }).v;

describe('ASL intrinsic functions', () => {
  it('takes any JSON whitespace (space, tab, line feed, carriage return) around the arguments', () => {
    for (const blank of [' ', '\t', '\n', '\r\n', ' \t ']) {
      expect(run(`States.Format('{}-{}',${blank}$.x,${blank}States.MathAdd(1,${blank}2)${blank})`, { x: 'a' }), JSON.stringify(blank)).toBe('a-3');
      expect(run(`States.Array(${blank}$['a b']${blank},${blank}1${blank})`, { 'a b': 0 })).toEqual([0, 1]);
    }
    expect(templateProblems({ 'a.$': "States.Format('{}',\t$.x)" }, 'P')).toEqual([]);
    // Other blanks are not JSON whitespace: a no-break space stays refused, saying where.
    expect(() => parseCall("States.Format('{}',\u00a0$.x)")).toThrow('expected a string, a number, true, false, null, a path or an intrinsic function, not U+00A0 (at position 20)');
  });

  it('gives one number for one seed in States.MathRandom, every time, within the range', () => {
    for (const seed of [0, 7, -3, 123456789, 2.5]) {
      const first = run(`States.MathRandom(10, 1000000, ${seed})`);
      expect(first).toBeGreaterThanOrEqual(10);
      expect(first).toBeLessThan(1000000);
      expect(Number.isInteger(first)).toBe(true);
      for (let i = 0; i < 20; i++) expect(run(`States.MathRandom(10, 1000000, ${seed})`)).toBe(first);
      // The seed read by a path is the same seed.
      expect(run('States.MathRandom($.a, $.b, $.seed)', { a: 10, b: 1000000, seed })).toBe(first);
    }
    // Seeds are not all one number; a range of one number gives it whatever the seed.
    expect(new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => run(`States.MathRandom(0, 1000000, ${seed})`))).size).toBeGreaterThan(4);
    expect(run('States.MathRandom(5, 6, 99)')).toBe(5);
    // Draws from one seed over a small range spread over it.
    expect(new Set(Array.from({ length: 64 }, (_, seed) => run(`States.MathRandom(0, 4, ${seed})`)))).toEqual(new Set([0, 1, 2, 3]));
    expect(() => run("States.MathRandom(0, 10, 'x')")).toThrow(expect.objectContaining({
      error: 'States.IntrinsicFailure', message: 'States.IntrinsicFailure: States.MathRandom: expected a seed number, got string "x"',
    }));
  });

  it('rounds non-integer arguments of States.MathRandom and States.MathAdd to the nearest integer, as Step Functions documents', () => {
    expect(run('States.MathAdd(1.5, 2.4)')).toBe(4);
    expect(run('States.MathAdd($.a, $.b)', { a: 110.6, b: -1.2 })).toBe(110);
    // Halves go up, towards +∞ (AWS does not say which way): -2.5 is -2.
    expect(run('States.MathAdd(-2.5, 0)')).toBe(-2);
    const seen = new Set<unknown>();
    for (let i = 0; i < 200; i++) seen.add(run('States.MathRandom(0.6, 3.4)'));
    expect([...seen].sort()).toEqual([1, 2]);
    expect(run('States.MathRandom(0.4, 1.2)')).toBe(0);
    expect(() => run('States.MathRandom(0.6, 1.4)')).toThrow(expect.objectContaining({
      error: 'States.IntrinsicFailure', message: 'States.IntrinsicFailure: States.MathRandom: the start (0.6, rounded to 1) must be less than the end (1.4, rounded to 1), which is excluded',
    }));
    // MathAdd takes integers from -2147483648 to 2147483647, as documented.
    expect(run('States.MathAdd(2147483647, -2147483648)')).toBe(-1);
    expect(() => run('States.MathAdd(2147483648, 0)')).toThrow(expect.objectContaining({
      error: 'States.IntrinsicFailure', message: 'States.IntrinsicFailure: States.MathAdd: 2147483648 is outside the integers it takes, -2147483648 to 2147483647',
    }));
    expect(() => run("States.MathAdd('1', 2)")).toThrow('States.MathAdd: expected a number, got string "1"');
  });
});
