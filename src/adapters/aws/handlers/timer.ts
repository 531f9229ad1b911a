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
 * invocation still dispatching the attempt. The claim's item may already hold when the attempt
 * is due, noted for `status` when the processor scheduled it (timer-dues.ts).
 *
 * A message that can never be processed goes to the timer DLQ at its first receive, with the
 * reason (dead-letter-queue.ts); one that failed for a reason a retry may fix is reported as a
 * batch item failure, so that SQS delivers it again after its visibility timeout.
 */
import type { Task } from '../../../ports.ts';
import { createDeadLetters } from '../dead-letter-queue.ts';
import { dispatchOrFail, scheduleTask } from '../effects.ts';
import { log } from '../log.ts';
import { timerClaimId } from '../timer-dues.ts';
import { readTimerMessage } from '../timer-message.ts';
import { beginInvocation, wiring, type LambdaContext, type Wiring } from '../wiring.ts';

/** The SQS event a Lambda event source mapping hands over (the fields the timer reads). */
type SqsEvent = { Records: Array<{ messageId: string; body: string; attributes?: { ApproximateReceiveCount?: string } }> };

/** Lambda entry point (SQS event source with ReportBatchItemFailures). */
export async function handler(event: SqsEvent, context?: LambdaContext): Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }> {
  beginInvocation(context);
  const w = wiring();
  const failures: Array<{ itemIdentifier: string }> = [];
  for (const record of event.Records) {
    let task: Task | undefined;
    try {
      const read = await readTimerMessage(record.body, w.blobs);
      if ('reason' in read) {
        if (!(await deadLetter(record, read.reason, w))) failures.push({ itemIdentifier: record.messageId });
        continue;
      }
      task = read.task;
      await dueTask(task, read.dueAt, w);
    } catch (error) {
      const about = task === undefined ? {} : { runId: task.runId, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }) };
      log('error', `timer message ${record.messageId} failed (it comes back after its visibility timeout): ${(error as Error).message}`, { messageId: record.messageId, ...about });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}

/**
 * Sends a message that can never be processed (not JSON, not a timer message, its task object
 * gone or damaged) to the timer DLQ at once, with the reason; true when it went (the message is
 * then deleted as processed). Left to the queue's redrive policy otherwise: received again
 * after each visibility timeout, the DLQ after maxReceiveCount receives, without the reason.
 */
async function deadLetter(record: SqsEvent['Records'][number], reason: string, w: Wiring): Promise<boolean> {
  const receives = record.attributes?.ApproximateReceiveCount;
  const what = `unprocessable timer message ${record.messageId} (receive ${receives ?? '?'}): ${reason}`;
  const dlqUrl = w.config.timerDlqUrl;
  const out = dlqUrl === undefined
    ? { sent: false as const, why: 'JOINFLOW_TIMER_DLQ_URL is not set' }
    : await createDeadLetters({ sqs: w.effects.sqs, queueUrl: w.config.timerQueueUrl ?? 'the timer queue', dlqUrl }).send({ messageId: record.messageId, body: record.body, receiveCount: receives }, reason);
  if (out.sent) {
    log('error', `${what}; sent to the timer dead-letter queue with the reason (attribute joinflow-reason) and deleted`, { messageId: record.messageId });
    return true;
  }
  log('error', `${what}; left for the queue's redrive policy (the timer dead-letter queue after its receives), as it could not be sent there: ${out.why}`, { messageId: record.messageId });
  return false;
}

/** Dispatches a task whose time has come, once however often its message comes; re-queues one not due yet. */
async function dueTask(task: Task, dueAt: number, w: Wiring): Promise<void> {
  if (dueAt - w.effects.now() > 1000) {
    await scheduleTask(task, dueAt, w.effects);
    return;
  }
  // The status alone: an ended run's output, perhaps in the bucket (gone, even), is not read.
  const status = await w.store.runStatus(task.runId);
  // A run that ended (failed, cancelled) while the task waited gets nothing new.
  if (status !== 'running') {
    log('info', 'retry dropped: run not running', { runId: task.runId, step: task.step });
    return;
  }
  const claim = timerClaimId(task);
  if ((await w.store.claim(task.runId, claim, w.effects.now(), w.config.leaseMs)) === 'taken') {
    log('info', 'not dispatched: a duplicate of a timer message already dispatched (or dispatching) this attempt', { runId: task.runId, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }) });
    return;
  }
  await dispatchOrFail(task, w.effects);
  await w.store.markDispatched(task.runId, claim, w.effects.now());
}
