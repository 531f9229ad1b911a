/** A timer queue message as the timer receives it: an SQS message body, checked before it is acted on. */
import { z } from 'zod';
import type { TimerMessage } from './effects.ts';
import { bodyIssues, jsonBody } from './message-body.ts';

/** Epoch ms the task is due at. */
const DueAtSchema = z.number().finite();

/**
 * What the timer reads of a task before it dispatches it (dispatch checks the executor). zod
 * because the body is foreign input: anything with send rights on the queue may have put it.
 */
const TaskSchema = z.looseObject({
  workflow: z.string().min(1),
  runId: z.string().min(1),
  step: z.string().min(1),
  item: z.number().int().nonnegative().optional(),
  attempt: z.number().int().min(1),
  executor: z.looseObject({ type: z.string() }),
});

/** scheduleTask's two forms (effects.ts): the task inline, or a reference to it in the blob store. */
const InlineSchema = z.object({ task: TaskSchema, dueAt: DueAtSchema });
const RefSchema = z.object({ taskRef: z.string().min(1), dueAt: DueAtSchema });

/** The message, or why the body is not one (a body that is not JSON, or not a timer message). */
export function parseTimerMessage(body: string | undefined): { message: TimerMessage } | { reason: string } {
  const read = jsonBody(body);
  if ('reason' in read) return read;
  const json = read.json;
  const byRef = json !== null && typeof json === 'object' && 'taskRef' in json;
  const parsed = (byRef ? RefSchema : InlineSchema).safeParse(json);
  if (!parsed.success) {
    return { reason: `not a timer message: ${bodyIssues(parsed.error)}` };
  }
  return { message: parsed.data as TimerMessage };
}
