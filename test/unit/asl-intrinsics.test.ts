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
});
