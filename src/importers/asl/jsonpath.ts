/**
 * ASL's JsonPath (JSONPath mode), parsed: names (`.a`, `['a b']`), indexes (`[0]`, `[-1]`), and the
 * steps that may select several values, which only a payload template, InputPath and OutputPath
 * take: wildcards (`.*`, `[*]`), deep scan (`..name`), slices (`[1:3]`), index lists (`[0,2]`) and
 * filters (`[?(@.price > 10 && @.kind == 'book')]`, filter.ts). Pure.
 */
import { parseFilter, type Filter } from './filter.ts';
import { isBlank, readQuoted } from './quoted.ts';

/** A step of a path. Only `name` and `index` select at most one value. */
export type Step =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'indexes'; indexes: number[] }
  | { kind: 'wildcard' }
  | { kind: 'slice'; start?: number; end?: number; step: number }
  | { kind: 'filter'; filter: Filter }
  | { kind: 'deep'; step: Step };

/** A parsed path: `$` (the data) or `$$` (the context object), its steps, and where the first step that may select several values is (`steps.length` if none). */
export type JsonPath = { root: '$' | '$$'; steps: Step[]; firstMulti: number };

const INTEGER = /^-?\d+$/;

/** Parses a path; throws an Error saying what is wrong or not supported, and where. */
export function parseJsonPath(text: string): JsonPath {
  const root = text.startsWith('$$') ? '$$' : text.startsWith('$') ? '$' : undefined;
  if (root === undefined) throw new Error(`"${text}" is not a path: it must start with "$"`);
  const fail = (why: string): never => {
    throw new Error(`"${text}": ${why}`);
  };
  const steps: Step[] = [];
  let i = root.length;
  // A dotted name runs to the next "." or "["; a call such as length() is JsonPath's, not ASL's.
  const dotted = (): Step => {
    let j = i;
    while (j < text.length && text[j] !== '.' && text[j] !== '[') j++;
    const name = text.slice(i, j);
    if (name === '') fail('a "." must be followed by a field name');
    if (/^\w+\(.*\)$/.test(name)) fail(`functions such as ${name} are not supported (nor are they in Step Functions)`);
    i = j;
    return name === '*' ? { kind: 'wildcard' } : { kind: 'name', name };
  };
  const bracket = (): Step => {
    const open = i;
    i++;
    const blanks = () => {
      while (isBlank(text[i])) i++;
    };
    const close = (step: Step): Step => {
      blanks();
      if (text[i] !== ']') fail(i >= text.length ? '"[" without "]"' : `"${text.slice(open, text.indexOf(']', i) + 1 || undefined)}" is not supported (only [n], [-n], ['name'], [*], [a:b], [n,m] and [?(...)])`);
      i++;
      return step;
    };
    blanks();
    const c = text[i];
    if (c === "'" || c === '"') {
      const { value, end } = readQuoted(text, i, fail);
      i = end;
      blanks();
      if (text[i] === ',') fail(`"${text.slice(open, text.indexOf(']', i) + 1 || undefined)}" names several fields, which is not supported: select each field in its own path`);
      return close({ kind: 'name', name: value });
    }
    if (c === '*') {
      i++;
      return close({ kind: 'wildcard' });
    }
    if (c === '?') {
      i++;
      const { filter, end } = parseFilter(text, i, fail);
      i = end;
      return close({ kind: 'filter', filter });
    }
    if (c === '(') fail('script expressions such as [(@.length-1)] are not supported (nor are they in Step Functions); use [-1] for the last element');
    let j = i;
    while (j < text.length && text[j] !== ']') j++;
    if (j >= text.length) fail('"[" without "]"');
    const inner = text.slice(i, j).trim();
    const parts = inner.split(':').map((s) => s.trim());
    if (parts.length === 2 || parts.length === 3) {
      if (!parts.every((s) => s === '' || INTEGER.test(s))) fail(`"[${inner}]": a slice's start, end and step must be whole numbers`);
      const step = parts[2] === undefined || parts[2] === '' ? 1 : Number(parts[2]);
      if (step < 1) fail(`"[${inner}]": a slice's step must be 1 or more`);
      i = j;
      return close({ kind: 'slice', start: parts[0] === '' ? undefined : Number(parts[0]), end: parts[1] === '' ? undefined : Number(parts[1]), step });
    }
    const list = inner.split(',').map((s) => s.trim());
    if (!list.every((s) => INTEGER.test(s))) fail(`"[${inner}]" is not supported (only [n], [-n], ['name'], [*], [a:b], [n,m] and [?(...)])`);
    i = j;
    return close(list.length === 1 ? { kind: 'index', index: Number(list[0]) } : { kind: 'indexes', indexes: list.map(Number) });
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '.' && text[i + 1] === '.') {
      i += 2;
      if (i >= text.length) fail('".." (deep scan) must be followed by a field name, * or [...]');
      steps.push({ kind: 'deep', step: text[i] === '[' ? bracket() : dotted() });
    } else if (c === '.') {
      i++;
      // "$.abc.['def ghi']": the form the Step Functions guide shows for a name that needs brackets.
      steps.push(text[i] === '[' ? bracket() : dotted());
    } else if (c === '[') {
      steps.push(bracket());
    } else {
      fail(`unexpected "${c}" at position ${i + 1}`);
    }
  }
  const multi = steps.findIndex((s) => s.kind !== 'name' && s.kind !== 'index');
  return { root, steps, firstMulti: multi < 0 ? steps.length : multi };
}

/** How a step that may select several values is written, for messages. */
export function stepText(step: Step): string {
  switch (step.kind) {
    case 'wildcard': return '[*] or .* (a wildcard)';
    case 'deep': return '.. (a deep scan)';
    case 'slice': return '[a:b] (a slice)';
    case 'indexes': return '[n,m] (a list of indexes)';
    case 'filter': return '[?(...)] (a filter)';
    default: return step.kind === 'name' ? step.name : `[${step.index}]`;
  }
}

/** The value a name or index selects in `value`, or undefined. */
export function child(value: unknown, step: { kind: 'name'; name: string } | { kind: 'index'; index: number }): unknown {
  if (step.kind === 'index') {
    if (!Array.isArray(value)) return undefined;
    const k = step.index < 0 ? value.length + step.index : step.index;
    return k >= 0 && k < value.length ? value[k] : undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, step.name) ? (value as Record<string, unknown>)[step.name] : undefined;
}

const members = (v: unknown): unknown[] =>
  Array.isArray(v) ? v : v !== null && typeof v === 'object' ? Object.values(v) : [];

/** The value and every value inside it, each before the ones inside it (a deep scan's order). */
function descendants(v: unknown, out: unknown[]): unknown[] {
  out.push(v);
  for (const m of members(v)) descendants(m, out);
  return out;
}

/** What `step` selects in `value`, in document order; nothing where a field, an index or a match is missing. */
export function selectStep(step: Step, value: unknown): unknown[] {
  switch (step.kind) {
    case 'name':
    case 'index': {
      const v = child(value, step);
      return v === undefined ? [] : [v];
    }
    case 'indexes':
      return step.indexes.flatMap((index) => selectStep({ kind: 'index', index }, value));
    case 'wildcard':
      return members(value);
    case 'slice': {
      if (!Array.isArray(value)) return [];
      const n = value.length;
      const bound = (x: number | undefined, dflt: number) => (x === undefined ? dflt : Math.min(n, Math.max(0, x < 0 ? n + x : x)));
      const out: unknown[] = [];
      for (let k = bound(step.start, 0); k < bound(step.end, n); k += step.step) out.push(value[k]);
      return out;
    }
    case 'filter':
      return members(value).filter((m) => step.filter(m));
    case 'deep':
      return descendants(value, []).flatMap((d) => selectStep(step.step, d));
  }
}
