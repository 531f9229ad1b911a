import type { EventEnvelope } from '../model/events.ts';
import type { RunRecord, RunStatus, Task } from '../ports.ts';

/**
 * What the trigger processor asks its host to do. The processor itself does no I/O besides the
 * store; the host (embedded engine or Lambda handler) carries effects out in order, after
 * `store.commit()`.
 */
export type Effect =
  /** Hand tasks to executors. */
  | { type: 'dispatch'; tasks: Task[] }
  /** Hand a task to its executor after a delay (retry backoff, or a step's delayMs). */
  | { type: 'schedule'; delayMs: number; task: Task }
  | { type: 'publish'; events: EventEnvelope[] }
  /** The fire of `trigger` has been carried out: record it so redelivery does not redo it. */
  | { type: 'ack'; runId: string; trigger: string }
  /**
   * Move the run to its final status, then publish `events` (Run Succeeded or Run Failed); the
   * host then stops its running tasks and releases its state. Only the ending that moves the run
   * is announced: a run that a cancel or another ending got to first is not announced twice, as
   * two endings. Where a crash can come between the two (AWS), a redelivery that finds the run
   * already ended with the same status announces it again (at least once).
   */
  | { type: 'finish-run'; runId: string; update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'> & { status: Exclude<RunStatus, 'running'> }; events: EventEnvelope[] }
  /** The event cannot be processed: keep it with the reason, never drop it silently. */
  | { type: 'dead-letter'; event: unknown; reason: string };

/** The event cannot be processed, for `reason`: it goes to the dead letters. */
export function deadLetter(event: unknown, reason: string): Effect {
  return { type: 'dead-letter', event, reason };
}
