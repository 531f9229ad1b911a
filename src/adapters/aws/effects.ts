/**
 * Carries out the trigger processor's effects on AWS. Order matters and mirrors the embedded
 * engine: dispatch and publish first, `ack` (markDispatched) last, so that a crash in between
 * leaves a claimed-but-unacknowledged fire that a redelivery takes over after the lease.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DetailType, JOINFLOW_SOURCE, stepRef, type EventEnvelope } from '../../model/events.ts';
import type { EventBus, Task, TriggerStore } from '../../ports.ts';
import type { Effect } from '../../runtime/effects.ts';
import { UndispatchableError } from './dispatch.ts';
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
};

/** A delayed task on the timer queue. */
export type TimerMessage = { task: Task; dueAt: number };

/** Carries out effects in order; throws (so the invocation is retried) on infrastructure errors. */
export async function carryOut(effects: readonly Effect[], deps: EffectDeps): Promise<void> {
  for (const effect of effects) {
    switch (effect.type) {
      case 'dispatch':
        for (const task of effect.tasks) await dispatchOrFail(task, deps);
        break;
      case 'schedule':
        await scheduleTask(effect.task, deps.now() + effect.delayMs, deps);
        break;
      case 'publish':
        await deps.bus.publish(effect.events);
        break;
      case 'ack':
        await deps.store.markDispatched(effect.runId, effect.trigger, deps.now());
        break;
      case 'finish-run':
        if (await deps.store.finishRun(effect.runId, effect.update)) log('info', `run ${effect.update.status}`, { runId: effect.runId });
        break;
      case 'dead-letter':
        await deadLetter(effect.event, effect.reason, deps);
        break;
    }
  }
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

/** Puts a task on the timer queue to be dispatched at `dueAt`. */
export async function scheduleTask(task: Task, dueAt: number, deps: Pick<EffectDeps, 'sqs' | 'timerQueueUrl' | 'now'>): Promise<void> {
  if (!deps.timerQueueUrl) throw new Error('JOINFLOW_TIMER_QUEUE_URL is not set: retries with backoff need the timer queue');
  const seconds = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((dueAt - deps.now()) / 1000)));
  const body: TimerMessage = { task, dueAt };
  await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.timerQueueUrl, MessageBody: JSON.stringify(body), DelaySeconds: seconds }));
}

async function deadLetter(event: unknown, reason: string, deps: EffectDeps): Promise<void> {
  log('error', `dead letter: ${reason}`, {});
  if (!deps.dlqUrl) throw new Error(`cannot dead-letter an event (${reason}): JOINFLOW_DLQ_URL is not set`);
  await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.dlqUrl, MessageBody: JSON.stringify({ reason, event }) }));
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
