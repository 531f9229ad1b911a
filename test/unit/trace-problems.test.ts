/**
 * issueProblems (src/timeline/trace-problems.ts): whether a field of a trace is valid, asked for
 * each field of each record, must not cost a scan of every bad path: a trace whose thousands of
 * records each have a bad field took minutes to be refused.
 */
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { issueProblems } from '../../src/timeline/trace-problems.ts';

/** A zod issue at `path` whose path counts the reads of its elements. */
function issue(path: PropertyKey[], reads: { n: number }, code = 'invalid_type'): z.core.$ZodIssue {
  const counted = new Proxy(path, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads.n++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { code, message: 'Invalid input: expected number, received string', expected: 'number', path: counted, input: 'x' } as unknown as z.core.$ZodIssue;
}

describe('issueProblems', () => {
  it('tells valid paths from those under, at or above a bad one; unknown keys make none invalid', () => {
    const reads = { n: 0 };
    const { valid } = issueProblems([issue([1, 'start'], reads), issue([2], reads), issue([3, 'x'], reads, 'unrecognized_keys'), issue(['executions', 0, 'end'], reads)], []);
    expect(valid(1, 'start')).toBe(false);
    expect(valid(1, 'start', 'deeper')).toBe(false);
    expect(valid(1)).toBe(false);
    expect(valid(1, 'end')).toBe(true);
    expect(valid(2, 'step')).toBe(false);
    expect(valid(3, 'x')).toBe(true);
    expect(valid(0, 'start')).toBe(true);
    expect(valid('executions', 0, 'start')).toBe(true);
    expect(valid('executions', 0, 'end')).toBe(false);
    expect(valid('executions')).toBe(false);
    expect(valid()).toBe(false);
    expect(issueProblems([issue([], reads)], []).valid(0, 'step')).toBe(false);
    expect(issueProblems([], []).valid()).toBe(true);
  });

  it('answers for each record without reading every bad path again', () => {
    const reads = { n: 0 };
    const records = 2_000;
    const { problems, valid } = issueProblems(
      Array.from({ length: records }, (_, i) => issue([i, 'start'], reads)),
      [],
    );
    expect(problems).toHaveLength(records);
    const before = reads.n;
    let invalid = 0;
    for (let i = 0; i < records; i++) for (const key of ['step', 'start', 'end', 'item', 'attempt']) if (!valid(i, key)) invalid++;
    expect(invalid).toBe(records);
    // A scan per question reads 5 x 2,000 x 2,000 path elements; a walk reads none.
    expect(reads.n - before).toBeLessThan(records);
  });
});
