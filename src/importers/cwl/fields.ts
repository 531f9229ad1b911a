/**
 * Reading the pieces CWL documents share: id maps (map or list form), types, input bindings,
 * literal strings. Every reader reports what it cannot take, with its position, and goes on.
 */
import { hasReference, interpolateLiteral } from './escapes.ts';
import type { CwlSource, DocPath, Problems } from './source.ts';
import { CWL_BASE_TYPES, type CommandBinding, type CwlBase, type CwlType } from './spec.ts';

/** A plain JSON object. */
export type Json = Record<string, unknown>;

/** Whether `v` is a plain object. */
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a reader needs: the document, the problems, and the path of the thing it reads. */
export type Ctx = { src: CwlSource; problems: Problems };

/** An entry of an id map, normalized: `{id: X}` map entries and `[{id, ...}]` list entries alike. */
export type Entry = { id: string; path: DocPath; body: Json };

/** CWL parameter references and expressions: `$(...)` and `${...}`. */
export function hasExpression(value: string): boolean {
  return /\$[({]/.test(value);
}

/**
 * Checks an object's fields: `known` ones are read by the caller, `refused` ones are reported
 * with their reason, namespaced extension fields (`s:author`) are metadata without effect on a
 * run and pass, and anything else is reported as outside the subset.
 */
export function checkFields(ctx: Ctx, path: DocPath, body: Json, what: string, known: readonly string[], refused: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(body)) {
    if (known.includes(key)) continue;
    const reason = Object.hasOwn(refused, key) ? refused[key] : undefined;
    if (reason !== undefined) ctx.problems.refuse(ctx.src, [...path, key], `${what} field "${key}"`, reason);
    else if (/^[A-Za-z][\w.-]*:/.test(key) && !key.startsWith('$')) continue;
    else ctx.problems.refuse(ctx.src, [...path, key], `${what} field "${key}"`, `joinflow reads only ${known.map((k) => `"${k}"`).join(', ')} here`);
  }
}

/**
 * Normalizes an id map: `{a: X, b: {...}}` or `[{id: a, ...}, ...]`. A map entry whose value is
 * not an object is shorthand for `{[predicate]: value}` (CWL's mapPredicate).
 */
export function readIdMap(ctx: Ctx, path: DocPath, raw: unknown, what: string, predicate?: string): Entry[] {
  if (raw === undefined || raw === null) return [];
  const out: Entry[] = [];
  const seen = new Set<string>();
  const push = (id: string, entryPath: DocPath, body: Json): void => {
    if (seen.has(id)) ctx.problems.add(ctx.src.at(entryPath), `duplicate ${what} id "${id}"`);
    seen.add(id);
    out.push({ id, path: entryPath, body });
  };
  if (Array.isArray(raw)) {
    raw.forEach((item: unknown, i) => {
      const p = [...path, i];
      if (typeof item === 'string' && predicate === undefined) {
        push(shortId(item), p, {});
        return;
      }
      if (!isObject(item) || typeof item['id'] !== 'string' || item['id'] === '') {
        ctx.problems.add(ctx.src.at(p), `each ${what} in a list needs a string "id"`);
        return;
      }
      push(shortId(item['id']), p, item);
    });
    return out;
  }
  if (!isObject(raw)) {
    ctx.problems.add(ctx.src.at(path), `${what}s must be a map of ids or a list, got ${kindOf(raw)}`);
    return out;
  }
  for (const [id, value] of Object.entries(raw)) {
    const p = [...path, id];
    if (isObject(value)) push(id, p, value);
    else if (predicate !== undefined) push(id, p, { [predicate]: value });
    else ctx.problems.add(ctx.src.at(p), `${what} "${id}" must be an object, got ${kindOf(value)}`);
  }
  return out;
}

/** `#main/x` and `file.cwl#x` name `x`: ids are local to their document here. */
export function shortId(id: string): string {
  const hash = id.lastIndexOf('#');
  const local = hash >= 0 ? id.slice(hash + 1) : id;
  return local.slice(local.lastIndexOf('/') + 1);
}

/**
 * A string field that CWL reads as an Expression (arguments, valueFrom, stdout/stderr, glob,
 * envValue, format): the escapes `\$(`, `\${` and `\\` are resolved as CWL's string
 * interpolation says (see escapes.ts), and a parameter reference or expression left is refused
 * (the subset evaluates none).
 */
export function expressionString(ctx: Ctx, path: DocPath, raw: unknown, what: string): string | undefined {
  if (typeof raw !== 'string') {
    ctx.problems.add(ctx.src.at(path), `${what} must be a string, got ${kindOf(raw)}`);
    return undefined;
  }
  const read = interpolateLiteral(raw, versionOf(ctx));
  if ('reference' in read) {
    ctx.problems.refuse(ctx.src, path, `the expression in ${what} (${JSON.stringify(raw)})`, 'parameter references and JavaScript expressions are not evaluated: use a literal value, and write \\$( for a literal $(');
    return undefined;
  }
  return noNul(ctx, path, read.text, what);
}

/** The cwlVersion of the document being read (an inline tool's is its workflow's). */
export function versionOf(ctx: Ctx): unknown {
  return isObject(ctx.src.value) ? ctx.src.value['cwlVersion'] : undefined;
}

/**
 * A literal string field that CWL does not interpolate but that names things (scatter, source):
 * `$(` and `${` in it are refused as they would be an expression's.
 */
export function literalString(ctx: Ctx, path: DocPath, raw: unknown, what: string): string | undefined {
  if (typeof raw !== 'string') {
    ctx.problems.add(ctx.src.at(path), `${what} must be a string, got ${kindOf(raw)}`);
    return undefined;
  }
  if (hasExpression(raw)) {
    ctx.problems.refuse(ctx.src, path, `the expression in ${what} (${JSON.stringify(raw)})`, 'parameter references and JavaScript expressions are not evaluated: use a literal value');
    return undefined;
  }
  return noNul(ctx, path, raw, what);
}

/** `raw` unless it holds a NUL character, which the OS takes nowhere (arguments, names, variables are C strings). */
function noNul(ctx: Ctx, path: DocPath, raw: string, what: string): string | undefined {
  if (!raw.includes('\0')) return raw;
  ctx.problems.add(ctx.src.at(path), `${what} holds a NUL character, which no command-line argument, file name or environment variable can hold`);
  return undefined;
}

/**
 * A plain string field that CWL does not read as an Expression (`baseCommand`, `prefix`,
 * `itemSeparator`, `dockerPull`): `$(` and `${` in it are literal text, passed as they are.
 */
export function plainString(ctx: Ctx, path: DocPath, raw: unknown, what: string): string | undefined {
  if (typeof raw === 'string') return noNul(ctx, path, raw, what);
  ctx.problems.add(ctx.src.at(path), `${what} must be a string, got ${kindOf(raw)}`);
  return undefined;
}

/** A whole number field (positions, exit codes, limits). */
export function integer(ctx: Ctx, path: DocPath, raw: unknown, what: string): number | undefined {
  if (typeof raw === 'string' && hasReference(raw, versionOf(ctx))) {
    ctx.problems.refuse(ctx.src, path, `the expression in ${what}`, 'expressions are not evaluated: use a number');
    return undefined;
  }
  if (typeof raw !== 'number' || !Number.isInteger(raw)) {
    ctx.problems.add(ctx.src.at(path), `${what} must be a whole number, got ${kindOf(raw)}`);
    return undefined;
  }
  return raw;
}

/** The special output types `stdout` and `stderr` (CommandLineTool outputs only). */
export type StreamType = 'stdout' | 'stderr';

/**
 * A CWL type: `File`, `string[]`, `int?`, `["null", X]`, `{type: array, items: X}`. `Directory`,
 * records, enums, unions and `Any` are refused. `streams` admits `stdout`/`stderr`.
 */
export function readType(ctx: Ctx, path: DocPath, raw: unknown, streams = false): CwlType | StreamType | undefined {
  if (typeof raw === 'string') {
    if (streams && (raw === 'stdout' || raw === 'stderr')) return raw;
    const m = /^([A-Za-z]+)((?:\[\])*)(\?)?$/.exec(raw);
    const base = m?.[1];
    if (!m || base === undefined) {
      ctx.problems.add(ctx.src.at(path), `unknown type "${raw}"`);
      return undefined;
    }
    if (!(CWL_BASE_TYPES as readonly string[]).includes(base)) return refuseType(ctx, path, base);
    return { base: base as CwlBase, depth: m[2]!.length / 2, optional: m[3] === '?' };
  }
  if (Array.isArray(raw)) {
    // `[null, X]` (a YAML null) is read like `["null", X]`.
    const others = raw.map((t, i) => [t, i] as const).filter(([t]) => t !== 'null' && t !== null);
    const only = others[0];
    if (others.length !== 1 || only === undefined) {
      ctx.problems.refuse(ctx.src, path, `the union type ${JSON.stringify(raw)}`, 'only the optional form ["null", X] is');
      return undefined;
    }
    const inner = readType(ctx, [...path, only[1]], only[0]);
    if (inner === undefined || typeof inner === 'string') return inner;
    return raw.length > 1 ? { ...inner, optional: true } : inner;
  }
  if (isObject(raw)) {
    if (raw['type'] === undefined) {
      ctx.problems.add(ctx.src.at(path), 'a type object needs a "type" (array here)');
      return undefined;
    }
    if (raw['type'] !== 'array') {
      ctx.problems.refuse(ctx.src, [...path, 'type'], `the type ${JSON.stringify(raw['type'])}`, 'records, enums and maps are not; use File, string, int, long, float, double, boolean or arrays of them');
      return undefined;
    }
    checkFields(ctx, path, raw, 'array type', ['type', 'items', 'inputBinding', 'label', 'doc', 'name']);
    const items = readType(ctx, [...path, 'items'], raw['items']);
    if (items === undefined || typeof items === 'string') return undefined;
    if (items.optional) {
      ctx.problems.refuse(ctx.src, [...path, 'items'], 'an array of optional items', 'array items cannot be null');
      return undefined;
    }
    const itemBinding = raw['inputBinding'] === undefined ? undefined : readBinding(ctx, [...path, 'inputBinding'], raw['inputBinding']);
    return { ...items, depth: items.depth + 1, ...(itemBinding ? { itemBinding } : {}) };
  }
  ctx.problems.add(ctx.src.at(path), `a type must be a string, a list or an object, got ${kindOf(raw)}`);
  return undefined;
}

function refuseType(ctx: Ctx, path: DocPath, base: string): undefined {
  const why = base === 'Directory' ? 'pass files one by one as File or File[]' : 'use File, string, int, long, float, double, boolean or arrays of them';
  ctx.problems.refuse(ctx.src, path, `the type ${base}`, why);
  return undefined;
}

/**
 * An inputBinding: position, prefix, separate, itemSeparator; valueFrom and the rest are refused.
 * `prefix` and `itemSeparator` are plain strings in CWL, never expressions.
 */
export function readBinding(ctx: Ctx, path: DocPath, raw: unknown): CommandBinding | undefined {
  if (!isObject(raw)) {
    ctx.problems.add(ctx.src.at(path), `inputBinding must be an object, got ${kindOf(raw)}`);
    return undefined;
  }
  checkFields(ctx, path, raw, 'inputBinding', ['position', 'prefix', 'separate', 'itemSeparator'], {
    valueFrom: 'values are bound as given; valueFrom needs expressions',
    shellQuote: 'commands run without a shell (ShellCommandRequirement is not supported)',
    loadContents: 'file contents are not loaded into inputs',
  });
  const binding: CommandBinding = { position: 0, separate: true };
  if (raw['position'] !== undefined) binding.position = integer(ctx, [...path, 'position'], raw['position'], 'position') ?? 0;
  if (raw['prefix'] !== undefined) {
    const prefix = plainString(ctx, [...path, 'prefix'], raw['prefix'], 'prefix');
    if (prefix !== undefined) binding.prefix = prefix;
  }
  if (raw['separate'] !== undefined) {
    if (typeof raw['separate'] === 'boolean') binding.separate = raw['separate'];
    else ctx.problems.add(ctx.src.at([...path, 'separate']), `separate must be true or false, got ${kindOf(raw['separate'])}`);
  }
  if (raw['itemSeparator'] !== undefined) {
    const sep = plainString(ctx, [...path, 'itemSeparator'], raw['itemSeparator'], 'itemSeparator');
    if (sep !== undefined) binding.itemSeparator = sep;
  }
  return binding;
}

/** A short description of a value for messages. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
