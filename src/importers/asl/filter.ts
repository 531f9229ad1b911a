/**
 * JsonPath filters, `[?(@.price > 10 && @.kind == 'book')]`: each element's fields compared with
 * `==`, `!=`, `<`, `<=`, `>`, `>=` against numbers, strings, true, false and null, or tested for
 * presence (`@.isbn`), joined by `&&`, `||`, `!` and parentheses. Comparisons follow RFC 9535: a
 * missing field equals nothing but another missing field, `<` compares two numbers or two strings
 * and is false otherwise. As Step Functions documents, `@` matches objects only (not scalars), and
 * functions, regular expressions, lexical operators (`in`, `subsetof`) and `$` in a filter are not
 * supported. Pure.
 */
import { isBlank, readQuoted } from './quoted.ts';

/** A compiled filter: whether an element is selected. */
export type Filter = (element: unknown) => boolean;

type Segment = { name: string } | { index: number };
type Operand = { path: Segment[] } | { value: unknown };
const CMP = ['==', '!=', '<=', '>=', '<', '>'] as const;
type Cmp = (typeof CMP)[number];

function at(v: unknown, path: Segment[]): unknown {
  for (const s of path) {
    if ('index' in s) {
      if (!Array.isArray(v)) return undefined;
      v = v[s.index < 0 ? v.length + s.index : s.index];
    } else {
      v = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, s.name) ? (v as Record<string, unknown>)[s.name] : undefined;
    }
    if (v === undefined) return undefined;
  }
  return v;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const less = (a: unknown, b: unknown): boolean =>
  (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string') ? (a as number) < (b as number) : false;

function compare(op: Cmp, a: unknown, b: unknown): boolean {
  switch (op) {
    case '==': return equal(a, b);
    case '!=': return !equal(a, b);
    case '<': return less(a, b);
    case '<=': return less(a, b) || equal(a, b);
    case '>': return less(b, a);
    case '>=': return less(b, a) || equal(a, b);
  }
}

const isContainer = (v: unknown): boolean => v !== null && typeof v === 'object';

/**
 * Parses the filter at `text[start]` (its "(", after "[?") up to its closing ")"; `fail` says what
 * is wrong. Returns the filter and the index after its ")".
 */
export function parseFilter(text: string, start: number, fail: (why: string) => never): { filter: Filter; end: number } {
  let i = start;
  const blanks = () => {
    while (isBlank(text[i])) i++;
  };
  const where = () => `in the filter, at position ${i + 1}`;
  const relative = (): Segment[] => {
    const path: Segment[] = [];
    for (;;) {
      if (text[i] === '.' && text[i + 1] !== '.' && text[i + 1] !== '*' && text[i + 1] !== '[') {
        const m = /^[^\s.[\]()!=<>&|,'"]+/.exec(text.slice(i + 1));
        if (!m) fail(`a "." must be followed by a field name ${where()}`);
        if (text[i + 1 + m![0].length] === '(') fail(`functions such as ${m![0]}() are not supported in a filter (nor are they in Step Functions)`);
        path.push({ name: m![0] });
        i += 1 + m![0].length;
      } else if (text[i] === '[') {
        i++;
        blanks();
        if (text[i] === "'" || text[i] === '"') {
          const q = readQuoted(text, i, fail);
          path.push({ name: q.value });
          i = q.end;
        } else {
          const m = /^-?\d+/.exec(text.slice(i));
          if (!m) fail(`a path in a filter names one value, such as @.a, @['a b'] or @.list[0] (${where()})`);
          path.push({ index: Number(m![0]) });
          i += m![0].length;
        }
        blanks();
        if (text[i] !== ']') fail(`"]" expected ${where()}`);
        i++;
      } else if (text[i] === '.') {
        fail(`a path in a filter names one value, such as @.a, @['a b'] or @.list[0]: no wildcards or deep scans (${where()})`);
      } else {
        return path;
      }
    }
  };
  const operand = (): Operand => {
    blanks();
    const c = text[i];
    if (c === '@') {
      i++;
      const path = relative();
      if (path.length === 0) fail('"@" alone compares the element itself, which Step Functions does not do (it matches objects only): name a field, such as @.price');
      return { path };
    }
    if (c === '$') fail('a filter compares the element\'s fields (@.x) with values: a path from "$" in a filter is not supported (nor is it in Step Functions)');
    if (c === "'" || c === '"') {
      const q = readQuoted(text, i, fail, 'a string in the filter');
      i = q.end;
      return { value: q.value };
    }
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)(?![\w.])/.exec(text.slice(i));
    if (m) {
      i += m[0].length;
      return { value: JSON.parse(m[0]) as unknown };
    }
    const word = /^\w+/.exec(text.slice(i))?.[0];
    if (word !== undefined) fail(`"${word}" is not supported in a filter: compare @.field with a number, a string, true, false or null`);
    return fail(`expected @.field, a number, a string, true, false or null ${where()}`);
  };
  const test = (): Filter => {
    const a = operand();
    blanks();
    if (text.startsWith('=~', i)) fail('regular expressions (=~) are not supported in a filter (nor are they in Step Functions)');
    const op = CMP.find((o) => text.startsWith(o, i));
    if (op === undefined) {
      if (!('path' in a)) fail(`a value alone is no test: compare a field with it, such as @.x == 1 (${where()})`);
      const word = /^\w+/.exec(text.slice(i))?.[0];
      if (word !== undefined) fail(`"${word}" is not supported in a filter (only ==, !=, <, <=, >, >=, &&, || and !)`);
      return (e) => isContainer(e) && at(e, (a as { path: Segment[] }).path) !== undefined;
    }
    i += op.length;
    const b = operand();
    const get = (o: Operand) => ('path' in o ? (e: unknown) => at(e, o.path) : () => o.value);
    const [ga, gb] = [get(a), get(b)];
    return (e) => isContainer(e) && compare(op, ga(e), gb(e));
  };
  const unary = (): Filter => {
    blanks();
    if (text[i] === '!' && text[i + 1] !== '=') {
      i++;
      const f = unary();
      return (e) => isContainer(e) && !f(e);
    }
    if (text[i] === '(') {
      i++;
      const f = or();
      blanks();
      if (text[i] !== ')') fail(`")" expected ${where()}`);
      i++;
      return f;
    }
    return test();
  };
  const and = (): Filter => {
    let f = unary();
    for (blanks(); text.startsWith('&&', i); blanks()) {
      i += 2;
      const [l, r] = [f, unary()];
      f = (e) => l(e) && r(e);
    }
    return f;
  };
  const or = (): Filter => {
    let f = and();
    for (blanks(); text.startsWith('||', i); blanks()) {
      i += 2;
      const [l, r] = [f, and()];
      f = (e) => l(e) || r(e);
    }
    return f;
  };
  if (text[i] !== '(') fail('a filter is written [?(...)]');
  i++;
  const filter = or();
  blanks();
  if (text[i] !== ')') fail(i >= text.length || text[i] === ']' ? 'the filter has no closing ")"' : `unexpected "${text[i]}" ${where()}`);
  return { filter, end: i + 1 };
}
