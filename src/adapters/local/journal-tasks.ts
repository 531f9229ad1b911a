/** The task entries of the journal store's runs in memory (journal-core.ts has the runs). */
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { taskKey, type LiveRun } from './journal-core.ts';

/**
 * Records a task entry in its run; false when the run has this attempt already. The entry has
 * its times from the start (undefined until known), so that recording them does not change its
 * shape. A step's first attempt without items is keyed by the step's own string (see taskKey):
 * finding an entry by it costs no more than by the task object, and needs no map of its own.
 */
export function addTask(run: LiveRun, task: Task): boolean {
  return run.tasks.add(taskKey(task.step, task.item, task.attempt), { task, status: 'dispatched', startedAt: undefined, finishedAt: undefined });
}

/** A task entry by its task, in a loaded run. */
export function taskEntry(run: LiveRun, task: Task): TaskEntry | undefined {
  return run.tasks.get(taskKey(task.step, task.item, task.attempt));
}
