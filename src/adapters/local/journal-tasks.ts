/** The open tasks of the journal store's runs in memory (journal-core.ts has the runs). */
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { taskKey, type LiveRun } from './journal-core.ts';

/**
 * Open task entries by the task objects the engine recorded (it reports starts and ends with the
 * same object), so that the hot path builds no key. A Map, emptied as tasks finish and runs are
 * released: a WeakMap entry costs the garbage collector more than this one costs.
 */
export class OpenTasks {
  readonly #byTask = new Map<Task, TaskEntry>();

  /** Records a task entry in its run; false when the run has this attempt already. */
  add(run: LiveRun, task: Task): boolean {
    const key = taskKey(task.step, task.item, task.attempt);
    if (run.tasks.has(key)) return false;
    const entry: TaskEntry = { task, status: 'dispatched' };
    run.tasks.set(key, entry);
    this.#byTask.set(task, entry);
    return true;
  }

  /** A task entry by its task, in a loaded run. */
  get(run: LiveRun, task: Task): TaskEntry | undefined {
    const hit = this.#byTask.get(task);
    if (hit && hit.task.runId === run.record.runId) return hit;
    return run.tasks.get(taskKey(task.step, task.item, task.attempt));
  }

  /** The task finished: no more reports of it are expected (a late one takes the slow path). */
  finished(task: Task): void {
    this.#byTask.delete(task);
  }

  /** The run left memory. */
  released(run: LiveRun): void {
    for (const e of run.tasks.values()) this.#byTask.delete(e.task);
  }

  clear(): void {
    this.#byTask.clear();
  }
}
