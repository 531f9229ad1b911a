/** The timeline core: critical path, makespan and overhead on small DAGs with known answers. */
import { describe, expect, it } from 'vitest';
import { sortExecutions, summarizeTimeline, type Execution, type Timeline } from '../../src/timeline/timeline.ts';

type Bar = [step: string, start: number, end: number, extra?: { item?: number; attempt?: number; status?: Execution['status'] }];

function timeline(needs: Record<string, string[]>, bars: Bar[], run: { startedAt?: number; finishedAt?: number } = {}): Timeline {
  const executions = sortExecutions(
    bars.map(([step, start, end, x = {}]) => ({
      step,
      ...(x.item === undefined ? {} : { item: x.item }),
      attempt: x.attempt ?? 1,
      kind: 'simulate',
      category: step,
      status: x.status ?? 'succeeded',
      start,
      end,
    })),
  );
  return {
    title: 't',
    workflow: 'w',
    startedAt: run.startedAt ?? Math.min(...bars.map((b) => b[1])),
    ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
    needs,
    executions,
    schedule: 'measured',
    notes: [],
  };
}

/** The critical path as `step[item]#attempt` names. */
function pathOf(t: Timeline): string[] {
  return summarizeTimeline(t).criticalPath.map((i) => {
    const e = t.executions[i]!;
    return `${e.step}${e.item === undefined ? '' : `[${e.item}]`}#${e.attempt}`;
  });
}

describe('summarizeTimeline', () => {
  it('diamond: the longer branch is critical; overhead is the time no execution on it covers', () => {
    const t = timeline({ a: [], b: [], c: ['a', 'b'] }, [
      ['a', 2, 12],
      ['b', 2, 32],
      ['c', 35, 45],
    ], { startedAt: 0, finishedAt: 50 });
    const s = summarizeTimeline(t);
    expect(s.makespanMs).toBe(50);
    expect(s.criticalPathMs).toBe(40);
    expect(s.overheadMs).toBe(10);
    expect(pathOf(t)).toEqual(['b#1', 'c#1']);
  });

  it('chain: makespan = critical path when nothing waits', () => {
    const t = timeline({ a: [], b: ['a'], c: ['b'] }, [
      ['a', 0, 5],
      ['b', 5, 12],
      ['c', 12, 20],
    ]);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 20, criticalPathMs: 20, overheadMs: 0 });
    expect(pathOf(t)).toEqual(['a#1', 'b#1', 'c#1']);
  });

  it('the path ends at the execution that finished last, even when a longer chain ended earlier', () => {
    // a alone runs 100 ms; b -> c runs 5 + 15 ms but c finishes last (it waited for a free slot).
    const t = timeline({ a: [], b: [], c: ['b'] }, [
      ['a', 0, 100],
      ['b', 0, 5],
      ['c', 90, 105],
    ]);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 105, criticalPathMs: 20, overheadMs: 85 });
    expect(pathOf(t)).toEqual(['b#1', 'c#1']);
  });

  it('a last step that took 0 ms ends the path, not the predecessor it ended with', () => {
    // The fan-out of the CLI test: sum ran in under a millisecond after its slowest input.
    const t = timeline({ split: [], square: ['split'], sum: ['square'] }, [
      ['split', 0, 1],
      ['square', 1, 2, { item: 0 }],
      ['square', 1, 243, { item: 1 }],
      ['sum', 243, 243],
    ]);
    expect(pathOf(t)).toEqual(['split#1', 'square[1]#1', 'sum#1']);
    // Two 0 ms steps in the same millisecond: the later in the chain ends it.
    const zero = timeline({ a: [], b: ['a'] }, [
      ['a', 5, 5],
      ['b', 5, 5],
    ]);
    expect(pathOf(zero)).toEqual(['a#1', 'b#1']);
  });

  it('retries: each attempt is on the chain after the attempt it retries', () => {
    const t = timeline({ a: [], b: ['a'] }, [
      ['a', 0, 10, { attempt: 1, status: 'failed' }],
      ['a', 15, 25, { attempt: 2 }],
      ['b', 25, 30],
    ], { startedAt: 0, finishedAt: 30 });
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 30, criticalPathMs: 25, overheadMs: 5 });
    expect(pathOf(t)).toEqual(['a#1', 'a#2', 'b#1']);
  });

  it('forEach: the slowest item is on the path into the step after it', () => {
    const t = timeline({ p: [], s: ['p'], q: ['s'] }, [
      ['p', 0, 10],
      ['s', 10, 20, { item: 0 }],
      ['s', 10, 40, { item: 1 }],
      ['s', 11, 15, { item: 2 }],
      ['q', 40, 45],
    ]);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 45, criticalPathMs: 45, overheadMs: 0 });
    expect(pathOf(t)).toEqual(['p#1', 's[1]#1', 'q#1']);
  });

  it('a retried item depends on its own earlier attempt, not on its siblings', () => {
    const t = timeline({ p: [], s: ['p'] }, [
      ['p', 0, 10],
      ['s', 10, 50, { item: 0 }],
      ['s', 10, 12, { item: 1, attempt: 1, status: 'failed' }],
      ['s', 20, 60, { item: 1, attempt: 2 }],
    ]);
    expect(pathOf(t)).toEqual(['p#1', 's[1]#1', 's[1]#2']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 60, criticalPathMs: 52, overheadMs: 8 });
  });

  it('the run end counts toward the makespan, not toward the path', () => {
    const t = timeline({ a: [] }, [['a', 10, 20]], { startedAt: 0, finishedAt: 25 });
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 25, criticalPathMs: 10, overheadMs: 15 });
  });

  it('steps the DAG does not know count alone; no executions gives an empty path', () => {
    const t = timeline({}, [
      ['x', 0, 4],
      ['y', 1, 9],
    ]);
    expect(pathOf(t)).toEqual(['y#1']);
    expect(summarizeTimeline(timeline({}, [], { startedAt: 0, finishedAt: 7 }))).toEqual({ makespanMs: 7, criticalPathMs: 0, overheadMs: 7, criticalPath: [] });
  });

  it('sortExecutions orders by start, then end, step, item and attempt', () => {
    const t = timeline({}, [
      ['b', 5, 9],
      ['a', 5, 9, { item: 1 }],
      ['a', 5, 9, { item: 0 }],
      ['c', 1, 20],
      ['d', 5, 6],
    ]);
    expect(t.executions.map((e) => `${e.step}${e.item ?? ''}`)).toEqual(['c', 'd', 'a0', 'a1', 'b']);
  });
});
