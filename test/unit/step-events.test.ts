import { describe, expect, it } from 'vitest';
import { createEventFactory, createIdFactory } from '../../src/adapters/local/step-events.ts';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerStore } from '../../src/ports.ts';
import { TriggerProcessor } from '../../src/runtime/processor.ts';
import { Replay } from '../../src/runtime/replay.ts';

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('event ids', () => {
  it('are UUID-formatted (version 8), distinct, and differ between generators', () => {
    const a = createIdFactory();
    const b = createIdFactory();
    const ids = [...Array.from({ length: 5000 }, a), ...Array.from({ length: 5000 }, b)];
    for (const id of ids) expect(id).toMatch(UUID_V8);
    expect(new Set(ids).size).toBe(ids.length);
    // Two generators draw their own random bits: their ids share no prefix.
    expect(ids[0]!.slice(0, 24)).not.toBe(ids[5000]!.slice(0, 24));
  });

  it('go into the envelopes the event factory makes, with the time formatted from the clock', () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const make = createEventFactory(() => now);
    const first = make('Step Started', { x: 1 });
    now += 1;
    const second = make('Step Started', { x: 2 });
    expect(first).toMatchObject({ source: 'joinflow', 'detail-type': 'Step Started', time: '2026-01-02T03:04:05.006Z', detail: { x: 1 } });
    expect(second.time).toBe('2026-01-02T03:04:05.007Z');
    expect(first.id).toMatch(UUID_V8);
    expect(second.id).not.toBe(first.id);
  });
});

describe('Replay', () => {
  /** Sums answers, counting how often each one is asked of the "store". */
  function summer(values: Array<number | Promise<number>>, asked: number[]) {
    return (replay: Replay) => () => {
      let total = 0;
      values.forEach((v, i) => {
        total += replay.call(() => {
          asked[i] = (asked[i] ?? 0) + 1;
          return v;
        });
      });
      return total;
    };
  }

  it('answers synchronously when every answer comes at once', () => {
    const asked: number[] = [];
    const replay = new Replay();
    expect(replay.run(summer([1, 2, 3], asked)(replay))).toBe(6);
    expect(asked).toEqual([1, 1, 1]);
  });

  it('waits for a promise, then runs the logic again without asking any call twice', async () => {
    const asked: number[] = [];
    const replay = new Replay();
    const result = replay.run(summer([1, Promise.resolve(2), 3, Promise.resolve(4)], asked)(replay));
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(10);
    expect(asked).toEqual([1, 1, 1, 1]);
  });

  it('rejects with a call\'s rejection, and throws what the logic throws', async () => {
    const replay = new Replay();
    await expect(replay.run(summer([1, Promise.reject(new Error('store down'))], [])(replay))).rejects.toThrow('store down');
    const again = new Replay();
    expect(() => again.run(() => {
      again.call(() => 1);
      throw new Error('locked');
    })).toThrow('locked');
  });

  it('runs the processor against a store that answers with promises, each call made once', async () => {
    const store = createMemoryStore();
    const calls: string[] = [];
    // Every call answers later: the processor's logic runs again after each one.
    const slow = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (name === 'synchronous') return undefined;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args));
        };
      },
    }) as TriggerStore;
    let ids = 0;
    const processor = new TriggerProcessor({ store: slow, clock: { now: () => 1_000 }, newId: () => `id-${++ids}` });
    processor.register(compileWorkflow({ name: 'pair', steps: { a: { executor: { type: 'simulate', durationMs: 0 } }, b: { needs: ['a'], executor: { type: 'simulate', durationMs: 0 } } } }, { source: 'test' }));
    const start = await processor.process({ id: 'e-1', source: 'joinflow', 'detail-type': 'Run Requested', time: new Date(0).toISOString(), detail: { workflow: 'pair', runId: 'r1', input: 7 } });
    expect(start.map((e) => e.type)).toEqual(['dispatch', 'ack']);
    expect(calls).toEqual(['startRun', 'arrive', 'claim']);
    calls.length = 0;
    const done = await processor.process({ id: 'e-2', source: 'joinflow', 'detail-type': 'Step Completed', time: new Date(0).toISOString(), detail: { workflow: 'pair', runId: 'r1', step: 'a', attempt: 1, output: 'A' } });
    expect(calls).toEqual(['getRun', 'saveResult', 'arrive', 'claim', 'getResults']);
    const dispatch = done.find((e) => e.type === 'dispatch');
    expect(dispatch && dispatch.type === 'dispatch' && dispatch.tasks[0]!.event).toEqual({ input: 7, results: { a: 'A' } });
  });
});
