/**
 * When a task waiting on the timer queue is due, kept in its run's items of the table for
 * `joinflow status --stage`: the SQS message that starts it (a step's `delayMs`, a retry's
 * backoff) cannot be read before it is due. The due time goes on the item the timer claims the
 * attempt with (`TRIG#$timer:<step>#<item>#<attempt>`, handlers/timer.ts), as `dueAt`:
 *
 * - one UpdateItem per `schedule` effect, once its message is on the queue (a due time noted is
 *   that of a message sent); a forEach's delayed start is noted once, on its first item's claim
 *   item: its items are due together;
 * - `if_not_exists`: an event handled again (a redelivery that takes its fire over) sends the
 *   message again, due later; the first message starts the attempt and the timer's claim drops
 *   the other, so the first due time stays;
 * - the timer's claim, on the same item, supersedes it: the attempt has started. The timers of a
 *   run that has ended are dropped, and status reads no due time of such a run. TTL deletes the
 *   item with the run's other working items (retention.ts).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Task } from '../../ports.ts';
import { n, num, sortKey, tableAccess, type Item } from './dynamodb-keys.ts';
import { log } from './log.ts';
import type { Retention } from './retention.ts';
import type { StepStatus } from './run-status.ts';

const TIMER_PREFIX = '$timer:';

/** The claim of one delayed attempt (a `TRIG#` item that is no step's: `status` skips `$` names). */
export function timerClaimId(task: Pick<Task, 'step' | 'item' | 'attempt'>): string {
  return `${TIMER_PREFIX}${task.step}#${task.item ?? ''}#${task.attempt}`;
}

/**
 * Notes when a scheduled task is due, on its timer claim's item. Never throws: the run goes on
 * without it, and a failed invocation would send its other effects again (a warning is logged).
 */
export function createDueNotes(client: DynamoDBClient, table: string, retention: Retention): (task: Task, dueAt: number) => Promise<void> {
  const db = tableAccess(client, table);
  return async (task, dueAt) => {
    try {
      await db.update(task.runId, sortKey.join(timerClaimId(task)), {
        names: ['dueAt', 'expiresAt'],
        UpdateExpression: 'SET #dueAt = if_not_exists(#dueAt, :due), #expiresAt = if_not_exists(#expiresAt, :exp)',
        ExpressionAttributeValues: { ':due': n(dueAt), ':exp': n(retention.working(task.workflow)) },
      });
    } catch (error) {
      log('warn', `could not note when the ${task.attempt > 1 ? 'retry' : 'delayed start'} is due (${(error as Error).message}): it runs all the same, and 'joinflow status' shows it as dispatched`, { runId: task.runId, step: task.step, attempt: task.attempt, ...(task.item === undefined ? {} : { item: task.item }) });
    }
  };
}

/** A timer claim's item as status reads it: whose attempt, when due (if noted), and whether the timer has claimed it. */
export type TimerNote = { step: string; item?: number; attempt: number; dueAt?: number; claimed: boolean };

/** The note of a `TRIG#<trigger>` item, or undefined when it is no timer claim's. */
export function timerNote(trigger: string, item: Item): TimerNote | undefined {
  if (!trigger.startsWith(TIMER_PREFIX)) return undefined;
  // Step ids have no '#' (STEP_ID_PATTERN): `<step>#<item>#<attempt>`, the item empty for a step without items.
  const [step, index, attempt] = trigger.slice(TIMER_PREFIX.length).split('#');
  if (!step || index === undefined || attempt === undefined) return undefined;
  const dueAt = num(item, 'dueAt');
  return {
    step,
    ...(index === '' ? {} : { item: Number(index) }),
    attempt: Number(attempt),
    ...(dueAt === undefined ? {} : { dueAt }),
    claimed: num(item, 'claimedAt') !== undefined,
  };
}

/**
 * Marks the steps of a running run that wait on the timer queue: `waiting` with `delay.dueAt`, a
 * step whose delayed start no item of has started yet; a retry not started yet as `unstarted`
 * (`waiting` too, unless other items of its forEach step run), the soonest one of a forEach step
 * with its item, and `retriesWaiting` when several of its items' retries wait.
 */
export function markWaiting(steps: Map<string, StepStatus>, notes: readonly TimerNote[]): void {
  const started = new Set<string>();
  for (const note of notes) if (note.claimed && note.attempt === 1) started.add(note.step);
  for (const note of notes) {
    if (note.claimed || note.dueAt === undefined) continue;
    const s = steps.get(note.step);
    // A step that has completed, failed for good or was stopped waits for nothing.
    if (!s || (s.state !== 'dispatched' && s.state !== 'waiting')) continue;
    if (note.attempt === 1) {
      if (started.has(note.step)) continue;
      s.state = 'waiting';
      s.delay = { dueAt: Math.min(note.dueAt, s.delay?.dueAt ?? Infinity) };
      continue;
    }
    if (note.item === undefined) s.state = 'waiting';
    else s.retriesWaiting = (s.retriesWaiting ?? 0) + 1;
    if (s.unstarted?.state === 'scheduled' && s.unstarted.dueAt <= note.dueAt) continue;
    s.unstarted = { attempt: note.attempt, state: 'scheduled', dueAt: note.dueAt, ...(note.item === undefined ? {} : { item: note.item }) };
  }
  for (const s of steps.values()) if (s.retriesWaiting === 1) delete s.retriesWaiting;
}

/**
 * Marks the steps of a run that has ended whose start (a `delayMs`) or retry still waited on the
 * timer queue then: the timer drops those messages, so they never start (`unstarted: {attempt,
 * state: 'cancelled'}`, of a forEach item with its item: the first one). A step that moved on
 * (completed, failed, stopped) keeps its state alone.
 */
export function markNeverStarted(steps: Map<string, StepStatus>, notes: readonly TimerNote[]): void {
  const started = new Set<string>();
  for (const note of notes) if (note.claimed && note.attempt === 1) started.add(note.step);
  for (const note of notes) {
    if (note.claimed || note.dueAt === undefined || (note.attempt === 1 && started.has(note.step))) continue;
    const s = steps.get(note.step);
    if (!s || s.state !== 'dispatched' || s.unstarted) continue;
    s.unstarted = { attempt: note.attempt, state: 'cancelled', ...(note.item === undefined ? {} : { item: note.item }) };
  }
}
