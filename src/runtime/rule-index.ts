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

  add(rule: R, pattern: EventPattern): void {
    // Validate the whole pattern, but only verify what the buckets do not already guarantee.
    compilePattern(pattern);
    const rest = residual(pattern);
    const test = rest === undefined ? always : compilePattern(rest);
    insert(this.#root, 0, pattern, { rule, test, order: this.#size++ });
  }

  /** Rules whose pattern matches `event`, in the order they were added. */
  match(event: Record<string, unknown>): R[] {
    const found: Array<Entry<R>> = [];
    const detail = event['detail'] as Record<string, unknown> | undefined;
    const keys = [event['source'], event['detail-type'], detail?.['workflow'], detail?.['step']];
    collect(this.#root, 0, keys, found);
    if (found.length > 1) byOrder(found);
    const out: R[] = [];
    let last = -1;
    for (const e of found) {
      // A rule pinned to several values sits in several buckets; an event array can reach two.
      if (e.order === last) continue;
      last = e.order;
      if (e.test(event)) out.push(e.rule);
    }
    return out;
  }

  get size(): number {
    return this.#size;
  }
}

const always = (): boolean => true;

/**
 * Sorts entries by the order their rules were added. An event reaches a few buckets: insertion
 * sort, which allocates nothing (Array.prototype.sort copies into a scratch array every call).
 */
function byOrder<R>(found: Array<Entry<R>>): void {
  if (found.length > 16) {
    found.sort((a, b) => a.order - b.order);
    return;
  }
  for (let i = 1; i < found.length; i++) {
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

function collect<R>(node: Node<R>, level: number, keys: unknown[], out: Array<Entry<R>>): void {
  if (level === INDEX_PATHS.length) {
    for (const e of node.rules) out.push(e);
    return;
  }
  const value = keys[level];
  if (typeof value === 'string') {
    const next = node.exact.get(value);
    if (next) collect(next, level + 1, keys, out);
  } else if (Array.isArray(value)) {
    // Event arrays match when any element matches.
    for (const v of new Set(value)) {
      const next = typeof v === 'string' ? node.exact.get(v) : undefined;
      if (next) collect(next, level + 1, keys, out);
    }
  }
  if (node.any) collect(node.any, level + 1, keys, out);
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
