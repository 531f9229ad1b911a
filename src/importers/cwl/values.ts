/** CWL values against their types: checks and the File objects inside them. Pure. */
import { fileURLToPath } from 'node:url';
import { typeName, type CwlType } from './spec.ts';

/**
 * `obj[key]` when `obj` has `key` as its own property, else undefined: keys named by users
 * (inputs, outputs, steps, classes) such as `constructor` or `toString` must not read
 * Object.prototype's functions.
 */
export function own(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null && Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** An empty map keyed by users' names: without a prototype, `__proto__` is a key like any other. */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Whether `v` is a CWL File object (`{class: "File", path | location}`). */
export function isFile(v: unknown): v is { class: 'File'; path?: unknown; location?: unknown } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { class?: unknown }).class === 'File';
}

/**
 * Why `value` does not have type `type`, or undefined when it does. null fits optional types only;
 * ints fit float types. Files need a `path` or `location` string.
 */
export function typeMismatch(value: unknown, type: CwlType): string | undefined {
  if (value === null || value === undefined) return type.optional ? undefined : `expected ${typeName(type)}, got null`;
  return mismatchAt(value, type.base, type.depth);
}

function mismatchAt(value: unknown, base: CwlType['base'], depth: number): string | undefined {
  const expected = typeName({ base, depth, optional: false });
  if (depth > 0) {
    if (!Array.isArray(value)) return `expected ${expected}, got ${describe(value)}`;
    for (let i = 0; i < value.length; i++) {
      const inner = mismatchAt(value[i], base, depth - 1);
      if (inner !== undefined) return `item ${i}: ${inner}`;
    }
    return undefined;
  }
  const ok = (() => {
    switch (base) {
      case 'File':
        return isFile(value) && (typeof value.path === 'string' || typeof value.location === 'string');
      case 'string':
        return typeof value === 'string';
      case 'int':
      case 'long':
        return typeof value === 'number' && Number.isInteger(value);
      case 'float':
      case 'double':
        return typeof value === 'number' && Number.isFinite(value);
      case 'boolean':
        return typeof value === 'boolean';
    }
  })();
  if (ok && (base === 'int' || base === 'long') && !Number.isSafeInteger(value)) {
    // Read as a double, a larger number has already lost digits: refuse rather than pass another number.
    return `${base} ${String(value)} is beyond ±(2^53-1): it cannot be passed exactly`;
  }
  return ok ? undefined : `expected ${expected}, got ${describe(value)}`;
}

/**
 * The local path a File names, or undefined when it names none: `path` as it is; `location` as
 * the IRI CWL makes it (a relative reference is %-decoded: `a%20b.txt` is "a b.txt"); `file://`
 * URLs in either converted. Throws an Error saying why for other schemes and bad escapes.
 */
export function localPathOf(f: { path?: unknown; location?: unknown }): string | undefined {
  const isPath = typeof f.path === 'string';
  const where = isPath ? (f.path as string) : typeof f.location === 'string' ? f.location : undefined;
  if (where === undefined) return undefined;
  if (/^file:\/\//i.test(where)) return fileURLToPath(where);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) throw new Error(`only local files are supported, got ${where}`);
  if (isPath) return where;
  try {
    return decodeURIComponent(where);
  } catch {
    throw new Error(`location ${JSON.stringify(where)} has a malformed %-escape (write "%25" for a literal "%")`);
  }
}

/** Replaces every File inside a value (of any depth) by `fn(file)`. */
export function mapFiles(value: unknown, fn: (file: { class: 'File'; path?: unknown; location?: unknown }) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v: unknown) => mapFiles(v, fn));
  return isFile(value) ? fn(value) : value;
}

/** Whether a value of type `from` can flow into an input of type `to` (numbers widen; null needs an optional `to` or a default). */
export function assignable(from: CwlType, to: CwlType): boolean {
  if (from.depth !== to.depth) return false;
  if (from.base === to.base) return true;
  const family = (b: CwlType['base']): string => (b === 'long' ? 'int' : b === 'double' ? 'float' : b);
  const f = family(from.base);
  const t = family(to.base);
  return f === t || (f === 'int' && t === 'float');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isFile(value)) return 'a File without a path or location';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}
