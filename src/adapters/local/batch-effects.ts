/**
 * The first half of the engine's handling of a batch of events: each event is checked (events
 * from outside the engine for size), its output fetched when it was kept as a blob, and handed to
 * the trigger processor; what comes back is the batch's effects, in event order. Events that
 * cannot be processed become dead-letter effects. The engine then applies the effects (engine.ts).
 */
import { DetailType, type EventEnvelope } from '../../model/events.ts';
import type { BlobStore, Task } from '../../ports.ts';
import type { Effect } from '../../runtime/effects.ts';
import type { TriggerProcessor } from '../../runtime/processor.ts';
import { oversizeReason, resolveOutputRef } from './engine-support.ts';
import type { UsageMeter } from './usage-meter.ts';

/** What one batch of events caused: work for after its commit, and whether any of it leaves the process. */
export type Batch = { after: Array<() => unknown>; dispatched: Task[]; external: boolean };

/** What {@link effectsOf} needs from the engine. */
export type EffectSources = {
  processor: TriggerProcessor;
  /** Events the engine made itself: bounded in size, and its Step Started drives no trigger. */
  own: { has(event: EventEnvelope): boolean };
  maxPayloadBytes: number;
  blobs: BlobStore | undefined;
  /** When metering, the processor runs once per matched trigger, as EventBridge rules invoke it on AWS. */
  meter: UsageMeter | undefined;
};

/** The effects of a batch of events, one list per event (or per matched trigger when metering). */
export async function effectsOf(events: readonly EventEnvelope[], from: EffectSources): Promise<Effect[][]> {
  const batches: Effect[][] = [];
  const { processor, meter } = from;
  for (const received of events) {
    try {
      if (from.own.has(received)) {
        // The engine's own Step Started is there for subscribers and the log only.
        if (received['detail-type'] === DetailType.StepStarted) continue;
      } else {
        const reason = oversizeReason(received, from.maxPayloadBytes);
        if (reason) {
          batches.push([{ type: 'dead-letter', event: received, reason }]);
          continue;
        }
      }
      const resolved = resolveOutputRef(received, from.blobs);
      const event = resolved instanceof Promise ? await resolved : resolved;
      if (meter) {
        const ids = processor.matchingTriggers(event);
        meter.invocations(ids.length);
        for (const id of ids) {
          const effects = await processor.process(event, id);
          if (effects.length > 0) batches.push(effects);
        }
        continue;
      }
      // Synchronous on the memory and SQLite stores: no promise per event.
      const now = processor.processNow(event);
      const effects = now instanceof Promise ? await now : now;
      if (effects.length > 0) batches.push(effects);
    } catch (error) {
      batches.push([{ type: 'dead-letter', event: received, reason: `processor error: ${(error as Error).message}` }]);
    }
  }
  return batches;
}
