import { describe, expect, it } from 'vitest';
import { createEventFactory, createIdFactory } from '../../src/adapters/local/step-events.ts';
import { runFlow, type Flow } from '../../src/runtime/flow.ts';

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

describe('runFlow', () => {
  function* sum(values: Array<number | Promise<number>>): Flow<number> {
    let total = 0;
    for (const v of values) total += (yield v) as number;
    return total;
  }

  it('answers synchronously when nothing yielded is a promise', () => {
    expect(runFlow(sum([1, 2, 3]))).toBe(6);
  });

  it('waits for yielded promises and goes on synchronously after them', async () => {
    const result = runFlow(sum([1, Promise.resolve(2), 3]));
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(6);
  });

  it('throws a rejection into the flow, where it can be caught', async () => {
    function* guarded(): Flow<string> {
      try {
        yield Promise.reject(new Error('store down'));
        return 'not reached';
      } catch (error) {
        return `caught: ${(error as Error).message}`;
      }
    }
    expect(await runFlow(guarded())).toBe('caught: store down');
    await expect(runFlow(sum([Promise.reject(new Error('boom'))]))).rejects.toThrow('boom');
  });

  it('throws synchronously what a synchronous step throws', () => {
    function* failing(): Flow<number> {
      yield 1;
      throw new Error('locked');
    }
    expect(() => runFlow(failing())).toThrow('locked');
  });
});
