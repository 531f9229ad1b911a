/** The task entries of the journal store's runs in memory (journal-core.ts has the runs). */
import type { Task } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import type { LiveRun } from './journal-core.ts';

/** The key of a task attempt within its run. */
// A step's first attempt without items, the most common, is keyed by the step's own string
// (its hash is computed once); step ids have no NUL, so no other key can equal it.
export const taskKey = (step: string, item: number | undefined, attempt: number): string =>
  item === undefined ? (attempt === 1 ? step : `${step}\u0000${attempt}`) : `${step}\u0000${item}\u0000${attempt}`;

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

/** The empty event a finished task's entry keeps instead of its payload. */
const NO_EVENT: Task['event'] = Object.freeze({ input: null, results: Object.freeze({}) }) as Task['event'];

/**
 * A finished task without its payload (the input and results it was given, its item): all that
 * the run's end needs of it (its attempt, placement, times), so that a long run does not hold
 * every payload in memory until it ends. Its full task is on file.
 */
export function slimTask(task: Task): Task {
  const slim: Task = { workflow: task.workflow, runId: task.runId, step: task.step, attempt: task.attempt, maxAttempts: task.maxAttempts, executor: task.executor, event: NO_EVENT };
  if (task.item !== undefined) slim.item = task.item;
  if (task.placement !== undefined) slim.placement = task.placement;
  return slim;
}
