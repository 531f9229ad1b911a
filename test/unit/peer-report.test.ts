import { describe, expect, it } from 'vitest';
import { compare, failedRow, markdownTable, median, missingWork, resultLine, runsPerProcess, summarize } from '../../bench/peers/report.ts';

const hfBase = { shape: 'chain-4', engine: 'hyperflow', store: 'redis', executor: 'noop function' } as const;
const jfBase = { shape: 'chain-4', engine: 'joinflow', store: 'memory', executor: 'simulate' } as const;
const sample = (coldMs: number, ms: number) => ({ tasks: 4, setupMs: 1, coldMs, ms, peakRssMb: 50 });

describe('peer bench report', () => {
  it('takes medians (mean of the middle two for even counts)', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('summarizes samples into per-task times and the spread of warm runs', () => {
    const row = summarize(hfBase, [sample(10, 8), sample(30, 4), sample(20, 6)]);
    expect(row).toMatchObject({ tasks: 4, runs: 3, coldMs: 20, coldUsPerTask: 5000, ms: 6, usPerTask: 1500, msRange: [4, 8] });
  });

  it('compares joinflow against HyperFlow per task and checks the 20x target', () => {
    const hf = summarize(hfBase, [sample(40, 20)]);
    const fast = compare(summarize(jfBase, [sample(2, 1)]), hf);
    expect(fast).toMatchObject({ ratio: 20, coldRatio: 20, meetsTarget: true, coldMeetsTarget: true });
    const slow = compare(summarize(jfBase, [sample(4, 2)]), hf);
    expect(slow).toMatchObject({ ratio: 10, coldRatio: 10, meetsTarget: false, coldMeetsTarget: false });
  });

  it('decides the target on the exact per-task times, not on figures rounded for display', () => {
    // HyperFlow 100 µs per task; joinflow 5.04 µs: 19.84x, short of 20x (5.04 rounds to 5.0, which gave 20x).
    const hf = summarize({ ...hfBase, shape: 'chain-1000' }, [{ tasks: 1000, setupMs: 1, coldMs: 100, ms: 100, peakRssMb: 50 }]);
    const jf = compare(summarize({ ...jfBase, shape: 'chain-1000' }, [{ tasks: 1000, setupMs: 1, coldMs: 5.04, ms: 5.04, peakRssMb: 50 }]), hf);
    expect(jf.usPerTask).toBeCloseTo(5.04, 9);
    expect(jf.ratio).toBe(19.84);
    expect(jf.meetsTarget).toBe(false);
    expect(jf.coldMeetsTarget).toBe(false);
    // A ratio of 19.996 is not shown as 20: rounded down, so a shown 20 is at least 20.
    const near = compare(summarize({ ...jfBase, shape: 'chain-1000' }, [{ tasks: 1000, setupMs: 1, coldMs: 5.001, ms: 5.001, peakRssMb: 50 }]), hf);
    expect(near.ratio).toBe(19.99);
    expect(near.meetsTarget).toBe(false);
    expect(markdownTable([hf, near]).split('\n')[3]).toContain('19.99× ✘');
  });

  it('has no ratio when HyperFlow failed, and says why in the table', () => {
    const hf = failedRow(hfBase, 4, 'did not finish within 600 s');
    const row = compare(summarize(jfBase, [sample(2, 1)]), hf);
    expect(row.ratio).toBeNull();
    const table = markdownTable([hf, row]).split('\n');
    expect(table).toHaveLength(4);
    expect(table[2]).toContain('did not finish within 600 s');
    expect(table[3]).toContain('n/a');
  });

  it('keeps a failed row to the table\'s ten columns when the error has pipes and line breaks', () => {
    // The runners join the last lines of a failed process's stderr with " | ".
    const hf = failedRow(hfBase, 4, 'HyperFlow on chain-4 failed (1): Error: boom | at x (a.js:1)\nmore');
    const table = markdownTable([hf]).split('\n');
    expect(table).toHaveLength(3);
    const cells = table[2]!.split(/(?<!\\)\|/).slice(1, -1);
    expect(cells).toHaveLength(10);
    expect(cells[3]).toContain('boom \\| at x (a.js:1) more');
  });
});

describe('runs per engine process', () => {
  it('is 10, or with --steady-tasks enough runs for that many tasks (never fewer than 10)', () => {
    expect(runsPerProcess(58, 0)).toBe(10);
    expect(runsPerProcess(58, 20_000)).toBe(345);
    expect(runsPerProcess(1695, 20_000)).toBe(12);
    expect(runsPerProcess(5002, 20_000)).toBe(10);
    expect(runsPerProcess(1000, 20_000)).toBe(20);
  });
});

describe('an engine process\'s result line', () => {
  it('is the JSON object on the last line, after whatever the engine logged', () => {
    expect(resultLine('Workflow [1] finished.\n\n{"tasks":4,"ms":1.5}\n')).toEqual({ tasks: 4, ms: 1.5 });
  });

  it('is an error saying what was there when the process printed no result', () => {
    expect(() => resultLine('')).toThrow('exited 0 without its result line (last line: none)');
    expect(() => resultLine('Workflow [1] finished.\n')).toThrow('(last line: "Workflow [1] finished.")');
    expect(() => resultLine('{"tasks":')).toThrow('without its result line');
    expect(() => resultLine('12\n')).toThrow('without its result line');
  });
});

describe('the work behind a sample', () => {
  it('counts when every task of every run ran once, on either side', () => {
    expect(missingWork({ tasks: 58, runs: 10, calls: 580, finished: 580 }, 10)).toBeUndefined();
    expect(missingWork({ tasks: 58, runs: 10, succeeded: 580 }, 10)).toBeUndefined();
  });

  it('refuses a sample timed on less work, or without a count of it', () => {
    expect(missingWork({ tasks: 58, runs: 10, calls: 580, finished: 579 }, 10)).toBe('580 calls and 579 finished tasks over 10 runs, expected 580 of each (58 tasks x 10 runs)');
    // joinflow's child reported the last run's count alone: 58 for 10 runs of Montage.
    expect(missingWork({ tasks: 58, runs: 10, succeeded: 58 }, 10)).toBe('58 succeeded steps over 10 runs, expected 580 of each (58 tasks x 10 runs)');
    expect(missingWork({ tasks: 58, runs: 5, succeeded: 290 }, 10)).toMatch(/^290 succeeded steps over 5 runs, expected 580/);
    expect(missingWork({ tasks: 58, runs: 10 }, 10)).toMatch(/^no task count over 10 runs/);
  });
});
