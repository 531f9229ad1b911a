/**
 * Finds the rules (triggers) an event may match without testing every rule: rules are bucketed
 * by the exact values they require at a few selective paths (source, detail-type, detail.workflow,
 * detail.step); a rule that does not pin a path with exact strings sits in that level's wildcard
 * bucket. Candidates are then confirmed with the compiled pattern.
 */
import type { EventPattern } from '../model/plan.ts';
import { compilePattern } from './pattern.ts';

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
    insert(this.#root, 0, pattern, { rule, test: compilePattern(pattern), order: this.#size++ });
  }

  /** Rules whose pattern matches `event`, in the order they were added. */
  match(event: Record<string, unknown>): R[] {
    const found: Array<Entry<R>> = [];
    collect(this.#root, 0, event, found);
    if (found.length > 1) found.sort((a, b) => a.order - b.order);
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

function insert<R>(node: Node<R>, level: number, pattern: EventPattern, entry: Entry<R>): void {
  if (level === INDEX_PATHS.length) {
    node.rules.push(entry);
    return;
  }
  const values = exactStrings(pattern, INDEX_PATHS[level]!);
  if (values === undefined) insert((node.any ??= newNode<R>()), level + 1, pattern, entry);
  else for (const v of new Set(values)) insert(child(node, v), level + 1, pattern, entry);
}

function collect<R>(node: Node<R>, level: number, event: Record<string, unknown>, out: Array<Entry<R>>): void {
  if (level === INDEX_PATHS.length) {
    for (const e of node.rules) out.push(e);
    return;
  }
  const value = valueAt(event, INDEX_PATHS[level]!);
  if (typeof value === 'string') {
    const next = node.exact.get(value);
    if (next) collect(next, level + 1, event, out);
  } else if (Array.isArray(value)) {
    // Event arrays match when any element matches.
    for (const v of new Set(value)) {
      const next = typeof v === 'string' ? node.exact.get(v) : undefined;
      if (next) collect(next, level + 1, event, out);
    }
  }
  if (node.any) collect(node.any, level + 1, event, out);
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
