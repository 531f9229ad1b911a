/**
 * The timer queue consumer: dispatches tasks whose retry backoff (or start delay) has passed. SQS
 * delays are at most 15 minutes, so a longer backoff is re-queued with the remaining delay.
 *
 * SQS delivers a message at least once, and a batch whose invocation dies is delivered again
 * whole: each due task is therefore claimed in the table before it is dispatched, as the
 * processor claims a trigger's fire (runtime/join.ts), so that a duplicate does not run the
 * attempt again. A claim never acknowledged within the lease (the invocation died between claim
 * and dispatch) is taken over by the message's redelivery, which comes after its visibility
 * timeout, longer than the lease. The lease is this function's timeout plus a margin
 * (config.leaseMs, deploy/leases.cjs): a duplicate message does not take the claim over from an
 * invocation still dispatching the attempt.
 */
import type { Task } from '../../../ports.ts';
import { dispatchOrFail, scheduleTask, timerTask, type TimerMessage } from '../effects.ts';
import { log } from '../log.ts';
import { beginInvocation, wiring, type LambdaContext } from '../wiring.ts';

type SqsEvent = { Records: Array<{ messageId: string; body: string }> };

/** The claim of one delayed attempt (a `TRIG#` item that is no step's: `status` skips `$` names). */
export function timerClaimId(task: Pick<Task, 'step' | 'item' | 'attempt'>): string {
  return `$timer:${task.step}#${task.item ?? ''}#${task.attempt}`;
}

/** Lambda entry point (SQS event source with ReportBatchItemFailures). */
export async function handler(event: SqsEvent, context?: LambdaContext): Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }> {
  beginInvocation(context);
  const w = wiring();
  const failures: Array<{ itemIdentifier: string }> = [];
  for (const record of event.Records) {
    try {
      const message = JSON.parse(record.body) as TimerMessage;
      const { dueAt } = message;
      const task = await timerTask(message, w.blobs);
      if (dueAt - w.effects.now() > 1000) {
        await scheduleTask(task, dueAt, w.effects);
        continue;
      }
      const run = await w.store.getRun(task.runId);
      // A run that ended (failed, cancelled) while the task waited gets nothing new.
      if (run?.status !== 'running') {
        log('info', 'retry dropped: run not running', { runId: task.runId, step: task.step });
        continue;
      }
      const claim = timerClaimId(task);
      if ((await w.store.claim(task.runId, claim, w.effects.now(), w.config.leaseMs)) === 'taken') {
        log('info', 'not dispatched: a duplicate of a timer message already dispatched (or dispatching) this attempt', { runId: task.runId, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }) });
        continue;
      }
      await dispatchOrFail(task, w.effects);
      await w.store.markDispatched(task.runId, claim, w.effects.now());
    } catch (error) {
      log('error', `timer message failed: ${(error as Error).message}`, {});
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}
