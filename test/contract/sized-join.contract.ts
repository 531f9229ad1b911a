/**
 * The TriggerStore contract for joins sized at run time (a forEach's collect: `setNeed` gives the
 * need, arrivals give none): their keys are the ordinals 0..need-1, so an arrival beyond them (item
 * 7 of a 3-item fan-out: a duplicated, forged or misrouted event) never counts toward the join —
 * refused once the need is known, left out of the count when it came before. Every store runs it.
 */
import { describe, expect, it } from 'vitest';
import type { TriggerStore } from '../../src/ports.ts';
import type { StoreFactory } from './trigger-store.contract.ts';

/** Registers the sized-join contract for one store. */
export function describeSizedJoinContract(name: string, make: StoreFactory): void {
  async function using(fn: (store: TriggerStore) => Promise<void>): Promise<void> {
    const { store, close } = await make();
    try {
      await store.startRun({ runId: 'r', workflow: 'wf', input: null, startedAt: 1_000 });
      await fn(store);
    } finally {
      await close?.();
    }
  }

  describe(`TriggerStore contract: ${name}, joins sized at run time`, () => {
    it('refuses an ordinal beyond the need once it is known, again when redelivered; the join completes with its own', () =>
      using(async (store) => {
        expect(await store.setNeed('r', 'c', 3)).toEqual({ fresh: false, count: 0, need: 3 });
        expect(await store.arrive('r', 'c', '0', undefined, 0)).toEqual({ fresh: true, count: 1, need: 3 });
        expect(await store.arrive('r', 'c', '1', undefined, 1)).toEqual({ fresh: true, count: 2, need: 3 });
        // Item 7 of 3 (and item 3, the first one past the end) would complete the join: refused.
        expect(await store.arrive('r', 'c', '7', undefined, 7)).toEqual({ fresh: false, count: 2, need: 3, refused: true });
        expect(await store.arrive('r', 'c', '3', undefined, 3)).toEqual({ fresh: false, count: 2, need: 3, refused: true });
        expect(await store.arrive('r', 'c', '7', undefined, 7)).toEqual({ fresh: false, count: 2, need: 3, refused: true });
        expect(await store.arrive('r', 'c', '1', undefined, 1)).toEqual({ fresh: false, count: 2, need: 3 });
        expect(await store.arrive('r', 'c', '2', undefined, 2)).toEqual({ fresh: true, count: 3, need: 3 });
      }));

    it('an ordinal beyond the need that arrived before it was known does not count once it is', () =>
      using(async (store) => {
        // Item 7 and item 0 come before the fan-out's width is recorded (reordered delivery).
        expect(await store.arrive('r', 'c', '7', undefined, 7)).toEqual({ fresh: true, count: 1, need: undefined });
        expect(await store.arrive('r', 'c', '0', undefined, 0)).toEqual({ fresh: true, count: 2, need: undefined });
        expect(await store.arrive('r', 'c', '5', undefined, 5)).toEqual({ fresh: true, count: 3, need: undefined });
        // Width 3: two early arrivals are beyond it, so one of three is in, though three arrived.
        expect(await store.setNeed('r', 'c', 3)).toEqual({ fresh: false, count: 1, need: 3 });
        expect(await store.arrive('r', 'c', '7', undefined, 7)).toEqual({ fresh: false, count: 1, need: 3, refused: true });
        expect(await store.arrive('r', 'c', '1', undefined, 1)).toEqual({ fresh: true, count: 2, need: 3 });
        expect(await store.arrive('r', 'c', '2', undefined, 2)).toEqual({ fresh: true, count: 3, need: 3 });
      }));

    it('an early arrival within the need counts, and setNeed(0) leaves out every early one', () =>
      using(async (store) => {
        expect(await store.arrive('r', 'c', '1', undefined, 1)).toEqual({ fresh: true, count: 1, need: undefined });
        expect(await store.setNeed('r', 'c', 2)).toEqual({ fresh: false, count: 1, need: 2 });
        expect(await store.arrive('r', 'e', '0', undefined, 0)).toEqual({ fresh: true, count: 1, need: undefined });
        expect(await store.setNeed('r', 'e', 0)).toEqual({ fresh: false, count: 0, need: 0 });
      }));

    it('a join with a need of its own (a quorum of named needs) counts ordinals at or past it', () =>
      using(async (store) => {
        // wait: {quorum: 2} of three needs: the third need's ordinal is 2, and it counts.
        expect(await store.arrive('r', 'q', 'c', 2, 2)).toEqual({ fresh: true, count: 1, need: 2 });
        expect(await store.arrive('r', 'q', 'a', 2, 0)).toEqual({ fresh: true, count: 2, need: 2 });
      }));
  });
}
