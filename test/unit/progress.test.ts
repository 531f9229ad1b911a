import { describe, expect, it } from 'vitest';
import { createProgress, ITEM_LINES } from '../../src/cli/progress.ts';
import type { Progress, RunResult, TraceRecord } from '../../src/adapters/local/engine.ts';

function reporter(tagRuns = false): { lines: string[]; progress: ReturnType<typeof createProgress> } {
  let text = '';
  const stream = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const progress = createProgress({ json: false, tty: false, stream, tagRuns });
  return { get lines() { return text.split('\n').filter((l) => l !== ''); }, progress };
}

const p: Progress = { done: 0, total: 0, running: 0, failed: 0 } as Progress;
const rec = (step: string, item: number | undefined, status: TraceRecord['status'] = 'succeeded'): TraceRecord => ({ step, item, attempt: 1, status, start: 0, end: 2 });
const result = { runId: 'r1', status: 'succeeded', durationMs: 5, steps: { total: 0, succeeded: 0, failed: 0, cancelled: 0, retried: 0 }, events: 0 } as unknown as RunResult;

describe('run progress off a terminal', () => {
  it('lists a forEach step\'s first items, counts the rest and sums them up at the end', () => {
    const r = reporter();
    r.progress.step('r1', rec('split', undefined), p);
    for (let i = 0; i < 1000; i++) r.progress.step('r1', rec('square', i), p);
    r.progress.step('r1', rec('square', 1000, 'failed'), p);
    r.progress.step('r1', rec('sum', undefined), p);
    r.progress.done(result);
    const lines = r.lines;
    expect(lines.filter((l) => /^ok +square\[\d+\] /.test(l))).toHaveLength(ITEM_LINES);
    // Those that did not succeed have lines of their own too.
    expect(lines.filter((l) => /^failed +square\[1000\] /.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('... square[*]: more than'))).toHaveLength(1);
    expect(lines).toContain(`... square[*]: ${(1000 - ITEM_LINES).toLocaleString('en-US')} more item execution(s) not listed: ${(1000 - ITEM_LINES).toLocaleString('en-US')} ok`);
    expect(lines.filter((l) => /^ok +(split|sum) /.test(l))).toHaveLength(2);
    expect(lines.length).toBe(ITEM_LINES + 6);
  });

  it('counts every step apart, and has nothing to sum up for small fan-outs', () => {
    const r = reporter();
    for (let i = 0; i < ITEM_LINES; i++) r.progress.step('r1', rec('a', i), p);
    for (let i = 0; i < ITEM_LINES + 2; i++) r.progress.step('r1', rec('b', i, 'cancelled'), p);
    r.progress.done(result);
    expect(r.lines.filter((l) => l.startsWith('ok') && l.includes(' a['))).toHaveLength(ITEM_LINES);
    expect(r.lines.filter((l) => l.startsWith('... a['))).toHaveLength(0);
    expect(r.lines).toContain('... b[*]: 2 more item execution(s) not listed: 2 cancelled');
  });

  it('sums up each run\'s items apart when one resume continues several runs, once each', () => {
    const r = reporter();
    for (let i = 0; i < ITEM_LINES + 3; i++) r.progress.step('r1', rec('each', i), p);
    for (let i = 0; i < ITEM_LINES + 5; i++) r.progress.step('r2', rec('each', i), p);
    r.progress.done(result);
    r.progress.done({ ...result, runId: 'r2' } as RunResult);
    r.progress.done({ ...result, runId: 'r3' } as RunResult);
    // Each run lists its own first items: 10 of r1's, 10 of r2's.
    expect(r.lines.filter((l) => /^ok +each\[\d+\] /.test(l))).toHaveLength(2 * ITEM_LINES);
    const summed = r.lines.filter((l) => (l.startsWith('... each[*]:') && !l.includes('more than')) || l.startsWith('run '));
    expect(summed).toEqual([
      '... each[*]: 3 more item execution(s) not listed: 3 ok',
      'run r1 succeeded in 5 ms: 0 succeeded, 0 failed, 0 retried, 0 events',
      '... each[*]: 5 more item execution(s) not listed: 5 ok',
      'run r2 succeeded in 5 ms: 0 succeeded, 0 failed, 0 retried, 0 events',
      'run r3 succeeded in 5 ms: 0 succeeded, 0 failed, 0 retried, 0 events',
    ]);
  });

  it('starts each line with its run id when several runs report at once (resume), so that their lines do not mix', () => {
    const r = reporter(true);
    r.progress.step('r1', rec('a', undefined), p);
    for (let i = 0; i < ITEM_LINES + 1; i++) r.progress.step('r2', rec('each', i), p);
    r.progress.done({ ...result, runId: 'r2' } as RunResult);
    expect(r.lines[0]).toMatch(/^r1: ok +a \(attempt 1, 2 ms\)$/);
    expect(r.lines.filter((l) => l.startsWith('r2: ok '))).toHaveLength(ITEM_LINES);
    expect(r.lines).toContain('r2: ... each[*]: 1 more item execution(s) not listed: 1 ok');
    expect(r.lines.filter((l) => !/^r[12]: |^run r2 /.test(l))).toEqual([]);
  });
});
