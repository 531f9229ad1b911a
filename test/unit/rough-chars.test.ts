/**
 * roughChars: the cheap size estimate that lets small events skip an exact JSON byte count. Six
 * times its count must never be below the JSON's bytes (a character is at most 6 bytes in
 * JSON), so a small estimate proves an event small; and it stops counting past its cap.
 */
import { describe, expect, it } from 'vitest';
import { oversizeReason, roughChars } from '../../src/adapters/local/engine-support.ts';

const values: unknown[] = [
  null, true, 0, -1.5e300, '', 'plain', 'quote " and \\ and \n and \u0000 and 🚀 and \uD800',
  [], {}, [1, 'a', null, [2, [3, {}]]], { a: { b: { c: ['x', { d: 'y'.repeat(1000) }] } } },
  { 'k"ey\n': 'v', '🚀': ['\t'.repeat(50)] }, Array.from({ length: 300 }, (_, i) => ({ i, s: String(i) })),
];

describe('roughChars', () => {
  it('times 6 bounds the JSON size of every value from above', () => {
    for (const v of values) expect(roughChars(v, Infinity) * 6, JSON.stringify(v)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(v)));
  });

  it('stops soon after passing its cap', () => {
    const big = Array.from({ length: 100_000 }, () => ({ name: 'x'.repeat(20) }));
    const n = roughChars(big, 1000);
    expect(n).toBeGreaterThan(1000);
    expect(n).toBeLessThan(1000 + 100_010);
  });

  it('lets oversizeReason pass small events and name the size of big ones', () => {
    expect(oversizeReason({ detail: { output: 'x'.repeat(100) } }, 1024)).toBeUndefined();
    expect(oversizeReason({ detail: { output: 'x'.repeat(2000) } }, 1024)).toMatch(/^event of 20\d\d bytes exceeds the size limit of 1024 bytes$/);
  });
});
