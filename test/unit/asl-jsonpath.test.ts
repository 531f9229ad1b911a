import { describe, expect, it } from 'vitest';
import { mapItems, runState, type RunContext } from '../../src/importers/asl/interpret.ts';
import { checkMachine, type State } from '../../src/importers/asl/machine.ts';
import { applyTemplate, getPath, parsePath, selectPath, setPath, templateProblems } from '../../src/importers/asl/paths.ts';

const ctx = (tasks: RunContext['tasks'] = {}): RunContext => ({
  tasks,
  execution: { Id: 'run-1', Input: {}, Name: 'run-1', StartTime: '' },
  stateMachine: { Id: 'm', Name: 'm' },
  sleep: async () => {},
});
const pick = (path: string, data: unknown): unknown => (applyTemplate({ 'v.$': path }, data, {}) as { v: unknown }).v;

const store = {
  items: [
    { id: 'a', price: 5, kind: 'book', tags: ['x'], stock: { n: 0 } },
    { id: 'b', price: 12.5, kind: 'pen', on: true, stock: { n: 3 } },
    { id: 'c', price: 30, kind: 'book', on: false, note: null },
    { price: 11, kind: "it's" },
  ],
  nums: [0, 1, 2, 3, 4, 5],
  shelf: { top: { price: 1 }, low: { price: 2, box: { price: 3 } } },
};

describe('ASL bracketed names with escapes', () => {
  const data = { "it's": 1, 'say "hi"': 2, 'a\\b': 3, 'A': 4, 'tab\there': 5, 'x]y': 6 };
  it('reads \\\' and \\" (and \\\\, \\uXXXX, \\t) inside a quoted name, as JSONPath escapes them', () => {
    expect(getPath("$['it\\'s']", data, {})).toBe(1);
    expect(getPath('$["say \\"hi\\""]', data, {})).toBe(2);
    expect(getPath("$['a\\\\b']", data, {})).toBe(3);
    expect(getPath("$['\\u0041']", data, {})).toBe(4);
    expect(getPath("$['tab\\there']", data, {})).toBe(5);
    expect(getPath("$['x]y']", data, {})).toBe(6);
    // In a template, as an intrinsic function's argument (beside a "," and a ")"), and as a ResultPath.
    expect(applyTemplate({ 'a.$': "$['it\\'s']", 'f.$': "States.Format('{}+{}', $['it\\'s'], $[\"say \\\"hi\\\"\"])" }, data, {})).toEqual({ a: 1, f: '1+2' });
    expect(setPath("$['it\\'s']", { x: 0 }, 9)).toEqual({ x: 0, "it's": 9 });
    expect(templateProblems({ 'a.$': "States.Array($['it\\'s'], $['x,\\')'])" }, 'P')).toEqual([]);
  });

  it('refuses a backslash that escapes nothing, and an unclosed name, saying so', () => {
    expect(() => parsePath("$['a\\qb']")).toThrow('"$[\'a\\qb\']": "\\q" is not an escape in a quoted name or string (\\\' is the quote, \\\\ a backslash; also \\/ \\b \\f \\n \\r \\t \\uXXXX)');
    expect(() => parsePath("$['it\\']")).toThrow("the name after \"[\" has no closing '");
  });
});

describe('ASL paths that select several values, in payload templates', () => {
  it('gives the list of what a wildcard, a deep scan, a slice or an index list selects', () => {
    expect(pick('$.items[*].id', store)).toEqual(['a', 'b', 'c']);
    expect(pick('$.items.*.kind', store)).toEqual(['book', 'pen', 'book', "it's"]);
    expect(pick('$.shelf.*', store)).toEqual([{ price: 1 }, { price: 2, box: { price: 3 } }]);
    expect(pick('$..price', store.shelf)).toEqual([1, 2, 3]);
    expect(pick('$.shelf..price', store)).toEqual([1, 2, 3]);
    expect(pick('$..stock.n', store)).toEqual([0, 3]);
    expect(pick('$..tags[0]', store)).toEqual(['x']);
    expect(pick('$.nums[1:3]', store)).toEqual([1, 2]);
    expect(pick('$.nums[-2:]', store)).toEqual([4, 5]);
    expect(pick('$.nums[:2]', store)).toEqual([0, 1]);
    expect(pick('$.nums[::2]', store)).toEqual([0, 2, 4]);
    expect(pick('$.nums[4:99]', store)).toEqual([4, 5]);
    expect(pick('$.nums[0,2,9]', store)).toEqual([0, 2]);
    // A path to one value still gives the value, and [-1] the last element.
    expect(pick('$.nums[-1]', store)).toBe(5);
    expect(pick('$.items[1].id', store)).toBe('b');
    // The guide's example: "last3.$": "$.vals[-3:]".
    expect(applyTemplate({ parts: { 'first.$': '$.vals[0]', 'last3.$': '$.vals[-3:]' } }, { vals: [0, 10, 20, 30, 40, 50] }, {})).toEqual({ parts: { first: 0, last3: [30, 40, 50] } });
  });

  it('filters with ==, !=, <, <=, >, >= on numbers, strings, booleans and null, with &&, ||, ! and parentheses', () => {
    const ids = (filter: string) => (pick(`$.items[?(${filter})]`, store) as { id?: string; price: number }[]).map((x) => x.id ?? x.price);
    expect(ids('@.price > 10')).toEqual(['b', 'c', 11]);
    expect(ids('@.price >= 12.5')).toEqual(['b', 'c']);
    expect(ids('@.price < 12')).toEqual(['a', 11]);
    expect(ids('@.price <= 5')).toEqual(['a']);
    expect(ids("@.kind == 'book'")).toEqual(['a', 'c']);
    expect(ids('@.kind == "it\'s"')).toEqual([11]);
    expect(ids("@.kind != 'book'")).toEqual(['b', 11]);
    expect(ids('@.on == true')).toEqual(['b']);
    expect(ids('@.on == false')).toEqual(['c']);
    expect(ids('@.note == null')).toEqual(['c']);
    expect(ids("@.price > 10 && @.kind == 'book'")).toEqual(['c']);
    expect(ids("@.price < 10 || @.kind == 'pen'")).toEqual(['a', 'b']);
    expect(ids("!(@.kind == 'book') && @.price>11")).toEqual(['b']);
    expect(ids('@.stock.n > 0')).toEqual(['b']);
    expect(ids("@.tags[0] == 'x'")).toEqual(['a']);
    expect(ids("@['kind'] < 'c'")).toEqual(['a', 'c']);
    // A field alone tests its presence (null is present); a missing field compares with nothing.
    expect(ids('@.note')).toEqual(['c']);
    expect(ids('!@.id')).toEqual([11]);
    expect(ids('@.on != true')).toEqual(['a', 'c', 11]);
    expect(ids("@.price > '10'")).toEqual([]);
    // Tabs and line breaks between the parts, as JSON blanks.
    expect(ids("@.price\t>\n10\t&&\t@.kind\t==\t'pen'")).toEqual(['b']);
    // Combined with the steps after it, and with what the filter selects gathered in a list.
    expect(pick("$.items[?(@.kind == 'book')].id", store)).toEqual(['a', 'c']);
    expect(pick('$.items[?(@.price > 100)]', store)).toEqual([]);
  });

  it('leaves out values without the field after the first step that may select several, but fails on the part before it', () => {
    expect(pick('$.items[*].on', store)).toEqual([true, false]);
    expect(pick('$.items[*].stock.n', store)).toEqual([0, 3]);
  });

  it('fails with States.Runtime when the part before the first such step matches nothing', () => {
    expect(() => pick('$.nothing..x', store)).toThrow('the path "$.nothing..x" matches nothing in the input');
    expect(() => pick('$.missing[*].id', store)).toThrow(expect.objectContaining({ error: 'States.Runtime', message: 'States.Runtime: the path "$.missing[*].id" matches nothing in the input' }));
  });

  it('takes them as intrinsic functions\' arguments, with a "," or ")" inside a filter', () => {
    expect(applyTemplate({
      'n.$': 'States.ArrayLength($.items[?(@.price > 10)])',
      'ids.$': "States.Format('{}', $.items[?(@.kind == ')' || @.price == 5)].id)",
      'sum.$': 'States.MathAdd(States.ArrayGetItem($.nums[-2:], 0), 1)',
      'has.$': "States.ArrayContains($..kind, 'pen')",
    }, store, {})).toEqual({ n: 3, ids: '["a"]', sum: 5, has: true });
  });

  it('selects from the context object and in a Map\'s ItemSelector, a Task\'s ResultSelector, InputPath and OutputPath', async () => {
    expect(selectPath('$$.Execution.*', {}, { Execution: { Id: 'i', Name: 'n' } })).toEqual(['i', 'n']);
    const map: State = { Type: 'Map', ItemsPath: '$.items', ItemSelector: { 'kinds.$': '$.items[*].kind', 'i.$': '$$.Map.Item.Index' }, ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, End: true };
    expect(mapItems(map, { items: [{ kind: 'a' }, { kind: 'b' }] }, ctx(), 'M')).toEqual([{ kinds: ['a', 'b'], i: 0 }, { kinds: ['a', 'b'], i: 1 }]);
    const seen: unknown[] = [];
    const task: State = {
      Type: 'Task', Resource: 'arn:aws:lambda:r:1:function:f', InputPath: "$.items[?(@.kind == 'book')]",
      Parameters: { 'prices.$': '$[*].price' }, ResultSelector: { 'big.$': '$.rows[?(@.n >= 2)].n' }, ResultPath: '$.r', OutputPath: '$..big', End: true,
    };
    const r = await runState('T', task, store, ctx({ f: (e) => (seen.push(e), { rows: [{ n: 1 }, { n: 2 }, { n: 3 }] }) }));
    expect(seen).toEqual([{ prices: [5, 30] }]);
    // OutputPath gathers what it selects in a list, here one value.
    expect(r).toEqual({ next: null, output: [[2, 3]] });
  });
});

describe('ASL paths that select several values, where a path to one value is needed', () => {
  it('are refused at import in ResultPath, ItemsPath, SecondsPath, a Choice\'s Variable and a Catch\'s ResultPath, and taken in templates, InputPath and OutputPath', () => {
    const { problems } = checkMachine({
      StartAt: 'P',
      States: {
        P: { Type: 'Pass', InputPath: '$.a[0:2]', Parameters: { 'x.$': '$..x', 'y.$': 'States.Array($.a[*])' }, ResultPath: '$.r[*]', OutputPath: '$.b[?(@.ok == true)]', Next: 'M' },
        M: { Type: 'Map', ItemsPath: '$..list', ItemSelector: { 'v.$': "$.v[?(@.k != 'x')]" }, ItemProcessor: { StartAt: 'I', States: { I: { Type: 'Pass', End: true } } }, Next: 'W' },
        W: { Type: 'Wait', SecondsPath: '$.s[0,1]', Next: 'C' },
        C: { Type: 'Choice', Choices: [{ Variable: '$.a.*', IsPresent: true, Next: 'T' }], Default: 'T' },
        T: { Type: 'Task', Resource: 'arn:aws:lambda:r:1:function:f', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$..e', Next: 'E' }], ResultSelector: { 'n.$': '$[?(@.a)]' }, End: true },
        E: { Type: 'Fail', ErrorPath: '$.e[*]' },
      },
    });
    const one = 'may select several values, and this field takes a path to one value (such as $.a.b or $.list[0])';
    expect(problems.map((p) => `${p.path}: ${p.message.replace(/; a payload template.*$/, '')}`)).toEqual([
      `States.P.ResultPath: "$.r[*]": [*] or .* (a wildcard) ${one}`,
      `States.M.ItemsPath: "$..list": .. (a deep scan) ${one}`,
      `States.W.SecondsPath: "$.s[0,1]": [n,m] (a list of indexes) ${one}`,
      `States.C.Choices[0].Variable: "$.a.*": [*] or .* (a wildcard) ${one}`,
      `States.T.Catch[0].ResultPath: "$..e": .. (a deep scan) ${one}`,
      `States.E.ErrorPath: "$.e[*]": [*] or .* (a wildcard) ${one}`,
    ]);
  });

  it('refuses what Step Functions does not support in a filter, and unsupported brackets, saying what and where', () => {
    const why = (path: string) => templateProblems({ 'v.$': path }, 'States.S.Parameters').map((p) => `${p.path}: ${p.message}`);
    expect(why('$.a[?(@.b == $.c)]')).toEqual(['States.S.Parameters.v.$: "$.a[?(@.b == $.c)]": a filter compares the element\'s fields (@.x) with values: a path from "$" in a filter is not supported (nor is it in Step Functions)']);
    expect(why('$.a[?(@.b =~ /x/)]')[0]).toContain('regular expressions (=~) are not supported in a filter');
    expect(why('$.a[?(@ > 1)]')[0]).toContain('"@" alone compares the element itself, which Step Functions does not do (it matches objects only): name a field, such as @.price');
    expect(why('$.a[?(@.b in [1])]')[0]).toContain('"in" is not supported in a filter (only ==, !=, <, <=, >, >=, &&, || and !)');
    expect(why('$.a[?(@.b.length() > 1)]')[0]).toContain('functions such as length() are not supported in a filter');
    expect(why('$.a.length()')[0]).toContain('functions such as length() are not supported');
    expect(why('$.a[?(@.b > 1)')[0]).toContain('"[" without "]"');
    expect(why('$.a[?(@.b > 1]')[0]).toContain('the filter has no closing ")"');
    expect(why("$.a[?(@.b == 'x)]")[0]).toContain("a string in the filter has no closing '");
    expect(why('$.a[?(@..b)]')[0]).toContain('a path in a filter names one value, such as @.a, @[\'a b\'] or @.list[0]: no wildcards or deep scans');
    expect(why('$.a[1:2:0]')[0]).toContain('"[1:2:0]": a slice\'s step must be 1 or more');
    expect(why('$.a[(@.length-1)]')[0]).toContain('script expressions such as [(@.length-1)] are not supported');
    expect(why('$.a[?(1)]')[0]).toContain('a value alone is no test: compare a field with it, such as @.x == 1 (in the filter, at position 8)');
    expect(why('$..')[0]).toContain('".." (deep scan) must be followed by a field name, * or [...]');
  });
});
