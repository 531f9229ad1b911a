/** Whether a container task's run is still running, for `joinflow worker` (worker.ts): read from the stage's table. */
import type { Task } from '../../ports.ts';

/** The abort reason of a task stopped because its run ended: `run ended: <status>`. */
export const RUN_ENDED = 'run ended';

/** Reads and watches the status of tasks' runs. */
export type RunWatch = {
  /** The status of the task's run when it has ended; undefined while running, unknown, or unreadable. */
  ended(task: Task): Promise<string | undefined>;
  /** Aborts the task (reason {@link RUN_ENDED}) once its run has ended, checked every `checkMs`; returns the stop. */
  watch(task: Task, controller: AbortController): () => void;
};

/**
 * A watch over `runStatus` (WorkerOptions.runStatus). Unset, or failing once: every task runs to
 * its end (said once, as is a run the table does not have).
 */
export function createRunWatch(options: {
  runStatus: ((runId: string) => Promise<string | undefined>) | undefined;
  checkMs: number | undefined;
  warn: (message: string) => void;
  describe: (error: unknown) => string;
}): RunWatch {
  const { runStatus, warn, describe } = options;
  let statusUnreadable = false;
  let unknownRunSaid = false;

  async function ended(task: Task): Promise<string | undefined> {
    if (!runStatus || statusUnreadable) return undefined;
    try {
      const status = await runStatus(task.runId);
      if (status === undefined && !unknownRunSaid) {
        // A run starts in the table before any of its tasks: not finding it means another table.
        unknownRunSaid = true;
        warn(`run ${task.runId} is not in the table the worker reads run status from: its tasks run to their end (is --stage or --table the stage of this queue?)`);
      }
      return status !== undefined && status !== 'running' ? status : undefined;
    } catch (error) {
      statusUnreadable = true;
      warn(`cannot read the status of run ${task.runId} (${describe(error)}): tasks run to their end even when their run has ended`);
      return undefined;
    }
  }

  function watch(task: Task, controller: AbortController): () => void {
    if (!runStatus) return () => {};
    let busy = false;
    const timer = setInterval(() => {
      if (busy || controller.signal.aborted) return;
      busy = true;
      void ended(task)
        .then((status) => {
          if (status !== undefined && !controller.signal.aborted) controller.abort(`${RUN_ENDED}: ${status}`);
        })
        .finally(() => {
          busy = false;
        });
    }, Math.max(50, options.checkMs ?? 30_000));
    return () => clearInterval(timer);
  }

  return { ended, watch };
}
