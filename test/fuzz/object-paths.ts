/** Paths into nested JS values, as the fuzz generators address them, and printable descriptions. */
import { setOwn } from './weird-values.ts';

type Def = Record<string, unknown>;
/** Keys from the root: strings for object fields, numbers for array elements. */
export type Path = ReadonlyArray<string | number>;

/** typeof, with null and arrays told apart. */
export function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Every node below the root (plain objects and arrays are walked, 8 levels at most). */
export function paths(def: Def): Path[] {
  const out: Path[] = [];
  const stack: Array<{ node: unknown; path: Path }> = [{ node: def, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (path.length > 0) out.push(path);
    if (path.length >= 8 || typeof node !== 'object' || node === null) continue;
    if (!Array.isArray(node) && Object.getPrototypeOf(node) !== Object.prototype) continue;
    for (const [k, v] of Object.entries(node)) stack.push({ node: v, path: [...path, Array.isArray(node) ? Number(k) : k] });
  }
  return out.length > 0 ? out : [['name']];
}

/** A plain object (not an array, class instance or null-prototype object). */
export function isPlain(v: unknown): v is Def {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** The value at `path`, or undefined where the path leaves objects. */
export function getAt(root: unknown, path: Path): unknown {
  let cur = root;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Sets the value at `path` (as an own property, even `__proto__`). */
export function setAt(root: Def, path: Path, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path.at(-1)!;
  if (typeof key === 'string') setOwn(parent as Def, key, value);
  else parent[key] = value;
}

/** Removes the value at `path` (array elements are spliced out). */
export function deleteAt(root: Def, path: Path): void {
  const parent = getAt(root, path.slice(0, -1));
  const key = path.at(-1)!;
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else delete (parent as Def)[String(key)];
}

/** A path as the compiler prints it: `steps.a.needs[0]`. */
export function fmt(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** A short, printable description of any value (huge strings and deep values are summarised). */
export function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `"${JSON.stringify(v.slice(0, 20)).slice(1, -1)}…" (${v.length} chars)` : JSON.stringify(v);
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'function' || typeof v === 'undefined' || typeof v === 'boolean' || v === null) return typeof v === 'function' ? 'function' : String(v);
  if (Array.isArray(v)) return `array(${v.length})`;
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  return `${proto?.constructor?.name ?? 'null-prototype'} {${Object.keys(v).slice(0, 3).map((k) => describe(k)).join(', ')}}`;
}
