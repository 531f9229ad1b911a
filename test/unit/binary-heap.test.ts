/** The binary heap under the task queue and the delivery queue. */
import { describe, expect, it } from 'vitest';
import { BinaryHeap } from '../../src/adapters/local/binary-heap.ts';

describe('BinaryHeap', () => {
  it('gives the elements in the order `before` says, whatever order they came in', () => {
    const heap = new BinaryHeap<number>((a, b) => a < b);
    // A fixed shuffle of 0..999 (a linear congruential sequence), with repeats.
    const xs = Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) % 1000).concat([5, 5, 0, 999]);
    for (const x of xs) heap.push(x);
    expect(heap.size).toBe(xs.length);
    expect(heap.peek()).toBe(0);
    const out: number[] = [];
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
    expect(out).toEqual([...xs].sort((a, b) => a - b));
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
  });

  it('keeps first-come order among equals when `before` breaks ties by arrival', () => {
    type E = { p: number; seq: number };
    const heap = new BinaryHeap<E>((a, b) => a.p > b.p || (a.p === b.p && a.seq < b.seq));
    const es = [1, 3, 1, 3, 2, 1].map((p, seq) => ({ p, seq }));
    for (const e of es) heap.push(e);
    const out: E[] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e);
    expect(out.map((e) => e.seq)).toEqual([1, 3, 4, 0, 2, 5]);
  });
});
