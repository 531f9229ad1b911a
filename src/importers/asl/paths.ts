/**
 * Amazon States Language data flow (JSONPath mode): reference paths (`$.a.b[0]`, `$$.Map.Item.Value`),
 * ResultPath, payload templates (`"key.$": "$.path"` in Parameters, ResultSelector, ItemSelector)
 * and calls of the intrinsic functions (intrinsics.ts). Pure: used by the importer to check a machine and by `joinflow/asl`
 * to run it.
 */
import { INTRINSICS } from './intrinsics.ts';
import { child, parseJsonPath, selectStep, stepText, type JsonPath, type Step } from './jsonpath.ts';
import { isBlank } from './quoted.ts';
import { describe, StatesError } from './states-error.ts';

export { StatesError } from './states-error.ts';

type Segment = string | number;
/** A parsed reference path: `$` (the state's data) or `$$` (the context object) and its segments. */
export type RefPath = { root: '$' | '$$'; segments: Segment[] };

// Machines hold few paths, each evaluated at every visit of its state: each is parsed once.
const parsed = new Map<string, JsonPath>();
function parsedPath(text: string): JsonPath {
  let p = parsed.get(text);
  if (p === undefined) {
    p = parseJsonPath(text);
    if (parsed.size >= 1000) parsed.clear();
    parsed.set(text, p);
  }
  return p;
}

const segmentsOf = (steps: Step[]): Segment[] => steps.map((s) => (s.kind === 'name' ? s.name : (s as { index: number }).index));

/**
 * Parses a reference path, which names one value (`$.a.b`, `$['a b']`, `$.list[0]`): the paths of
 * ResultPath, ItemsPath, SecondsPath, a Choice's Variable... Throws an Error saying what is not supported.
 */
export function parsePath(text: string): RefPath {
  const p = parsedPath(text);
  const multi = p.steps[p.firstMulti];
  if (multi !== undefined) {
    throw new Error(`"${text}": ${stepText(multi)} may select several values, and this field takes a path to one value (such as $.a.b or $.list[0]); a payload template's "key.$" fields (Parameters, ResultSelector, ItemSelector), InputPath and OutputPath take such paths`);
  }
  return { root: p.root, segments: segmentsOf(p.steps) };
}

/**
 * Whether `text` is a reference path (or, with `intrinsic`, an intrinsic function; with `several`,
 * a path that may select several values, as InputPath and OutputPath may) this module can evaluate.
 */
export function pathProblem(text: unknown, intrinsic = false, several = false): string | undefined {
  if (typeof text !== 'string') return `must be a path string such as "$.field"${intrinsic ? ' or an intrinsic function' : ''}`;
  try {
    if (intrinsic && text.startsWith('States.')) parseCall(text);
    else if (several) parsedPath(text);
    else parsePath(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const nothing = (path: string, root: '$' | '$$') => new StatesError('States.Runtime', `the path "${path}" matches nothing in ${root === '$' ? 'the input' : 'the context object'}`);

/** The value at reference path `path` in `data` (or in `context` for `$$`); a missing field is a States.Runtime error. */
export function getPath(path: string, data: unknown, context: unknown): unknown {
  const { root, segments } = parsePath(path);
  let value = root === '$' ? data : context;
  for (const s of segments) {
    const next = child(value, typeof s === 'number' ? { kind: 'index', index: s } : { kind: 'name', name: s });
    if (next === undefined) throw nothing(path, root);
    value = next;
  }
  return value;
}

/**
 * What `path` selects, as a payload template, InputPath and OutputPath read it: a path to one value
 * gives the value; a path that may select several (`$.items[*].id`, `$..price`, `$.a[0:2]`,
 * `$.items[?(@.price > 10)]`) gives the list of what it selects, maybe empty, as Step Functions
 * does. The part before the first such step must match (else States.Runtime); after it, a value
 * without the field is left out.
 */
export function selectPath(path: string, data: unknown, context: unknown): unknown {
  const { root, steps, firstMulti } = parsedPath(path);
  let value = root === '$' ? data : context;
  for (let k = 0; k < firstMulti; k++) {
    value = child(value, steps[k] as Parameters<typeof child>[1]);
    if (value === undefined) throw nothing(path, root);
  }
  if (firstMulti === steps.length) return value;
  let values = [value];
  for (let k = firstMulti; k < steps.length; k++) values = values.flatMap((v) => selectStep(steps[k]!, v));
  return values;
}

/** Whether `path` matches something (for Choice's IsPresent). */
export function hasPath(path: string, data: unknown, context: unknown): boolean {
  try {
    getPath(path, data, context);
    return true;
  } catch (error) {
    if (error instanceof StatesError) return false;
    throw error;
  }
}

/** ResultPath: `result` placed at `path` in a copy of `input` (`$`: the result alone; null: the input unchanged; no place: States.ResultPathMatchFailure, catchable). */
export function setPath(path: string | null, input: unknown, result: unknown): unknown {
  if (path === null) return input;
  const { root, segments } = parsePath(path);
  if (root === '$$') throw new StatesError('States.Runtime', `ResultPath "${path}" cannot write to the context object`);
  if (segments.length === 0) return result;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new StatesError('States.ResultPathMatchFailure', `ResultPath "${path}" needs an object input to write into, not ${describe(input)}`);
  }
  const out = { ...(input as Record<string, unknown>) };
  let at: Record<string, unknown> = out;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (typeof s === 'number') throw new StatesError('States.ResultPathMatchFailure', `ResultPath "${path}" cannot index an array`);
    if (i === segments.length - 1) {
      at[s] = result;
      break;
    }
    const inner = at[s];
    if (inner !== undefined && (inner === null || typeof inner !== 'object' || Array.isArray(inner))) {
      throw new StatesError('States.ResultPathMatchFailure', `ResultPath "${path}": "${s}" is ${describe(inner)}, not an object`);
    }
    at = at[s] = { ...((inner as Record<string, unknown> | undefined) ?? {}) };
  }
  return out;
}

/** A payload template (Parameters, ResultSelector, ItemSelector) with its `.$` fields evaluated. */
export function applyTemplate(template: unknown, data: unknown, context: unknown): unknown {
  if (Array.isArray(template)) return template.map((t) => applyTemplate(t, data, context));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$') && typeof value === 'string') out[key.slice(0, -2)] = evalExpression(value, data, context);
    else out[key] = applyTemplate(value, data, context);
  }
  return out;
}

/** Problems of a template: each `.$` field must be a path or an intrinsic function this module knows. */
export function templateProblems(template: unknown, at: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const walk = (t: unknown, where: string): void => {
    if (Array.isArray(t)) return t.forEach((x, i) => walk(x, `${where}[${i}]`));
    if (t === null || typeof t !== 'object') return;
    for (const [key, value] of Object.entries(t)) {
      const p = `${where}.${key}`;
      if (!key.endsWith('.$')) {
        walk(value, p);
        continue;
      }
      if (typeof value !== 'string') {
        out.push({ path: p, message: 'a field whose name ends in ".$" must hold a path or an intrinsic function, as a string' });
        continue;
      }
      try {
        if (value.startsWith('States.')) parseCall(value);
        else parsedPath(value);
      } catch (error) {
        out.push({ path: p, message: (error as Error).message });
      }
    }
  };
  walk(template, at);
  return out;
}

/** A path's value, or an intrinsic function's (a Fail state's ErrorPath and CausePath take either). */
export function evalExpression(text: string, data: unknown, context: unknown): unknown {
  return text.startsWith('States.') ? evalCall(parseCall(text), data, context) : selectPath(text, data, context);
}

/** `raw`: a string literal as written, but for its quotes, with the escapes `\{`, `\}` and `\\` kept (States.Format's placeholders). */
type Arg = { lit: unknown; raw?: string } | { path: string } | { call: Call };
type Call = { name: string; args: Arg[] };

/** Parses `States.Name(arg, ...)`: arguments are 'strings', numbers, true/false/null, paths or calls. */
export function parseCall(text: string): Call {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`"${text}": ${why} (at position ${i + 1})`);
  };
  // JSON's whitespace: a machine written with tabs or across lines reads as one written with spaces.
  const space = () => {
    while (isBlank(text[i])) i++;
  };
  const call = (): Call => {
    const m = /^States\.[A-Za-z0-9]+/.exec(text.slice(i));
    if (!m) return fail('expected an intrinsic function such as States.Format(...)');
    const name = m[0].slice('States.'.length);
    if (!Object.hasOwn(INTRINSICS, name)) fail(`States.${name} is not an intrinsic function (known: ${Object.keys(INTRINSICS).map((n) => `States.${n}`).join(', ')})`);
    i += m[0].length;
    if (text[i] !== '(') fail('expected "("');
    i++;
    const args: Arg[] = [];
    space();
    if (text[i] === ')') {
      i++;
      return { name, args };
    }
    for (;;) {
      space();
      args.push(arg());
      space();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ')') {
        i++;
        return { name, args };
      }
      fail('expected "," or ")"');
    }
  };
  const arg = (): Arg => {
    const c = text[i];
    if (c === "'") {
      let s = '';
      let raw = '';
      i++;
      while (i < text.length && text[i] !== "'") {
        // An escape: the character after it. Format's placeholders keep theirs in `raw`.
        if (text[i] === '\\') {
          const next = text[++i] ?? '';
          if (!["'", '{', '}', '\\'].includes(next)) fail(`"\\${next}" is not an escape: write \\\\ for a backslash (\\', \\{ and \\} escape a quote and braces)`);
          if (next !== "'") raw += '\\';
        }
        s += text[i] ?? '';
        raw += text[i] ?? '';
        i++;
      }
      if (text[i] !== "'") fail('a string is not closed');
      i++;
      return { lit: s, raw };
    }
    if (c === '$') {
      // The path ends at the first ",", ")" or blank outside its brackets and the quoted names
      // in them ($['a,b'], $.items[?(@.tag == ')')]).
      let j = i;
      for (let depth = 0; j < text.length; j++) {
        const ch = text[j]!;
        if (depth > 0 && (ch === "'" || ch === '"')) {
          while (++j < text.length && text[j] !== ch) if (text[j] === '\\') j++;
        } else if (ch === '[') depth++;
        else if (ch === ']') depth--;
        else if (depth === 0 && (ch === ',' || ch === ')' || isBlank(ch))) break;
      }
      const p = text.slice(i, j);
      parsedPath(p);
      i = j;
      return { path: p };
    }
    if (text.startsWith('States.', i)) return { call: call() };
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    // A character that does not show (a no-break space) is named by its code point.
    const shown = c === undefined ? 'the end' : /^[\x21-\x7e]$/.test(c) ? `"${c}"` : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    if (!m) return fail(`expected a string, a number, true, false, null, a path or an intrinsic function, not ${shown}`);
    i += m[0].length;
    return { lit: JSON.parse(m[0]) as unknown };
  };
  const out = call();
  space();
  if (i !== text.length) fail('unexpected text after the function');
  return out;
}

function evalCall(c: Call, data: unknown, context: unknown): unknown {
  const args = c.args.map((a) => ('lit' in a ? a.lit : 'path' in a ? selectPath(a.path, data, context) : evalCall(a.call, data, context)));
  // A template written in the call keeps its escaped braces: \{\} is a literal {}, not a placeholder.
  const first = c.args[0];
  if (c.name === 'Format' && first !== undefined && 'raw' in first) args[0] = first.raw;
  return INTRINSICS[c.name]!(args);
}
