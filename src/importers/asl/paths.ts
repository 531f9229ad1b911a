/**
 * Amazon States Language data flow (JSONPath mode): reference paths (`$.a.b[0]`, `$$.Map.Item.Value`),
 * ResultPath, payload templates (`"key.$": "$.path"` in Parameters, ResultSelector, ItemSelector)
 * and the intrinsic functions. Pure: used by the importer to check a machine and by `joinflow/asl`
 * to run it.
 */
import { createHash, randomUUID } from 'node:crypto';

/** An error raised while a state runs, with the ASL error name (`States.Runtime`, ...). */
export class StatesError extends Error {
  readonly error: string;
  readonly detail: string;
  constructor(error: string, cause: string) {
    super(cause === '' ? error : `${error}: ${cause}`);
    this.error = error;
    this.detail = cause;
  }
}

type Segment = string | number;
/** A parsed reference path: `$` (the state's data) or `$$` (the context object) and its segments. */
export type RefPath = { root: '$' | '$$'; segments: Segment[] };

/** Parses a reference path; throws an Error saying what is not supported. */
export function parsePath(text: string): RefPath {
  const root = text.startsWith('$$') ? '$$' : text.startsWith('$') ? '$' : undefined;
  if (root === undefined) throw new Error(`"${text}" is not a path: it must start with "$"`);
  const segments: Segment[] = [];
  let i = root.length;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '.') {
      if (text[i + 1] === '.') throw new Error(`"${text}": ".." (deep scan) is not supported; name each field`);
      let j = i + 1;
      while (j < text.length && text[j] !== '.' && text[j] !== '[') j++;
      const name = text.slice(i + 1, j);
      if (name === '') throw new Error(`"${text}": a "." must be followed by a field name`);
      if (name === '*') throw new Error(`"${text}": wildcards are not supported; name each field`);
      segments.push(name);
      i = j;
    } else if (c === '[') {
      const close = text.indexOf(']', i);
      if (close < 0) throw new Error(`"${text}": "[" without "]"`);
      const inner = text.slice(i + 1, close).trim();
      const quoted = /^'(.*)'$/.exec(inner) ?? /^"(.*)"$/.exec(inner);
      if (quoted) segments.push(quoted[1]!);
      else if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else throw new Error(`"${text}": "[${inner}]" is not supported (only [n] and ['name']: no wildcards, filters or slices)`);
      i = close + 1;
    } else {
      throw new Error(`"${text}": unexpected "${c}" at position ${i + 1}`);
    }
  }
  return { root, segments };
}

/** Whether `text` is a reference path (or, with `intrinsic`, an intrinsic function) this module can evaluate. */
export function pathProblem(text: unknown, intrinsic = false): string | undefined {
  if (typeof text !== 'string') return `must be a path string such as "$.field"${intrinsic ? ' or an intrinsic function' : ''}`;
  try {
    if (intrinsic && text.startsWith('States.')) parseCall(text);
    else parsePath(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The value at `path` in `data` (or in `context` for `$$`); a missing field is a States.Runtime error. */
export function getPath(path: string, data: unknown, context: unknown): unknown {
  const { root, segments } = parsePath(path);
  let value = root === '$' ? data : context;
  for (const s of segments) {
    const next = typeof s === 'number'
      ? (Array.isArray(value) && s < value.length ? value[s] : undefined)
      : (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, s) ? (value as Record<string, unknown>)[s] : undefined);
    if (next === undefined) throw new StatesError('States.Runtime', `the path "${path}" matches nothing in ${root === '$' ? 'the input' : 'the context object'}`);
    value = next;
  }
  return value;
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
        else parsePath(value);
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
  return text.startsWith('States.') ? evalCall(parseCall(text), data, context) : getPath(text, data, context);
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
  const space = () => {
    while (text[i] === ' ') i++;
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
        if (text[i] === '\\' && ['{', '}', '\\'].includes(text[++i] ?? '')) raw += '\\';
        s += text[i] ?? '';
        raw += text[i] ?? '';
        i++;
      }
      if (text[i] !== "'") fail('a string is not closed');
      i++;
      return { lit: s, raw };
    }
    if (c === '$') {
      let j = i;
      while (j < text.length && text[j] !== ',' && text[j] !== ')') j++;
      const p = text.slice(i, j).trim();
      parsePath(p);
      i = j;
      return { path: p };
    }
    if (text.startsWith('States.', i)) return { call: call() };
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) return fail('expected a string, a number, true, false, null, a path or an intrinsic function');
    i += m[0].length;
    return { lit: JSON.parse(m[0]) as unknown };
  };
  const out = call();
  space();
  if (i !== text.length) fail('unexpected text after the function');
  return out;
}

function evalCall(c: Call, data: unknown, context: unknown): unknown {
  const args = c.args.map((a) => ('lit' in a ? a.lit : 'path' in a ? getPath(a.path, data, context) : evalCall(a.call, data, context)));
  // A template written in the call keeps its escaped braces: \{\} is a literal {}, not a placeholder.
  const first = c.args[0];
  if (c.name === 'Format' && first !== undefined && 'raw' in first) args[0] = first.raw;
  return INTRINSICS[c.name]!(args);
}

const arity = (name: string, args: unknown[], n: number) => {
  if (args.length !== n) throw new StatesError('States.IntrinsicFailure', `States.${name} takes ${n} argument${n === 1 ? '' : 's'}, not ${args.length}`);
};
const want = <T>(name: string, v: unknown, ok: (v: unknown) => v is T, what: string): T => {
  if (!ok(v)) throw new StatesError('States.IntrinsicFailure', `States.${name}: expected ${what}, got ${describe(v)}`);
  return v;
};
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const HASHES: Record<string, string> = { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** The intrinsic functions of ASL's JSONPath mode, by name without `States.`. */
const INTRINSICS: Record<string, (args: unknown[]) => unknown> = {
  Format(args) {
    const template = want('Format', args[0], isStr, 'a template string');
    let k = 1;
    const out = template.replace(/\\([{}\\'])|\{\}/g, (m, escaped: string | undefined) => {
      if (escaped !== undefined) return escaped;
      if (k >= args.length) throw new StatesError('States.IntrinsicFailure', 'States.Format: more {} than arguments');
      const v = args[k++];
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
    if (k !== args.length) throw new StatesError('States.IntrinsicFailure', 'States.Format: more arguments than {}');
    return out;
  },
  StringToJson(args) {
    arity('StringToJson', args, 1);
    try {
      return JSON.parse(want('StringToJson', args[0], isStr, 'a string')) as unknown;
    } catch (error) {
      if (error instanceof StatesError) throw error;
      throw new StatesError('States.IntrinsicFailure', `States.StringToJson: not JSON: ${(error as Error).message}`);
    }
  },
  JsonToString(args) {
    arity('JsonToString', args, 1);
    return JSON.stringify(args[0]);
  },
  Array: (args) => args,
  ArrayPartition(args) {
    arity('ArrayPartition', args, 2);
    const a = want('ArrayPartition', args[0], isArr, 'an array');
    const n = want('ArrayPartition', args[1], isInt, 'a chunk size');
    if (n < 1) throw new StatesError('States.IntrinsicFailure', 'States.ArrayPartition: the chunk size must be at least 1');
    const out: unknown[][] = [];
    for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
    return out;
  },
  ArrayContains(args) {
    arity('ArrayContains', args, 2);
    const want_ = JSON.stringify(args[1]);
    return want('ArrayContains', args[0], isArr, 'an array').some((x) => JSON.stringify(x) === want_);
  },
  ArrayRange(args) {
    arity('ArrayRange', args, 3);
    const [a, b, step] = args.map((v) => want('ArrayRange', v, isInt, 'whole numbers'));
    if (step === 0) throw new StatesError('States.IntrinsicFailure', 'States.ArrayRange: the step cannot be 0');
    const out: number[] = [];
    for (let x = a!; step! > 0 ? x <= b! : x >= b!; x += step!) {
      out.push(x);
      if (out.length > 1000) throw new StatesError('States.IntrinsicFailure', 'States.ArrayRange: more than 1,000 elements');
    }
    return out;
  },
  ArrayGetItem(args) {
    arity('ArrayGetItem', args, 2);
    const a = want('ArrayGetItem', args[0], isArr, 'an array');
    const i = want('ArrayGetItem', args[1], isInt, 'an index');
    if (i < 0 || i >= a.length) throw new StatesError('States.IntrinsicFailure', `States.ArrayGetItem: index ${i} is out of bounds (length ${a.length})`);
    return a[i];
  },
  ArrayLength(args) {
    arity('ArrayLength', args, 1);
    return want('ArrayLength', args[0], isArr, 'an array').length;
  },
  ArrayUnique(args) {
    arity('ArrayUnique', args, 1);
    const seen = new Set<string>();
    return want('ArrayUnique', args[0], isArr, 'an array').filter((x) => {
      const k = JSON.stringify(x);
      return seen.has(k) ? false : (seen.add(k), true);
    });
  },
  Base64Encode(args) {
    arity('Base64Encode', args, 1);
    return Buffer.from(want('Base64Encode', args[0], isStr, 'a string'), 'utf8').toString('base64');
  },
  Base64Decode(args) {
    arity('Base64Decode', args, 1);
    const text = want('Base64Decode', args[0], isStr, 'a base64 string');
    // Buffer.from skips what is not base64 without a word: the text is checked first.
    const base64 = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 !== 1 && (!text.includes('=') || text.length % 4 === 0);
    if (!base64) throw new StatesError('States.IntrinsicFailure', `States.Base64Decode: ${describe(text)} is not base64`);
    return Buffer.from(text, 'base64').toString('utf8');
  },
  Hash(args) {
    arity('Hash', args, 2);
    const algorithm = want('Hash', args[1], isStr, 'an algorithm name');
    const node = HASHES[algorithm];
    if (node === undefined) throw new StatesError('States.IntrinsicFailure', `States.Hash: unknown algorithm "${algorithm}" (${Object.keys(HASHES).join(', ')})`);
    const v = args[0];
    return createHash(node).update(typeof v === 'string' ? v : JSON.stringify(v)).digest('hex');
  },
  JsonMerge(args) {
    arity('JsonMerge', args, 3);
    if (args[2] !== false) throw new StatesError('States.IntrinsicFailure', 'States.JsonMerge: only a shallow merge (false) is supported, as in Step Functions');
    return { ...want('JsonMerge', args[0], isObj, 'an object'), ...want('JsonMerge', args[1], isObj, 'an object') };
  },
  MathRandom(args) {
    if (args.length < 2 || args.length > 3) throw new StatesError('States.IntrinsicFailure', 'States.MathRandom takes 2 or 3 arguments');
    const lo = want('MathRandom', args[0], isInt, 'a whole number');
    const hi = want('MathRandom', args[1], isInt, 'a whole number');
    return lo + Math.floor(Math.random() * (hi - lo));
  },
  MathAdd(args) {
    arity('MathAdd', args, 2);
    return want('MathAdd', args[0], isNum, 'a number') + want('MathAdd', args[1], isNum, 'a number');
  },
  StringSplit(args) {
    arity('StringSplit', args, 2);
    const s = want('StringSplit', args[0], isStr, 'a string');
    const chars = [...want('StringSplit', args[1], isStr, 'delimiter characters')];
    const out: string[] = [];
    let cur = '';
    for (const ch of s) {
      if (chars.includes(ch)) {
        if (cur !== '') out.push(cur);
        cur = '';
      } else cur += ch;
    }
    if (cur !== '') out.push(cur);
    return out;
  },
  UUID(args) {
    arity('UUID', args, 0);
    return randomUUID();
  },
};

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v) ?? String(v);
  return `${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v} ${json.length > 60 ? `${json.slice(0, 57)}...` : json}`;
}
