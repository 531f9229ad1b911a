/** The local bus's flushed(): every event published so far handed to every subscriber, however busy the bus stays. */
import { describe, expect, it } from 'vitest';
import { createLocalBus } from '../../src/adapters/local/local-bus.ts';
import type { EventEnvelope } from '../../src/model/events.ts';

const event = (n: number): EventEnvelope => ({ id: `e${n}`, source: 'test', 'detail-type': 'Tick', time: new Date(0).toISOString(), detail: { n } });

describe('local bus flushed()', () => {
  it('resolves once every subscriber has handled what was published before it was asked, not waiting for what came after', async () => {
    const bus = createLocalBus();
    const first: number[] = [];
    const last: number[] = [];
    let n = 0;
    // The first subscriber keeps the bus busy: each event it handles publishes another, up to 50.
    bus.subscribe(null, async (events) => {
      for (const e of events) first.push((e.detail as { n: number }).n);
      await new Promise((resolve) => setImmediate(resolve));
      if (n < 50) void bus.publish([event(++n)]);
    });
    bus.subscribe(null, (events) => void last.push(...events.map((e) => (e.detail as { n: number }).n)));
    void bus.publish([event(0)]);
    const flushed = bus.flushed().then(() => [...last]);
    expect(await flushed).toEqual([0]);
    await bus.idle();
    expect(last).toHaveLength(51);
    // Nothing published and not handed: at once.
    expect(await Promise.race([bus.flushed().then(() => 'flushed'), new Promise((resolve) => setImmediate(resolve, 'later'))])).toBe('flushed');
  });
});
