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
   * Move the run to its final status; the host then stops its running tasks and releases its
   * state. It comes after the event announcing it, so that a crash in between leaves the run
   * running and the redelivery announces it again (at least once).
   */
  | { type: 'finish-run'; runId: string; update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'> & { status: Exclude<RunStatus, 'running'> } }
  /** The event cannot be processed: keep it with the reason, never drop it silently. */
  | { type: 'dead-letter'; event: unknown; reason: string };
