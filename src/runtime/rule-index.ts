/**
 * Finds the rules (triggers) an event may match without testing every rule: rules are bucketed
 * by the exact values they require at a few selective paths (source, detail-type, detail.workflow,
 * detail.step); a rule that does not pin a path with exact strings sits in that level's wildcard
 * bucket. Candidates are then confirmed with the compiled pattern.
 */
import type { EventPattern } from '../model/plan.ts';
import { compilePattern } from '../model/pattern.ts';

const INDEX_PATHS: ReadonlyArray<readonly string[]> = [
  ['source'],
  ['detail-type'],
  ['detail', 'workflow'],
  ['detail', 'step'],
];

type Node<R> = { exact: Map<string, Node<R>>; any: Node<R> | undefined; rules: Array<Entry<R>> };
type Entry<R> = { rule: R; test: (event: unknown) => boolean; order: number };

/** An index of rules of type R, each with its pattern. */
export class RuleIndex<R> {
  readonly #root: Node<R> = newNode();
  #size = 0;
  readonly #keys: unknown[] = [undefined, undefined, undefined, undefined];
  readonly #found: Array<Entry<R>> = [];

  add(rule: R, pattern: EventPattern): void {
    // Validate the whole pattern, but only verify what the buckets do not already guarantee.
    compilePattern(pattern);
    const rest = residual(pattern);
    const test = rest === undefined ? always : fastTest(rest, compilePattern(rest));
    insert(this.#root, 0, pattern, { rule, test, order: this.#size++ });
  }

  /**
   * Rules whose pattern matches `event`, in the order they were added. Once per event on the
   * engine's hot path: the keys and candidates go through scratch arrays kept by the index (the
   * tests it calls are compiled patterns, which never call back into it), and an event that
   * matches nothing gets the shared empty array.
   */
  match(event: Record<string, unknown>): readonly R[] {
    const found = this.#found;
    const keys = this.#keys;
    const detail = event['detail'] as Record<string, unknown> | undefined;
    keys[0] = event['source'];
    keys[1] = event['detail-type'];
    keys[2] = detail?.['workflow'];
    keys[3] = detail?.['step'];
    // The candidates are counted rather than the array emptied: V8 frees an array's storage
    // when its length is set to 0, and it would grow again at every event.
    const n = collect(this.#root, 0, keys, found, 0);
    keys[0] = keys[1] = keys[2] = keys[3] = undefined;
    if (n === 0) return NONE as readonly R[];
    if (n > 1) byOrder(found, n);
    let out: R[] | undefined;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const e = found[i]!;
      // A rule pinned to several values sits in several buckets; an event array can reach two.
      if (e.order === last) continue;
      last = e.order;
      if (!e.test(event)) continue;
      // Most events match one rule: an array of one, not a push's room for 16.
      if (out === undefined) out = [e.rule];
      else out.push(e.rule);
    }
    return out ?? (NONE as readonly R[]);
  }

  get size(): number {
    return this.#size;
  }
}

const always = (): boolean => true;

/**
 * The residual test of a step's own trigger: `{detail: {item: [{exists: false}]}}` (a step
 * without items hears its needs' Step Completed, not their items'). Once per candidate of every
 * step event, so its common answers are given directly: no `item` in the detail matches, a leaf
 * `item` (a number) does not; anything else goes to the compiled pattern, which decides.
 */
function fastTest(rest: EventPattern, compiled: (event: unknown) => boolean): (event: unknown) => boolean {
  if (JSON.stringify(rest) !== '{"detail":{"item":[{"exists":false}]}}') return compiled;
  return (event) => {
    const d = (event as { detail?: unknown }).detail;
    if (typeof d === 'object' && d !== null && !Array.isArray(d) && Object.hasOwn(event as object, 'detail')) {
      if (!Object.hasOwn(d, 'item')) return true;
      const v = (d as { item?: unknown }).item;
      if (v !== undefined && (typeof v !== 'object' || v === null)) return false;
    }
    return compiled(event);
  };
}
const NONE: readonly never[] = Object.freeze([]);

/**
 * Sorts the first `n` entries by the order their rules were added. An event reaches a few
 * buckets: insertion sort, which allocates nothing (Array.prototype.sort copies into a scratch
 * array every call).
 */
function byOrder<R>(found: Array<Entry<R>>, n: number): void {
  if (n > 16) {
    const sorted = found.slice(0, n).sort((a, b) => a.order - b.order);
    for (let i = 0; i < n; i++) found[i] = sorted[i]!;
    return;
  }
  for (let i = 1; i < n; i++) {
    const e = found[i]!;
    let j = i - 1;
    while (j >= 0 && found[j]!.order > e.order) {
      found[j + 1] = found[j]!;
      j--;
    }
    found[j + 1] = e;
  }
}

/**
 * The pattern without the paths the index pins with exact strings: reaching a rule's bucket
 * already proves those fields match (an event array matches if any element does, as in
 * EventBridge, and only string values are looked up, as only strings equal string literals).
 */
function residual(pattern: EventPattern): EventPattern | undefined {
  const copy = structuredClone(pattern) as Record<string, unknown>;
  for (const p of INDEX_PATHS) {
    if (exactStrings(pattern, p) === undefined) continue;
    let node = copy;
    for (const k of p.slice(0, -1)) node = node[k] as Record<string, unknown>;
    delete node[p.at(-1)!];
  }
  return prune(copy) as EventPattern | undefined;
}

function prune(node: unknown): unknown {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    const p = prune(v);
    if (p !== undefined) out[k] = p;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function insert<R>(node: Node<R>, level: number, pattern: EventPattern, entry: Entry<R>): void {
  if (level === INDEX_PATHS.length) {
    node.rules.push(entry);
    return;
  }
  const values = exactStrings(pattern, INDEX_PATHS[level]!);
  if (values === undefined) insert((node.any ??= newNode<R>()), level + 1, pattern, entry);
  else for (const v of new Set(values)) insert(child(node, v), level + 1, pattern, entry);
}

/** Writes the candidates for `keys` into `out` from index `n` on; returns the new count. */
function collect<R>(node: Node<R>, level: number, keys: unknown[], out: Array<Entry<R>>, n: number): number {
  if (level === INDEX_PATHS.length) {
    const rules = node.rules;
    for (let i = 0; i < rules.length; i++) out[n++] = rules[i]!;
    return n;
  }
  const value = keys[level];
  if (typeof value === 'string') {
    const next = node.exact.get(value);
    if (next) n = collect(next, level + 1, keys, out, n);
  } else if (Array.isArray(value)) {
    // Event arrays match when any element matches.
    for (const v of new Set(value)) {
      const next = typeof v === 'string' ? node.exact.get(v) : undefined;
      if (next) n = collect(next, level + 1, keys, out, n);
    }
  }
  if (node.any) n = collect(node.any, level + 1, keys, out, n);
  return n;
}

function exactStrings(pattern: EventPattern, path: readonly string[]): string[] | undefined {
  const leaf = valueAt(pattern, path);
  if (!Array.isArray(leaf) || leaf.length === 0) return undefined;
  return leaf.every((v) => typeof v === 'string') ? (leaf as string[]) : undefined;
}

function valueAt(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function child<R>(node: Node<R>, value: string): Node<R> {
  let next = node.exact.get(value);
  if (!next) node.exact.set(value, (next = newNode()));
  return next;
}

function newNode<R>(): Node<R> {
  return { exact: new Map(), any: undefined, rules: [] };
}
