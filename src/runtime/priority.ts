/**
 * Which ready task to start first when there are more ready tasks than free slots (or a burst of
 * process spawns): the one with the highest upward rank, as in HEFT list scheduling — its own
 * expected time plus the longest chain of expected times that depends on it. Tasks on the
 * critical path start before tasks with slack, so a concurrency limit costs the makespan least.
 */
import type { PlanStep, TriggerPlan } from '../model/plan.ts';

/**
 * A step's expected time in ms: a simulate step's duration, else `expectedSeconds` (from
 * `resources`, or the placement of an `auto` step), else 1 ms, so that unknown steps still
 * rank by how many steps follow them.
 */
export function expectedMs(step: PlanStep): number {
  if (step.executor.type === 'simulate') return Math.max(step.executor.durationMs, 1);
  const seconds = step.placement?.expectedSeconds ?? step.expectedSeconds;
  return seconds === undefined ? 1 : seconds * 1000;
}

/** The upward rank of every step of `plan` (ms). */
export function upwardRanks(plan: TriggerPlan): Map<string, number> {
  const children = new Map<string, string[]>();
  for (const [id, step] of Object.entries(plan.steps)) {
    for (const need of step.needs) {
      let list = children.get(need);
      if (!list) children.set(need, (list = []));
      list.push(id);
    }
  }
  const ranks = new Map<string, number>();
  // Iterative post-order (deep chains must not overflow the stack): a step's rank needs its
  // children's ranks first.
  for (const root of Object.keys(plan.steps)) {
    if (ranks.has(root)) continue;
    const stack: Array<[string, boolean]> = [[root, false]];
    while (stack.length > 0) {
      const [id, expanded] = stack.pop()!;
      if (ranks.has(id)) continue;
      const kids = children.get(id) ?? [];
      if (!expanded) {
        stack.push([id, true]);
        for (const k of kids) if (!ranks.has(k)) stack.push([k, false]);
        continue;
      }
      let longest = 0;
      for (const k of kids) longest = Math.max(longest, ranks.get(k) ?? 0);
      ranks.set(id, expectedMs(plan.steps[id]!) + longest);
    }
  }
  return ranks;
}
