/** A timer queue message as the timer receives it: an SQS message body, checked before it is acted on. */
import { z } from 'zod';
import { JoinflowError } from '../../model/errors.ts';
import type { BlobStore, Task } from '../../ports.ts';
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

/** Blob store errors that no retry fixes: a reference that is not the stage's, an object that is gone. */
const LOST_BLOB = new Set(['INVALID_BLOB_REF', 'BLOB_NOT_FOUND']);

/**
 * The task of a timer message and when it is due, reading the task from the blob store when the
 * message holds a reference and checking it as an inline one is; or why it can never be read (a
 * malformed body, an object gone from the bucket or damaged). Throws what a retry may fix
 * (S3 unreachable, throttled, access denied) and a reference without a bucket to read it from.
 */
export async function readTimerMessage(body: string | undefined, blobs: BlobStore | undefined): Promise<{ task: Task; dueAt: number } | { reason: string }> {
  const parsed = parseTimerMessage(body);
  if ('reason' in parsed) return parsed;
  const message = parsed.message;
  if ('task' in message) return { task: message.task, dueAt: message.dueAt };
  if (!blobs) throw new Error(`the message refers to its task in ${message.taskRef}, but no bucket is configured to read it from (JOINFLOW_BUCKET)`);
  let text: string;
  try {
    text = await blobs.get(message.taskRef);
  } catch (error) {
    if (error instanceof JoinflowError && LOST_BLOB.has(error.code)) return { reason: `its task cannot be read: ${error.message}` };
    throw error;
  }
  const read = jsonBody(text);
  if ('reason' in read) return { reason: `its task object ${message.taskRef} is damaged: ${read.reason === 'empty body' ? 'it is empty' : read.reason.replace(/^body/, 'it')}` };
  const task = TaskSchema.safeParse(read.json);
  if (!task.success) return { reason: `its task object ${message.taskRef} is not a task: ${bodyIssues(task.error)}` };
  return { task: task.data as Task, dueAt: message.dueAt };
}
