/**
 * The first half of the engine's handling of a batch of events: each event is checked (events
 * from outside the engine for size), its output fetched when it was kept as a blob, and handed to
 * the trigger processor; what comes back is the batch's effects, in event order. Events that
 * cannot be processed become dead-letter effects. The second half, applying each effect, is
 * {@link applyEffect}.
 */
import { DetailType, type EventEnvelope } from '../../model/events.ts';
import type { BlobStore, Clock, RunRecord, Task, TriggerStore } from '../../ports.ts';
import type { Effect } from '../../runtime/effects.ts';
import type { TriggerProcessor } from '../../runtime/processor.ts';
import type { EngineOptions } from './engine-options.ts';
import { oversizeReason, resolveOutputRef } from './engine-support.ts';
import type { Lanes } from './lanes.ts';
import { withoutEnd } from './run-record.ts';
import type { RunTracker } from './run-tracker.ts';
import type { UsageMeter } from './usage-meter.ts';

/** A run's final status, as a store's finishRun takes it. */
type RunEnd = Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>;

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
  // Indexed loops here and in the engine's #process: these run once per batch, too rarely for V8
  // to optimize them soon, and an unoptimized for-of allocates an iterator result per element.
  for (let i = 0; i < events.length; i++) {
    const received = events[i]!;
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

/** What applying an effect needs of the engine. */
export type EffectHost = {
  options: EngineOptions;
  store: TriggerStore;
  clock: Clock;
  lanes: Lanes;
  deadLetters: Array<{ event: unknown; reason: string }>;
  /** The trackers of the runs the engine executes. */
  runs: ReadonlyMap<string, RunTracker>;
  /** The tracker of a task's run (made when missing). */
  tracker(task: Task): RunTracker;
  publish(events: EventEnvelope[]): Promise<void>;
  /** Stops what is left of a finished run and releases it. */
  endRun(runId: string): Promise<void>;
  /** State was written outside a batch (a timer fired): it is committed within the group-commit window. */
  written(): void;
};

/**
 * The second half: carries out one effect of a batch (its state writes join the batch's
 * transaction; what leaves the process waits in `batch.after` for the commit). A promise only
 * when the store (or the event log) made one.
 */
export function applyEffect(host: EffectHost, effect: Effect, batch: Batch): Promise<void> | undefined {
  const log = host.options.log;
  const after = batch.after;
  switch (effect.type) {
    case 'dispatch':
      for (const task of effect.tasks) {
        host.tracker(task).dispatched(task);
        log?.recordTask(task);
        if (!batch.external && !host.lanes.isLocal(task)) batch.external = true;
      }
      // One submission per batch, after the commit, critical-path tasks first (runtime/priority.ts).
      if (batch.dispatched.length === 0) after.push(() => host.lanes.submitAll(batch.dispatched));
      for (const task of effect.tasks) batch.dispatched.push(task); // not push(...): a fan-out may be wider than the stack
      return;
    case 'schedule': {
      batch.external = true;
      host.options.meter?.retry();
      const tracker = host.runs.get(effect.task.runId);
      if (!tracker || tracker.ended) return;
      const id = log?.addTimer(host.clock.now() + effect.delayMs, effect.task);
      after.push(() =>
        tracker.schedule(effect.delayMs, () => {
          if (id !== undefined) log!.removeTimer(id);
          if (tracker.ended) return;
          // Logged with the timer's removal, in one batch: the attempt gets its own task row
          // (and trace record) while a crash before the commit leaves the timer to fire again.
          log?.recordTask(effect.task);
          // Committed within the window, not with the next batch: a retry queued for a free slot may
          // see no batch for long, and status would show it still due.
          if (log) host.written();
          tracker.dispatched(effect.task);
          host.lanes.submit(effect.task);
        }, { task: effect.task, ...(id === undefined ? {} : { timerId: id }) }),
      );
      return;
    }
    case 'publish':
      // The local bus enqueues at once: nothing to wait for.
      void host.publish(effect.events);
      return;
    case 'ack': {
      const acked = host.store.markDispatched(effect.runId, effect.trigger, host.clock.now());
      return acked instanceof Promise ? acked : undefined;
    }
    case 'finish-run': {
      // Ending the run (stopping its tasks, releasing its state) is part of finishing it: no effect a crash could lose.
      batch.external = true;
      // Announced only when this ending moved the run (the batch commits both, or neither).
      return Promise.resolve(host.store.finishRun(effect.runId, endUpdate(host, effect.runId, effect.update))).then((finished) => {
        if (!finished) return;
        void host.publish(effect.events);
        after.push(() => host.endRun(effect.runId));
      });
    }
    case 'dead-letter':
      log?.deadLetter(effect.event, effect.reason, host.clock.now());
      host.deadLetters.push({ event: effect.event, reason: effect.reason });
      if (host.deadLetters.length > 10_000) host.deadLetters.shift();
      host.options.onDeadLetter?.(effect.event, effect.reason);
      return;
  }
}

/**
 * How a run's end is written: a run with executions still to stop has no end on file until they are gone (the engine's
 * endRun settles it then), so a reader sees it failed (cancelled, succeeded) with those steps running, never ended before
 * them. Only where the store can settle a run's end later (TriggerStore.settleRun).
 */
export function endUpdate(host: Pick<EffectHost, 'store' | 'lanes'>, runId: string, update: RunEnd): RunEnd {
  return host.store.settleRun && host.lanes.runningCount(runId) > 0 ? withoutEnd(update) : update;
}
