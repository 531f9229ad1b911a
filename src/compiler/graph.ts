/** Graph facts about a DAG given as `step -> needs`. Pure; shared by the compiler and importers. */

/** Adjacency as the compiler sees it: every step with the steps it needs. */
export type Needs = ReadonlyMap<string, readonly string[]>;

/**
 * Kahn's algorithm in a deterministic order (ties broken by the order steps were given).
 * Returns the order, or the steps left over when there is a cycle.
 */
export function topoOrder(needs: Needs): { order: string[]; cyclic: string[] } {
  const indegree = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const [step, preds] of needs) {
    indegree.set(step, preds.filter((p) => needs.has(p)).length);
    for (const p of preds) {
      if (!needs.has(p)) continue;
      let list = children.get(p);
      if (!list) children.set(p, (list = []));
      list.push(step);
    }
  }
  const queue: string[] = [];
  for (const [step, d] of indegree) if (d === 0) queue.push(step);
  const order: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const step = queue[i]!;
    order.push(step);
    for (const c of children.get(step) ?? []) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0) queue.push(c);
    }
  }
  const cyclic = order.length === needs.size ? [] : [...needs.keys()].filter((s) => indegree.get(s)! > 0);
  return { order, cyclic };
}

/**
 * One cycle among `candidates` (the leftovers of topoOrder), as a path that returns to its start,
 * e.g. ["a", "b", "c", "a"]. Candidates with positive in-degree always contain a cycle.
 */
export function findCycle(needs: Needs, candidates: readonly string[]): string[] {
  const inSet = new Set(candidates);
  const start = candidates[0];
  if (start === undefined) return [];
  // Walk predecessors inside the leftover set: every leftover has one, so the walk must repeat.
  const seen = new Map<string, number>();
  const path: string[] = [];
  let cur = start;
  while (!seen.has(cur)) {
    seen.set(cur, path.length);
    path.push(cur);
    const next = (needs.get(cur) ?? []).find((p) => inSet.has(p));
    if (next === undefined) return path;
    cur = next;
  }
  const cycle = path.slice(seen.get(cur));
  // We walked against the edges; present it in dependency order (a needs b => b runs first).
  cycle.reverse();
  return [...cycle, cycle[0]!];
}

/** Steps nothing depends on. */
export function sinks(needs: Needs): string[] {
  const used = new Set<string>();
  for (const preds of needs.values()) for (const p of preds) used.add(p);
  return [...needs.keys()].filter((s) => !used.has(s));
}

/** Number of edges, levels (longest path in steps) and the critical path (largest sum of weights). */
export function dagStats(
  needs: Needs,
  weight: (step: string) => number,
  quorum: (step: string) => number | undefined = () => undefined,
): { edges: number; depth: number; criticalPath: number; criticalSteps: string[] } {
  const { order } = topoOrder(needs);
  const level = new Map<string, number>();
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  let edges = 0;
  let depth = 0;
  let best: string | undefined;
  let waitsForSome = false;
  for (const step of order) {
    let lv = 1;
    let start = 0;
    let from: string | undefined;
    const preds = (needs.get(step) ?? []).filter((p) => level.has(p));
    for (const p of preds) {
      edges++;
      lv = Math.max(lv, level.get(p)! + 1);
    }
    const k = quorum(step);
    if (k !== undefined) waitsForSome = true;
    if (k === undefined || k >= preds.length) {
      for (const p of preds) {
        const f = finish.get(p)!;
        if (from === undefined || f > start) {
          start = f;
          from = p;
        }
      }
    } else if (k > 0) {
      // A step waiting for k of its needs starts when the k-th of them finishes.
      from = preds.slice().sort((a, b) => finish.get(a)! - finish.get(b)!)[k - 1]!;
      start = finish.get(from)!;
    }
    level.set(step, lv);
    depth = Math.max(depth, lv);
    finish.set(step, start + weight(step));
    via.set(step, from);
    if (best === undefined || finish.get(step)! > finish.get(best)!) best = step;
  }
  if (waitsForSome) {
    // The run waits for its sinks only: a need left behind by a quorum may finish after them.
    best = undefined;
    for (const s of sinks(needs)) if (finish.has(s) && (best === undefined || finish.get(s)! > finish.get(best)!)) best = s;
  }
  const criticalSteps: string[] = [];
  for (let s = best; s !== undefined; s = via.get(s)) criticalSteps.unshift(s);
  return { edges, depth, criticalPath: best === undefined ? 0 : finish.get(best)!, criticalSteps };
}
