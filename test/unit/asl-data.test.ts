import { describe, expect, it } from 'vitest';
import { matches, ruleProblems } from '../../src/importers/asl/choice.ts';
import { catchError, errorMatches, runScope, runState, type RunContext } from '../../src/importers/asl/interpret.ts';
import type { Scope, State } from '../../src/importers/asl/machine.ts';
import { applyTemplate, getPath, parseCall, parsePath, setPath, StatesError, templateProblems } from '../../src/importers/asl/paths.ts';

const ctx = (tasks: RunContext['tasks'] = {}): RunContext & { slept: number[] } => {
  const slept: number[] = [];
  return {
    tasks,
    execution: { Id: 'run-1', Input: {}, Name: 'run-1', StartTime: '' },
    stateMachine: { Id: 'm', Name: 'm' },
    sleep: async (ms) => {
      slept.push(ms);
    },
    slept,
  };
};

describe('ASL paths', () => {
  it('reads dotted, bracketed and indexed paths, and the context object', () => {
    const data = { a: { 'b c': [10, { d: 'x' }] } };
    expect(getPath('$', data, {})).toBe(data);
    expect(getPath("$.a['b c'][1].d", data, {})).toBe('x');
    expect(getPath('$.a["b c"][0]', data, {})).toBe(10);
    expect(getPath('$$.Map.Item.Index', data, { Map: { Item: { Index: 3 } } })).toBe(3);
  });

  it('names a missing field as States.Runtime, and refuses what it cannot evaluate', () => {
    expect(() => getPath('$.a.missing', { a: {} }, {})).toThrow(StatesError);
    expect(() => getPath('$.a.missing', { a: {} }, {})).toThrow('the path "$.a.missing" matches nothing in the input');
    // A reference path names one value: what may select several is refused, saying where it is taken.
    expect(() => parsePath('$..a')).toThrow('"$..a": .. (a deep scan) may select several values, and this field takes a path to one value');
    expect(() => parsePath('$.a[*]')).toThrow('"$.a[*]": [*] or .* (a wildcard) may select several values, and this field takes a path to one value (such as $.a.b or $.list[0]); a payload template\'s "key.$" fields (Parameters, ResultSelector, ItemSelector), InputPath and OutputPath take such paths');
    expect(() => parsePath('$.a[?(@.b)]')).toThrow('[?(...)] (a filter) may select several values');
    expect(() => parsePath('a.b')).toThrow('must start with "$"');
  });

  it('places a result with ResultPath without changing the input', () => {
    const input = { a: 1, n: { keep: true } };
    expect(setPath('$.n.r', input, 5)).toEqual({ a: 1, n: { keep: true, r: 5 } });
    expect(input).toEqual({ a: 1, n: { keep: true } });
    expect(setPath('$', input, 5)).toBe(5);
    expect(setPath(null, input, 5)).toBe(input);
    expect(() => setPath('$.a.b', input, 5)).toThrow('"a" is number 1, not an object');
    // As on Step Functions: States.ResultPathMatchFailure, which a Catch of States.ALL catches.
    expect(() => setPath('$.a.b', input, 5)).toThrow(expect.objectContaining({ error: 'States.ResultPathMatchFailure' }));
    expect(() => setPath('$.x', 'scalar', 5)).toThrow(expect.objectContaining({ error: 'States.ResultPathMatchFailure' }));
  });

  it('catches a ResultPath the input has no place for with States.ALL', async () => {
    const st: State = { Type: 'Task', Resource: 'arn:aws:lambda:r:1:function:n', ResultPath: '$.a.b', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.err', Next: 'Caught' }], Next: 'Done' };
    const r = await runState('T', st, { a: 'str' }, ctx({ n: () => 1 }));
    expect(r).toMatchObject({ next: 'Caught', output: { a: 'str', err: { Error: 'States.ResultPathMatchFailure' } } });
  });

  it('compares objects by their content in ArrayContains and ArrayUnique, whatever the order of their fields', () => {
    const data = { list: [{ id: 1, tag: 'a' }, { tag: 'a', id: 1 }, { id: 2, tags: { x: 1, y: [1, { b: 2, a: 1 }] } }], wanted: { tags: { y: [1, { a: 1, b: 2 }], x: 1 }, id: 2 } };
    expect(applyTemplate({ 'has.$': 'States.ArrayContains($.list, $.wanted)', 'unique.$': 'States.ArrayUnique($.list)' }, data, {}))
      .toEqual({ has: true, unique: [{ id: 1, tag: 'a' }, data.list[2]] });
    // An array's order still counts.
    expect(applyTemplate({ 'has.$': 'States.ArrayContains(States.Array(States.Array(1, 2)), States.Array(2, 1))' }, {}, {})).toEqual({ has: false });
  });

  it('keeps escaped braces literal in States.Format, and decodes only base64', () => {
    expect(applyTemplate({ 'f.$': "States.Format('literal \\{\\} then {}', $.x)" }, { x: 'X' }, {})).toEqual({ f: 'literal {} then X' });
    // An escaped backslash before a placeholder: a backslash, then the value.
    expect(applyTemplate({ 'f.$': "States.Format('a\\\\{} \\'q\\'', $.x)" }, { x: 'X' }, {})).toEqual({ f: "a\\X 'q'" });
    // Elsewhere an escaped brace is just the brace.
    expect(applyTemplate({ 's.$': "States.StringSplit('a\\{b', '{')" }, {}, {})).toEqual({ s: ['a', 'b'] });
    expect(applyTemplate({ 'a.$': "States.Base64Decode('aGVsbG8=')", 'b.$': "States.Base64Decode('aGVsbG8')" }, {}, {})).toEqual({ a: 'hello', b: 'hello' });
    for (const bad of ['!!!notb64', 'aGVsbG8==', 'a', 'aGV=sbG8']) {
      expect(() => applyTemplate({ 'v.$': `States.Base64Decode('${bad}')` }, {}, {})).toThrow(expect.objectContaining({ error: 'States.IntrinsicFailure' }));
    }
  });

  it('draws States.MathRandom from start (inclusive) to end (exclusive), and fails when no number is both', () => {
    const seen = new Set<unknown>();
    for (let i = 0; i < 200; i++) seen.add((applyTemplate({ 'r.$': 'States.MathRandom(-1, 2)' }, {}, {}) as { r: unknown }).r);
    expect([...seen].sort()).toEqual([-1, 0, 1]);
    for (const [a, b] of [[10, 1], [5, 5]]) {
      expect(() => applyTemplate({ 'r.$': `States.MathRandom($.a, $.b)` }, { a, b }, {})).toThrow(expect.objectContaining({
        error: 'States.IntrinsicFailure', message: `States.IntrinsicFailure: States.MathRandom: the start (${a}) must be less than the end (${b}), which is excluded`,
      }));
    }
  });

  it('gives the engine\'s retry number to $$.State.RetryCount when the engine retries the Task', async () => {
    const seen: unknown[] = [];
    const st: State = { Type: 'Task', Resource: 'arn:aws:lambda:r:1:function:f', Parameters: { 'rc.$': '$$.State.RetryCount' }, End: true };
    await runState('T', st, {}, ctx({ f: (e) => void seen.push(e) }), 2);
    expect(seen).toEqual([{ rc: 2 }]);
  });

  it('evaluates templates with paths and intrinsic functions, nested', () => {
    const data = { name: 'x', list: [3, 1, 3], json: '{"k":2}' };
    expect(applyTemplate({
      'greeting.$': "States.Format('hi {}, {} items', $.name, States.ArrayLength($.list))",
      fixed: { 'inner.$': '$.name', n: 1 },
      'unique.$': 'States.ArrayUnique($.list)',
      'parsed.$': 'States.StringToJson($.json)',
      'sum.$': 'States.MathAdd(States.ArrayGetItem($.list, 0), -1)',
      'parts.$': 'States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)',
      'hash.$': "States.Hash('abc', 'SHA-256')",
      'b64.$': "States.Base64Decode(States.Base64Encode('a\\'b'))",
      'split.$': "States.StringSplit('a,b;;c', ',;')",
      'merged.$': 'States.JsonMerge(States.StringToJson($.json), States.StringToJson(\'{"z":1}\'), false)',
    }, data, {})).toEqual({
      greeting: 'hi x, 3 items',
      fixed: { inner: 'x', n: 1 },
      unique: [3, 1],
      parsed: { k: 2 },
      sum: 2,
      parts: [[1, 2], [3, 4], [5]],
      hash: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      b64: "a'b",
      split: ['a', 'b', 'c'],
      merged: { k: 2, z: 1 },
    });
    expect(applyTemplate({ 'id.$': 'States.UUID()' }, {}, {})).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('reads bracketed names holding ",", "]" or ")", in paths and as intrinsic function arguments', () => {
    const data = { 'a,b': 1, 'x]y': 2, 'p)q': 3, "it's": 4, n: { 'c, d': [5, 6] } };
    expect(getPath("$['x]y']", data, {})).toBe(2);
    expect(getPath('$["it\'s"]', data, {})).toBe(4);
    expect(getPath("$.n[ 'c, d' ][1]", data, {})).toBe(6);
    expect(applyTemplate({
      'a.$': "States.Array($['a,b'], $['x]y'], $['p)q'])",
      'f.$': "States.Format('{}-{}', $.n['c, d'][0], States.ArrayLength($.n['c, d']))",
    }, data, {})).toEqual({ a: [1, 2, 3], f: '5-2' });
    expect(templateProblems({ 'a.$': "States.Array($['a,b'], $['x]y'])" }, 'P')).toEqual([]);
    // The Step Functions guide's own example puts a dot before the bracket.
    expect(applyTemplate({ 'v.$': "States.Format('{}', $.abc.['def ghi'])" }, { abc: { 'def ghi': 'x' } }, {})).toEqual({ v: 'x' });
    expect(() => parsePath('$.a.')).toThrow('a "." must be followed by a field name');
    // What stays refused: an unclosed name, and several names in one bracket.
    expect(() => parsePath("$['a")).toThrow("the name after \"[\" has no closing '");
    expect(() => parsePath("$['a', 'b']")).toThrow("\"['a', 'b']\" names several fields, which is not supported: select each field in its own path");
  });

  it('reports bad template fields by path when a machine is checked', () => {
    expect(templateProblems({ ok: 1, 'a.$': '$.x', nested: { 'b.$': 'States.Nope(1)', 'c.$': 3 } }, 'States.T.Parameters')).toEqual([
      { path: 'States.T.Parameters.nested.b.$', message: expect.stringContaining('States.Nope is not an intrinsic function') },
      { path: 'States.T.Parameters.nested.c.$', message: expect.stringContaining('must hold a path or an intrinsic function') },
    ]);
    expect(() => parseCall("States.Format('x'")).toThrow('expected "," or ")"');
    // Only backslash-quote, -brace and -backslash are escapes: Step Functions fails on any other backslash, which must not vanish here.
    expect(templateProblems({ 'a.$': "States.Format('C:\\temp {}', $.x)", 'b.$': "States.StringSplit('a\\nb', '\\')" }, 'States.T.Parameters')).toEqual([
      { path: 'States.T.Parameters.a.$', message: expect.stringContaining('"\\t" is not an escape: write \\\\ for a backslash (\\\', \\{ and \\} escape a quote and braces)') },
      { path: 'States.T.Parameters.b.$', message: expect.stringContaining('"\\n" is not an escape') },
    ]);
    expect(applyTemplate({ 'a.$': "States.Format('C:\\\\temp {}', $.x)" }, { x: 1 }, {})).toEqual({ a: 'C:\\temp 1' });
  });
});

describe('ASL choice rules', () => {
  const rule = (r: Record<string, unknown>, data: unknown) => matches(r, data, {});
  it('compares strings, numbers, booleans and timestamps, with And, Or and Not', () => {
    expect(rule({ Variable: '$.t', StringEquals: 'a' }, { t: 'a' })).toBe(true);
    expect(rule({ Variable: '$.t', StringEquals: 'a' }, { t: 1 })).toBe(false);
    expect(rule({ Variable: '$.t', StringMatches: 'log-*.txt' }, { t: 'log-1.txt' })).toBe(true);
    expect(rule({ Variable: '$.t', StringMatches: 'a\\*' }, { t: 'ab' })).toBe(false);
    expect(rule({ And: [{ Variable: '$.v', NumericGreaterThanEquals: 20 }, { Variable: '$.v', NumericLessThan: 30 }] }, { v: 25 })).toBe(true);
    expect(rule({ Or: [{ Variable: '$.v', NumericEquals: 1 }, { Not: { Variable: '$.v', NumericLessThan: 30 } }] }, { v: 31 })).toBe(true);
    expect(rule({ Variable: '$.v', NumericLessThanPath: '$.w' }, { v: 1, w: 2 })).toBe(true);
    expect(rule({ Variable: '$.b', BooleanEquals: false }, { b: false })).toBe(true);
    expect(rule({ Variable: '$.at', TimestampLessThan: '2026-01-01T00:00:00Z' }, { at: '2025-12-31T23:59:59+00:00' })).toBe(true);
    expect(rule({ Variable: '$.x', IsPresent: false }, {})).toBe(true);
    expect(rule({ Variable: '$.x', IsNull: true }, { x: null })).toBe(true);
    expect(rule({ Variable: '$.x', IsNumeric: false }, {})).toBe(true);
  });

  it('compares timestamps at the precision they are written with, past the millisecond', () => {
    const at = (op: string, a: string, b: string) => rule({ Variable: '$.a', [`${op}Path`]: '$.b' }, { a, b });
    expect(rule({ Variable: '$.a', TimestampEquals: '2026-01-01T00:00:00.0002Z' }, { a: '2026-01-01T00:00:00.0001Z' })).toBe(false);
    expect(rule({ Variable: '$.a', TimestampLessThan: '2026-01-01T00:00:00.0002Z' }, { a: '2026-01-01T00:00:00.0001Z' })).toBe(true);
    expect(at('TimestampGreaterThan', '2026-01-01T00:00:00.000000002Z', '2026-01-01T00:00:00.000000001Z')).toBe(true);
    expect(at('TimestampLessThanEquals', '2026-01-01T00:00:00.0002Z', '2026-01-01T00:00:00.0001Z')).toBe(false);
    expect(at('TimestampGreaterThanEquals', '2026-01-01T00:00:00.0001Z', '2026-01-01T00:00:00.0002Z')).toBe(false);
    // Equal instants, written with more or fewer digits or another offset, are equal.
    expect(at('TimestampEquals', '2026-01-01T00:00:00.00010Z', '2026-01-01T00:00:00.0001Z')).toBe(true);
    expect(at('TimestampEquals', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000000Z')).toBe(true);
    expect(at('TimestampEquals', '2026-01-01T01:30:00.5+01:30', '2026-01-01T00:00:00.50Z')).toBe(true);
    expect(at('TimestampLessThan', '2025-12-31T23:59:59.9999999Z', '2026-01-01T00:00:00Z')).toBe(true);
    expect(at('TimestampLessThan', '0099-12-31T23:59:59Z', '0100-01-01T00:00:00Z')).toBe(true);
  });

  it('takes only dates and times that exist as timestamps (IsTimestamp, comparisons, values checked at import)', () => {
    const isTs = (at: unknown) => rule({ Variable: '$.at', IsTimestamp: true }, { at });
    for (const good of ['2024-02-29T00:00:00Z', '2000-02-29T23:59:59.999+23:59', '2026-12-31T23:59:60Z', '2027-01-01T00:59:60+01:00', '2026-06-30T16:59:60-07:00', '0000-01-01T00:00:00Z']) {
      expect(isTs(good), good).toBe(true);
    }
    for (const bad of ['2026-02-30T00:00:00Z', '2026-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z', '2026-01-01T25:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z', '2026-01-01T00:00:61Z', '2026-01-15T23:59:60Z',
      '2026-12-31T22:59:60Z', '2026-01-01T00:00:00+24:00', '2026-01-01T00:00:00+01:60']) {
      expect(isTs(bad), bad).toBe(false);
    }
    // Not a timestamp: no comparison matches, not even with itself.
    expect(rule({ Variable: '$.at', TimestampEqualsPath: '$.at' }, { at: '2026-02-30T00:00:00Z' })).toBe(false);
    expect(rule({ Variable: '$.at', TimestampLessThan: '2026-03-03T00:00:00Z' }, { at: '2026-02-30T00:00:00Z' })).toBe(false);
    // A leap second comes after 23:59:59.999 and before the next day.
    expect(rule({ Variable: '$.at', TimestampGreaterThan: '2026-12-31T23:59:59.999Z' }, { at: '2026-12-31T23:59:60Z' })).toBe(true);
    expect(rule({ Variable: '$.at', TimestampLessThan: '2027-01-01T00:00:00Z' }, { at: '2026-12-31T23:59:60.5Z' })).toBe(true);
    expect(ruleProblems({ Variable: '$.at', TimestampEquals: '2026-02-30T00:00:00Z', Next: 'X' }, 'C[0]', true)).toEqual([
      { path: 'C[0].TimestampEquals', message: 'must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z' },
    ]);
  });

  it('says what is wrong with a rule, by path', () => {
    expect(ruleProblems({ Variable: '$.a', StringEquals: 1, NumericEquals: 2, Next: 'X' }, 'C[0]', true)).toEqual([
      { path: 'C[0]', message: 'a rule needs exactly one of And, Or, Not or a comparison; it has StringEquals, NumericEquals' },
    ]);
    expect(ruleProblems({ Variable: '$.a', NumericEquals: 'x' }, 'C[0]', true).map((p) => p.path)).toEqual(['C[0].Next', 'C[0].NumericEquals']);
    expect(ruleProblems({ Not: { Variable: '$.a', StringEquals: 'x', Next: 'Y' } }, 'C[1]', true).map((p) => p.message)).toContain(
      'only the rules listed in Choices have Next, not the rules inside And, Or or Not',
    );
  });
});

describe('ASL states', () => {
  it('runs a Task with InputPath, Parameters, ResultSelector, ResultPath and OutputPath in that order', async () => {
    const st: State = {
      Type: 'Task', Resource: 'arn:aws:lambda:eu-west-1:1:function:price:live', InputPath: '$.order',
      Parameters: { 'qty.$': '$.n', unit: 2 }, ResultSelector: { 'total.$': '$.total' }, ResultPath: '$.order.priced', OutputPath: '$.order', Next: 'Next',
    };
    const seen: unknown[] = [];
    const r = await runState('Price', st, { order: { n: 3 }, other: true }, ctx({ price: (e) => (seen.push(e), { total: 6, noise: 1 }) }));
    expect(seen).toEqual([{ qty: 3, unit: 2 }]);
    expect(r).toEqual({ next: 'Next', output: { n: 3, priced: { total: 6 } } });
  });

  it('retries with backoff by the matching retrier, then catches, with ResultPath on the error', async () => {
    let calls = 0;
    const c = ctx({ f: () => {
      calls++;
      throw Object.assign(new Error('busy'), { name: 'Busy' });
    } });
    const st: State = {
      Type: 'Task', Resource: 'arn:aws:lambda:r:1:function:f', End: true,
      Retry: [{ ErrorEquals: ['Other'], MaxAttempts: 9 }, { ErrorEquals: ['Busy'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 3 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.err', Next: 'Fix' }],
    };
    const r = await runState('T', st, { a: 1 }, c);
    // A Lambda function's error as Step Functions reports it: the Cause is its error response as
    // JSON, with the function's own frames (none of joinflow's).
    const cause = (r.output as { err: { Cause: string } }).err.Cause;
    expect(r).toEqual({ next: 'Fix', output: { a: 1, err: { Error: 'Busy', Cause: cause } } });
    expect(JSON.parse(cause)).toEqual({ errorType: 'Busy', errorMessage: 'busy', trace: ['Busy: busy', expect.stringMatching(/^ {4}at f \(.*asl-data\.test\.ts:\d+:\d+\)$/)] });
    expect(calls).toBe(3);
    expect(c.slept).toEqual([1000, 3000]);
  });

  it('does not let States.ALL catch States.Runtime', () => {
    expect(errorMatches(['States.ALL'], 'States.Runtime')).toBe(false);
    expect(errorMatches(['States.TaskFailed'], 'Whatever')).toBe(true);
    expect(errorMatches(['States.TaskFailed'], 'States.Timeout')).toBe(false);
    expect(catchError({ Type: 'Task', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'X' }] }, {}, new StatesError('States.Runtime', 'bad path'), {})).toBeUndefined();
  });

  it('runs a loop until it leaves its states, and stops a loop that never does', async () => {
    const scope: Scope = { StartAt: 'Inc', States: {
      Inc: { Type: 'Pass', Parameters: { 'n.$': 'States.MathAdd($.n, 1)' }, Next: 'Check' },
      Check: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThanEquals: 3, Next: 'Out' }], Default: 'Inc' },
      Out: { Type: 'Succeed' },
    } };
    expect(await runScope(scope, 'Inc', { n: 0 }, ctx(), new Set(['Inc', 'Check']))).toEqual({ next: 'Out', output: { n: 3 } });
    const forever: Scope = { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'A' } } };
    await expect(runScope(forever, 'A', {}, ctx())).rejects.toThrow('more than 10000 state transitions from "A"');
  });

  it('runs Parallel branches and Map items (with ItemSelector and $$.Map.Item) in order', async () => {
    const st: State = {
      Type: 'Map', ItemsPath: '$.xs', ItemSelector: { 'v.$': '$$.Map.Item.Value', 'i.$': '$$.Map.Item.Index', 'k.$': '$.k' }, ResultPath: '$.ys', End: true,
      ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Parallel', End: true, Branches: [
        { StartAt: 'A', States: { A: { Type: 'Pass', InputPath: '$.v', End: true } } },
        { StartAt: 'B', States: { B: { Type: 'Task', Resource: 'double', End: true } } },
      ] } } },
    };
    const r = await runState('M', st, { xs: [1, 2], k: 'z' }, ctx({ double: (e) => e }));
    expect(r.output).toEqual({ xs: [1, 2], k: 'z', ys: [[1, { v: 1, i: 0, k: 'z' }], [2, { v: 2, i: 1, k: 'z' }]] });
  });

  it('fails with the Fail state\'s error and cause, and with States.NoChoiceMatched', async () => {
    await expect(runState('F', { Type: 'Fail', Error: 'Bad', Cause: 'why' }, {}, ctx())).rejects.toMatchObject({ error: 'Bad', message: 'Bad: why' });
    // ErrorPath and CausePath: a path or an intrinsic function.
    await expect(runState('F', { Type: 'Fail', ErrorPath: '$.code', CausePath: "States.Format('item {} failed', $.n)" }, { code: 'E42', n: 7 }, ctx()))
      .rejects.toMatchObject({ error: 'E42', message: 'E42: item 7 failed' });
    // They must give a string (Step Functions says so): an object is not made "[object Object]".
    await expect(runState('F', { Type: 'Fail', Error: 'E', CausePath: '$.detail' }, { detail: { code: 7 } }, ctx()))
      .rejects.toMatchObject({ error: 'States.Runtime', message: expect.stringContaining('CausePath "$.detail" of the Fail state "F" gives object {"code":7}, not a string') });
    await expect(runState('C', { Type: 'Choice', Choices: [{ Variable: '$.a', StringEquals: 'x', Next: 'X' }] }, { a: 'y' }, ctx()))
      .rejects.toMatchObject({ error: 'States.NoChoiceMatched' });
  });

  it('waits by Seconds, SecondsPath and Timestamp', async () => {
    const c = ctx();
    await runState('W', { Type: 'Wait', Seconds: 2, End: true }, {}, c);
    await runState('W', { Type: 'Wait', SecondsPath: '$.s', End: true }, { s: 0.5 }, c);
    await runState('W', { Type: 'Wait', Timestamp: '2000-01-01T00:00:00Z', End: true }, {}, c);
    expect(c.slept).toEqual([2000, 500, 0]);
    // A date that does not exist is no timestamp (Date.parse would wait until March 2).
    await expect(runState('W', { Type: 'Wait', TimestampPath: '$.at', End: true }, { at: '2099-02-30T00:00:00Z' }, c))
      .rejects.toMatchObject({ error: 'States.Runtime', message: 'States.Runtime: Wait "W": "2099-02-30T00:00:00Z" is not a timestamp' });
    // Its fraction of a second counts: it sleeps until .5, not until the whole second.
    await runState('W', { Type: 'Wait', TimestampPath: '$.at', End: true }, { at: '2099-03-02T00:00:00.5Z' }, c);
    const late = c.slept[3]! - (Date.UTC(2099, 2, 2, 0, 0, 0, 500) - Date.now());
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(500);
  });
});
