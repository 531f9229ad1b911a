/**
 * A run's executions on a time line, and what they say about it: makespan, critical path and
 * the overhead between the two. Pure: the CLI gathers the executions (from the engine's state
 * dir or a trace file); this module only reads them.
 */
import { topoOrder } from '../compiler/graph.ts';

/** How an execution ended; `running` when it had not ended when the timeline was taken. */
export type ExecutionStatus = 'succeeded' | 'failed' | 'cancelled' | 'running';

/** One execution of a step: one attempt, of one forEach item where the step has items. A bar. */
export type Execution = {
  step: string;
  item?: number;
  attempt: number;
  /** Executor kind (function, process, simulate, batch, container). */
  kind: string;
  /** A finer grouping for colours: a trace task's category, or the step id of a run. */
  category: string;
  /** Where a placed (`auto`) step's attempt ran: lambda, batch-cpu or batch-gpu. */
  placement?: string;
  status: ExecutionStatus;
  /** Milliseconds, epoch or relative: only differences matter. */
  start: number;
  end: number;
  /** Milliseconds of it before the step's code began (a worker's start), when a run trace says. */
  initMs?: number;
};

/** Where the start times came from: measured, or computed from runtimes and dependencies. */
export type Schedule = 'measured' | 'ideal';

/** Everything a chart needs, whatever the source. */
export type Timeline = {
  title: string;
  workflow: string;
  runId?: string;
  /** The run's status, when the source knows it. */
  status?: string;
  /** Time zero: the run's start, or the first execution's start. */
  startedAt: number;
  /**
   * The run's end, when the source knows it (for a run still running, when the timeline was
   * taken); otherwise the last execution's end is used.
   */
  finishedAt?: number;
  /** The step DAG: each step with the steps it waits for (a forEach source included). */
  needs: Record<string, string[]>;
  /**
   * The forEach steps that run at most n items at once (`maxConcurrency`), with n: their item i
   * waited for item i - n to end (runtime/window.ts).
   */
  lanes?: Record<string, number>;
  /** Sorted by start (then end, step, item, attempt): the row order of the chart. */
  executions: Execution[];
  schedule: Schedule;
  /** Caveats worth printing next to the numbers (e.g. an ideal schedule). */
  notes: string[];
};

/** The numbers of a timeline. */
export type TimelineSummary = {
  /** From startedAt to the run's end (or the last execution's end). */
  makespanMs: number;
  /** Sum of the execution times along the critical path. */
  criticalPathMs: number;
  /** makespanMs - criticalPathMs: dispatch, queueing and waiting that no dependency explains. */
  overheadMs: number;
  /** Indexes into `executions`, first to last. */
  criticalPath: number[];
};

/** Sorts executions into chart order (a new array). */
export function sortExecutions(executions: readonly Execution[]): Execution[] {
  return [...executions].sort(
    (a, b) => a.start - b.start || a.end - b.end || (a.step < b.step ? -1 : a.step > b.step ? 1 : 0) || (a.item ?? -1) - (b.item ?? -1) || a.attempt - b.attempt,
  );
}

/** The end of a timeline: the run's end or the last execution's end, whichever is later. */
export function timelineEnd(t: Timeline): number {
  let end = t.finishedAt ?? t.startedAt;
  for (const e of t.executions) if (e.end > end) end = e.end;
  return end;
}

const unitOf = (e: Execution) => (e.item === undefined ? e.step : `${e.step}#${e.item}`);

/**
 * Makespan, critical path and overhead. The critical path is the chain of executions that decided
 * when the run ended: it ends with the execution that finished last (not counting those stopped
 * by the run's end, status `cancelled`) and walks back, at each
 * execution, to the one it waited for. A retry waited for the attempt it retries. A first attempt
 * waited for the needed execution that finished last by the time it started: among the last
 * attempt of every item of every step its step needs, and, for a needed step that has no
 * executions (a forEach over an empty array), the executions that step waited for in turn; the
 * first attempt of item i of a step with `lanes` n, also for the last attempt of its item i - n.
 */
export function summarizeTimeline(t: Timeline): TimelineSummary {
  const makespanMs = Math.max(0, timelineEnd(t) - t.startedAt);
  const execs = t.executions;
  if (execs.length === 0) return { makespanMs, criticalPathMs: 0, overheadMs: makespanMs, criticalPath: [] };

  // Attempts of each unit in attempt order, and the last attempt of each unit per step.
  const units = new Map<string, number[]>();
  execs.forEach((e, i) => push(units, unitOf(e), i));
  const finalsOf = new Map<string, number[]>();
  const attemptsOf = new Map<string, number[]>();
  const previous = new Map<number, number>();
  for (const list of units.values()) {
    list.sort((a, b) => execs[a]!.attempt - execs[b]!.attempt || execs[a]!.start - execs[b]!.start);
    for (let k = 1; k < list.length; k++) previous.set(list[k]!, list[k - 1]!);
    const step = execs[list[0]!]!.step;
    push(finalsOf, step, list[list.length - 1]!);
    push(attemptsOf, step, ...list);
  }

  // Steps in dependency order; a step the DAG does not know (or a cyclic one) goes last with no needs.
  const needs = new Map<string, string[]>();
  for (const [step, preds] of Object.entries(t.needs)) needs.set(step, preds.filter((p) => p !== step));
  for (const e of execs) if (!needs.has(e.step)) needs.set(e.step, []);
  const { order, cyclic } = topoOrder(needs);
  const broken = new Set(cyclic);

  // What each step's first attempts may have waited for: the final attempts of the steps it
  // needs; a needed step without executions passes on what it waited for itself.
  const waitedOn = new Map<string, readonly number[]>();
  const feeds = (step: string): readonly number[] => finalsOf.get(step) ?? waitedOn.get(step) ?? [];
  for (const step of order) {
    const preds = needs.get(step) ?? [];
    waitedOn.set(step, preds.length === 1 ? feeds(preds[0]!) : [...new Set(preds.flatMap(feeds))]);
  }

  /**
   * The time each execution's chain covers: the sum of its executions' times, less where one
   * starts before the chain's end so far (clocks that disagree, start times recorded to the
   * second): counted twice, that made a critical path longer than the makespan.
   */
  const longest = new Float64Array(execs.length);
  /** Where each chain ends: its latest end. */
  const reach = new Float64Array(execs.length);
  /** Executions before each on its chain: on equal ends and lengths, the longer chain is the one waited for. */
  const hops = new Int32Array(execs.length);
  const via = new Int32Array(execs.length).fill(-1);
  for (const step of [...order, ...cyclic]) {
    const candidates = broken.has(step) ? [] : (waitedOn.get(step) ?? []);
    // Each unit's attempts come in attempt order, so a retry finds its previous attempt done.
    const lanes = t.lanes?.[step];
    for (const i of attemptsOf.get(step) ?? []) {
      const e = execs[i]!;
      // An item held back by its lane waited for the item before it in the lane as well.
      const lane = lanes !== undefined && e.item !== undefined && e.item >= lanes ? units.get(`${step}#${e.item - lanes}`) : undefined;
      const before = previous.get(i) ?? waitedFor(execs, longest, hops, lane ? [...candidates, lane[lane.length - 1]!] : candidates, e.start);
      const from = before < 0 ? e.start : Math.max(e.start, reach[before]!);
      longest[i] = Math.max(0, e.end - from) + (before < 0 ? 0 : longest[before]!);
      reach[i] = before < 0 ? e.end : Math.max(e.end, reach[before]!);
      hops[i] = before < 0 ? 0 : hops[before]! + 1;
      via[i] = before;
    }
  }

  // The execution that finished last; among those ending in the same millisecond, the one with
  // the longest chain, then the one that started later: a step that took 0 ms ends with the
  // predecessor it waited for, and it, not that predecessor, ended the run.
  const depth = (i: number): number => hops[i]!;
  // An execution stopped because the run ended (a need a quorum left behind, a sibling of a
  // failure) did not end the run: it ends the critical path only when nothing else ran. In a run
  // that was cancelled, what the cancel stopped is what was running when it ended: it counts.
  const stopped = (i: number): boolean => t.status !== 'cancelled' && execs[i]!.status === 'cancelled';
  const ranOut = execs.every((_, i) => stopped(i));
  let last = ranOut ? 0 : execs.findIndex((_, i) => !stopped(i));
  for (let i = last + 1; i < execs.length; i++) {
    if (!ranOut && stopped(i)) continue;
    const e = execs[i]!;
    const l = execs[last]!;
    if (e.end !== l.end) {
      if (e.end > l.end) last = i;
    } else if (longest[i] !== longest[last]) {
      if (longest[i]! > longest[last]!) last = i;
    } else if (e.start !== l.start) {
      if (e.start > l.start) last = i;
    } else if (depth(i) > depth(last)) last = i;
  }
  const criticalPath: number[] = [];
  for (let i = last; i >= 0; i = via[i]!) criticalPath.push(i);
  criticalPath.reverse();
  const criticalPathMs = longest[last]!;
  return { makespanMs, criticalPathMs, overheadMs: makespanMs - criticalPathMs, criticalPath };
}

/**
 * Of `candidates`, the execution that finished last by `start` (on equal ends, the one with the
 * longer chain, in time, then in executions: a step that took 0 ms ends with what it waited for,
 * and was waited for after it). If clocks disagree and none had finished by then, the one that
 * finished first; -1 when there are no candidates.
 */
function waitedFor(execs: readonly Execution[], longest: Float64Array, hops: Int32Array, candidates: readonly number[], start: number): number {
  let best = -1;
  let early = -1;
  const later = (j: number, b: number): boolean =>
    execs[j]!.end !== execs[b]!.end ? execs[j]!.end > execs[b]!.end : longest[j] !== longest[b] ? longest[j]! > longest[b]! : hops[j]! > hops[b]!;
  for (const j of candidates) {
    const end = execs[j]!.end;
    if (end <= start) {
      if (best < 0 || later(j, best)) best = j;
    } else if (early < 0 || end < execs[early]!.end) early = j;
  }
  return best >= 0 ? best : early;
}

function push<K, V>(map: Map<K, V[]>, key: K, ...values: V[]): void {
  const list = map.get(key);
  if (list) list.push(...values);
  else map.set(key, values);
}
