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
  it('wait any: the need a quorum left behind, stopped at the run\'s end, is not what ended the run', () => {
    // pick waited for the first of fast and slow; slow was stopped (cancelled) when the run ended.
    const t = timeline({ fast: [], slow: [], pick: ['fast', 'slow'] }, [
      ['fast', 0, 10],
      ['slow', 0, 31, { status: 'cancelled' }],
      ['pick', 11, 30],
    ], { startedAt: 0, finishedAt: 31 });
    expect(pathOf(t)).toEqual(['fast#1', 'pick#1']);
    expect(summarizeTimeline(t).criticalPathMs).toBe(29);
    // Only stopped executions: the last of them still closes the path.
    expect(pathOf(timeline({ a: [] }, [['a', 0, 5, { status: 'cancelled' }]]))).toEqual(['a#1']);
  });

  it('a cancelled run: what the cancel stopped was running when the run ended, and closes the path', () => {
    const t = timeline({ a: [], long: ['a'], short: ['a'] }, [
      ['a', 0, 300],
      ['short', 301, 400],
      ['long', 301, 1640, { status: 'cancelled' }],
    ], { startedAt: 0, finishedAt: 1645 });
    expect(pathOf({ ...t, status: 'cancelled' })).toEqual(['a#1', 'long#1']);
    expect(summarizeTimeline({ ...t, status: 'cancelled' }).overheadMs).toBe(1645 - 300 - 1339);
    // The same bars in a run that failed or succeeded: long was stopped by the run's end.
    expect(pathOf({ ...t, status: 'failed' })).toEqual(['a#1', 'short#1']);
  });

  it('diamond: the branch that finished last is critical; overhead is the time no execution on it covers', () => {
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
    // A 0 ms step in the middle (Montage's mImgtbl at a small time scale): the step after it
    // waited for it, which ended with the step both need, so the path goes through it.
    const middle = timeline({ a: [], b: ['a'], c: ['a', 'b'] }, [
      ['a', 0, 10],
      ['b', 10, 10],
      ['c', 10, 20],
    ]);
    expect(pathOf(middle)).toEqual(['a#1', 'b#1', 'c#1']);
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

  it('a join follows the predecessor that finished last, not the chain with the most execution time', () => {
    // a runs 50 ms; x -> y runs 10 + 5 ms but y ends later (x waited): c waited for y.
    const t = timeline({ a: [], x: [], y: ['x'], c: ['a', 'y'] }, [
      ['a', 0, 50],
      ['x', 0, 10],
      ['y', 60, 65],
      ['c', 65, 70],
    ]);
    expect(pathOf(t)).toEqual(['x#1', 'y#1', 'c#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 70, criticalPathMs: 20, overheadMs: 50 });
  });

  it('retry back-off on the chain is overhead: the join waits for the retried step (the backoff repro)', () => {
    // a fails in 3 ms, backs off 500 ms, succeeds in 2 ms; b runs 102 ms; c needs both.
    const t = timeline({ a: [], b: [], c: ['a', 'b'] }, [
      ['a', 4, 7, { attempt: 1, status: 'failed' }],
      ['b', 3, 105],
      ['a', 509, 511, { attempt: 2 }],
      ['c', 512, 533],
    ]);
    expect(pathOf(t)).toEqual(['a#1', 'a#2', 'c#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 530, criticalPathMs: 26, overheadMs: 504 });
  });

  it('the predecessor is the last to finish by the start: the latest attempt, the last item', () => {
    const t = timeline({ p: [], s: ['p'], q: [], c: ['s', 'q'] }, [
      ['p', 0, 10],
      ['s', 10, 30, { item: 0, attempt: 1, status: 'failed' }],
      ['s', 35, 38, { item: 0, attempt: 2 }],
      ['s', 10, 36, { item: 1 }],
      ['q', 0, 37],
      ['c', 40, 45],
    ]);
    // s[0]#2 ended at 38, after q (37) and s[1] (36), though its chain has less execution time.
    expect(pathOf(t)).toEqual(['p#1', 's[0]#1', 's[0]#2', 'c#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 45, criticalPathMs: 38, overheadMs: 7 });
  });

  it('a predecessor that ended after the step started is passed over; if all did, the first to end', () => {
    // Clocks that disagree: b "ended" after c started, so c waited for a.
    const skew = timeline({ a: [], b: [], c: ['a', 'b'] }, [
      ['a', 0, 10],
      ['b', 0, 30],
      ['c', 20, 40],
    ]);
    expect(pathOf(skew)).toEqual(['a#1', 'c#1']);
    const none = timeline({ a: [], b: [], c: ['a', 'b'] }, [
      ['a', 0, 10],
      ['b', 0, 30],
      ['c', 5, 40],
    ]);
    expect(pathOf(none)).toEqual(['a#1', 'c#1']);
    // What the two cover, not the sum of their times (45 ms): the path is not longer than the run.
    expect(summarizeTimeline(none)).toMatchObject({ makespanMs: 40, criticalPathMs: 40, overheadMs: 0 });
  });

  it('a step without executions (forEach over []) passes the chain on to what it waited for', () => {
    // split -> each (no items) -> sum: sum waited for split.
    const t = timeline({ split: [], each: ['split'], sum: ['each'] }, [
      ['split', 0, 200],
      ['sum', 201, 221],
    ], { startedAt: 0, finishedAt: 225 });
    expect(pathOf(t)).toEqual(['split#1', 'sum#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 225, criticalPathMs: 220, overheadMs: 5 });
    // Through two empty steps, and a join where the empty branch's source finished last.
    const deep = timeline({ s: [], e1: ['s'], e2: ['e1'], o: [], z: ['e2', 'o'] }, [
      ['s', 0, 90],
      ['o', 0, 40],
      ['z', 95, 100],
    ]);
    expect(pathOf(deep)).toEqual(['s#1', 'z#1']);
  });

  it('on consistent random runs the chain links waits, ends last, and fits in the makespan', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let run = 0; run < 200; run++) {
      const steps = Array.from({ length: 2 + rand(8) }, (_, k) => `s${k}`);
      const needs: Record<string, string[]> = {};
      const ends = new Map<string, number>();
      const bars: Bar[] = [];
      for (const [k, step] of steps.entries()) {
        needs[step] = steps.slice(0, k).filter(() => rand(3) === 0);
        const ready = Math.max(0, ...needs[step]!.map((p) => ends.get(p) ?? 0));
        const items = rand(4) === 0 ? rand(3) : undefined;
        let end = ready;
        for (let item = 0; item < (items ?? 1); item++) {
          let at = ready + rand(20);
          for (let attempt = 1, n = 1 + rand(3); attempt <= n; attempt++) {
            const took = rand(30);
            bars.push([step, at, at + took, { ...(items === undefined ? {} : { item }), attempt, status: attempt < n ? 'failed' : 'succeeded' }]);
            end = Math.max(end, at + took);
            at += took + rand(15);
          }
        }
        ends.set(step, end);
      }
      if (bars.length === 0) continue;
      const t = timeline(needs, bars, { startedAt: 0 });
      const s = summarizeTimeline(t);
      const chain = s.criticalPath.map((i) => t.executions[i]!);
      expect(chain.at(-1)!.end).toBe(Math.max(...t.executions.map((e) => e.end)));
      for (let k = 1; k < chain.length; k++) expect(chain[k]!.start).toBeGreaterThanOrEqual(chain[k - 1]!.end);
      expect(s.criticalPathMs).toBe(chain.reduce((sum, e) => sum + e.end - e.start, 0));
      expect(s.overheadMs).toBe(s.makespanMs - s.criticalPathMs);
      expect(s.overheadMs).toBeGreaterThanOrEqual(0);
    }
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

describe('summarizeTimeline of a forEach with maxConcurrency (lanes)', () => {
  // list, then 5 items in 2 lanes: 0 and 1 at once, 2 after 0, 3 after 1, 4 after 2 (a retry of 2 first).
  const bars: Bar[] = [
    ['list', 0, 10],
    ['each', 10, 20, { item: 0 }],
    ['each', 10, 25, { item: 1 }],
    ['each', 20, 22, { item: 2 }],
    ['each', 23, 30, { item: 2, attempt: 2 }],
    ['each', 25, 35, { item: 3 }],
    ['each', 30, 42, { item: 4 }],
  ];
  const needs = { list: [], each: ['list'] };

  it('has item i wait for item i - n as well: the chain through the lane is the critical path', () => {
    const t = { ...timeline(needs, bars), lanes: { each: 2 } };
    expect(pathOf(t)).toEqual(['list#1', 'each[0]#1', 'each[2]#1', 'each[2]#2', 'each[4]#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 42, criticalPathMs: 41, overheadMs: 1 });
  });

  it('without lanes, counts the time an item waited for its lane as overhead', () => {
    const t = timeline(needs, bars);
    expect(pathOf(t)).toEqual(['list#1', 'each[4]#1']);
    expect(summarizeTimeline(t)).toMatchObject({ makespanMs: 42, criticalPathMs: 22, overheadMs: 20 });
  });
});
