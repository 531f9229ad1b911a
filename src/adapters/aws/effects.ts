/**
 * Carries out the trigger processor's effects on AWS. Order matters and mirrors the embedded
 * engine: dispatch and publish first, `ack` (markDispatched) last, so that a crash in between
 * leaves a claimed-but-unacknowledged fire that a redelivery takes over after the lease.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DetailType, JOINFLOW_SOURCE, stepRef, type EventEnvelope } from '../../model/events.ts';
import type { BlobStore, EventBus, Task, TriggerStore } from '../../ports.ts';
import type { Effect } from '../../runtime/effects.ts';
import { UndispatchableError } from './dispatch.ts';
import { eventsDeadLetter } from './events-dead-letter.ts';
import { log } from './log.ts';

/** SQS's longest message delay; longer backoffs hop through the timer queue more than once. */
export const MAX_DELAY_SECONDS = 900;

/** What carrying out effects needs. */
export type EffectDeps = {
  store: TriggerStore;
  bus: EventBus;
  sqs: SQSClient;
  dispatch: (task: Task) => Promise<void>;
  timerQueueUrl: string | undefined;
  dlqUrl: string | undefined;
  now: () => number;
  newId: () => string;
  /** Stops the Batch jobs a run that has just ended left running (never throws; wiring.ts). */
  stopJobs?: ((runId: string, status: string) => Promise<void>) | undefined;
  /** Where a task too large for an SQS message waits for its retry (the stage's bucket). */
  blobs?: BlobStore | undefined;
  /** Notes when a task put on the timer queue is due, for `status` (never throws; timer-dues.ts). */
  noteDue?: ((task: Task, dueAt: number) => Promise<void>) | undefined;
};

/** A delayed task on the timer queue: inline, or (too large for SQS) a reference into the blob store. */
export type TimerMessage = { task: Task; dueAt: number } | { taskRef: string; dueAt: number };

/** SQS's message limit is 256 KiB; a timer message stays under it with room for the attributes. */
export const MAX_TIMER_MESSAGE_BYTES = 250_000;

/** Carries out effects in order; throws (so the invocation is retried) on infrastructure errors. */
export async function carryOut(effects: readonly Effect[], deps: EffectDeps): Promise<void> {
  for (let i = 0; i < effects.length; i++) {
    const effect = effects[i]!;
    switch (effect.type) {
      case 'dispatch':
        await dispatchAll(effect.tasks, deps);
        break;
      case 'schedule': {
        // A delayed forEach schedules each of its items: the run of schedules goes out as dispatches do.
        let end = i + 1;
        while (end < effects.length && effects[end]!.type === 'schedule') end++;
        await scheduleAll(effects.slice(i, end) as ReadonlyArray<Extract<Effect, { type: 'schedule' }>>, deps);
        i = end - 1;
        break;
      }
      case 'publish':
        await deps.bus.publish(effect.events);
        break;
      case 'ack':
        await deps.store.markDispatched(effect.runId, effect.trigger, deps.now());
        break;
      case 'finish-run':
        if (await deps.store.finishRun(effect.runId, effect.update)) {
          log('info', `run ${effect.update.status}`, { runId: effect.runId });
          await deps.bus.publish(effect.events);
          // What the run no longer needs (another branch's jobs, needs a `wait` step left behind) stops now.
          await deps.stopJobs?.(effect.runId, effect.update.status);
        } else if ((await deps.store.runStatus(effect.runId)) === effect.update.status) {
          // Ended so already: by this same ending, whose invocation may have died before it
          // announced it. Announced again (at least once); another ending is not announced.
          await deps.bus.publish(effect.events);
          // Nor did that invocation stop the jobs the run left running.
          await deps.stopJobs?.(effect.runId, effect.update.status);
        }
        break;
      case 'dead-letter':
        await deadLetter(effect.event, effect.reason, deps);
        break;
    }
  }
}

/** Dispatches at most this many tasks at once: a forEach of thousands is sent within the processor's time-out. */
export const DISPATCH_CONCURRENCY = 32;

/**
 * Dispatches a step's tasks, up to {@link DISPATCH_CONCURRENCY} at a time (one by one, 3,000
 * items at 20 ms each outlasted the processor's timeout (then 60 s), and each retry began again from the
 * first). An infrastructure error is thrown once every request in flight has ended.
 */
async function dispatchAll(tasks: readonly Task[], deps: EffectDeps): Promise<void> {
  await inLanes(tasks, (task) => dispatchOrFail(task, deps));
}

/** Runs `work` on each of `items`, up to {@link DISPATCH_CONCURRENCY} at a time; the first error is thrown once every call in flight has ended. */
async function inLanes<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DISPATCH_CONCURRENCY, items.length) }, lane));
  if (failed) throw failed.error;
}

/**
 * Puts tasks on the timer queue (a step's `delayMs`, a retry's backoff), up to
 * {@link DISPATCH_CONCURRENCY} at a time: a delayed forEach of thousands of items is queued
 * within the processor's timeout, as its dispatch would be. A task that can never be queued fails
 * its step for good; each one queued has its due time noted (a forEach's delayed start once, on
 * its first item: its items are due together).
 */
async function scheduleAll(effects: ReadonlyArray<Extract<Effect, { type: 'schedule' }>>, deps: EffectDeps): Promise<void> {
  const now = deps.now();
  // Which have their due time noted: every retry, and the first item of a forEach's delayed start.
  const starts = new Set<string>();
  const noted = new Set(effects.filter(({ task }) => task.attempt > 1 || (!starts.has(task.step) && starts.add(task.step))));
  await inLanes(effects, async (effect) => {
    const { task, delayMs } = effect;
    const dueAt = now + delayMs;
    try {
      await scheduleTask(task, dueAt, deps);
    } catch (error) {
      if (!(error instanceof UndispatchableError)) throw error;
      // The retry can never be queued: the step fails for good instead of the run hanging.
      log('error', error.message, { runId: task.runId, step: task.step });
      await deps.bus.publish([stepFailed(task, { type: 'Undispatchable', message: error.message }, false, deps)]);
      return;
    }
    if (noted.has(effect)) await deps.noteDue?.(task, dueAt);
  });
}

/** Dispatches a task; a task that can never run on AWS fails its step for good instead. */
export async function dispatchOrFail(task: Task, deps: Pick<EffectDeps, 'dispatch' | 'bus' | 'now' | 'newId'>): Promise<void> {
  try {
    await deps.dispatch(task);
    log('info', 'dispatched', { runId: task.runId, workflow: task.workflow, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }), executor: task.executor.type });
  } catch (error) {
    if (!(error instanceof UndispatchableError)) throw error;
    log('error', error.message, { runId: task.runId, step: task.step });
    await deps.bus.publish([stepFailed(task, { type: 'Undispatchable', message: error.message }, false, deps)]);
  }
}

/**
 * Puts a task on the timer queue to be dispatched at `dueAt`. A task too large for an SQS message
 * (a batch step's event may be) waits in the blob store, and the message carries its reference;
 * without a blob store it cannot be queued (UndispatchableError).
 */
export async function scheduleTask(task: Task, dueAt: number, deps: Pick<EffectDeps, 'sqs' | 'timerQueueUrl' | 'now' | 'blobs'>): Promise<void> {
  if (!deps.timerQueueUrl) throw new Error('JOINFLOW_TIMER_QUEUE_URL is not set: retries with backoff and delayed steps need the timer queue');
  const seconds = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((dueAt - deps.now()) / 1000)));
  let body = JSON.stringify({ task, dueAt } satisfies TimerMessage);
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_TIMER_MESSAGE_BYTES) {
    if (!deps.blobs) {
      throw new UndispatchableError(`the ${task.attempt > 1 ? 'retry' : 'delayed start'} of step "${task.step}" (attempt ${task.attempt}) is ${bytes} bytes, over the ${MAX_TIMER_MESSAGE_BYTES} bytes an SQS message may carry, and no bucket is configured to hold it`);
    }
    const ref = await deps.blobs.put(`timers/${task.runId}/${task.step}.${task.item ?? ''}.${task.attempt}.json`, JSON.stringify(task));
    body = JSON.stringify({ taskRef: ref, dueAt } satisfies TimerMessage);
  }
  await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.timerQueueUrl, MessageBody: body, DelaySeconds: seconds }));
}

/** Sends `{reason, event}` to the events DLQ; an event too large for that goes to the bucket, the message naming it (events-dead-letter.ts). */
async function deadLetter(event: unknown, reason: string, deps: EffectDeps): Promise<void> {
  log('error', `dead letter: ${reason}`, {});
  if (!deps.dlqUrl) throw new Error(`cannot dead-letter an event (${reason}): JOINFLOW_DLQ_URL is not set`);
  const letter = await eventsDeadLetter(event, reason, deps.blobs);
  if (letter.eventRef) log('error', `dead letter: the event (${letter.eventBytes} bytes) is too large for an SQS message beside its reason: kept at ${letter.eventRef}, which the message names (eventRef)`, {});
  else if (letter.eventBytes !== undefined) log('error', `dead letter: the event (${letter.eventBytes} bytes) is too large for an SQS message beside its reason and no bucket is configured: the message keeps its start (eventStart), the rest is lost`, {});
  await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.dlqUrl, MessageBody: letter.body }));
}

/** A Step Failed event for a task. */
export function stepFailed(
  task: Pick<Task, 'workflow' | 'runId' | 'step' | 'attempt' | 'item'> & { placement?: string | undefined },
  error: { type: string; message: string },
  retrying: boolean,
  deps: Pick<EffectDeps, 'now' | 'newId'>,
): EventEnvelope {
  return {
    id: deps.newId(),
    source: JOINFLOW_SOURCE,
    'detail-type': DetailType.StepFailed,
    time: new Date(deps.now()).toISOString(),
    detail: stepRef(task, { error, retrying }),
  };
}
