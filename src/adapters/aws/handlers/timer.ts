/**
 * The timer queue consumer: dispatches tasks whose retry backoff has passed. SQS delays are at
 * most 15 minutes, so a longer backoff is re-queued with the remaining delay.
 */
import { dispatchOrFail, scheduleTask, timerTask, type TimerMessage } from '../effects.ts';
import { log } from '../log.ts';
import { beginInvocation, wiring, type LambdaContext } from '../wiring.ts';

type SqsEvent = { Records: Array<{ messageId: string; body: string }> };

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
      await dispatchOrFail(task, w.effects);
    } catch (error) {
      log('error', `timer message failed: ${(error as Error).message}`, {});
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}
