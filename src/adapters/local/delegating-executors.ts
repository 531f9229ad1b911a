/**
 * How the AWS-only executor kinds run on the embedded engine: a `batch` step runs its `local`
 * command as a process, a `container` step runs its handler in the worker-thread pool or its
 * command as a process. The same workflow file thus runs on one machine and on AWS.
 */
import type { Executor, StepOutcome, StopSignal, Task } from '../../ports.ts';

function mismatch(kind: string, task: Task): StepOutcome {
  return { status: 'failed', error: { type: 'ExecutorMismatch', message: `${kind} executor got a '${task.executor.type}' task` }, retriable: false };
}

/** `batch` locally: the step's `local` command, through the process executor. */
export function createLocalBatchExecutor(processes: Executor): Executor {
  return {
    kind: 'batch',
    async execute(task: Task, signal: StopSignal): Promise<StepOutcome> {
      const e = task.executor;
      if (e.type !== 'batch') return mismatch('batch', task);
      if (!e.local) {
        return {
          status: 'failed',
          error: {
            type: 'NoLocalCommand',
            message: `batch step "${task.step}" (image ${e.image}) has no "local" command, so it cannot run on the embedded engine: add executor.local {command, args}`,
          },
          retriable: false,
        };
      }
      const env = { ...e.env, ...e.local.env };
      return processes.execute({ ...task, executor: { type: 'process', command: e.local.command, args: e.local.args, env, ...(e.local.cwd ? { cwd: e.local.cwd } : {}) } }, signal);
    },
    async close() {},
  };
}

/**
 * `container` locally: the handler module in the function pool, timed as a function step's (its
 * worker's start and its module's load are its init, and it starts when a thread takes it:
 * Executor.runner), or the command as a process.
 */
export function createLocalContainerExecutor(functions: Executor, processes: Executor): Executor {
  return {
    kind: 'container',
    runner: (task: Task) => (task.executor.type === 'container' && task.executor.module !== undefined ? functions : undefined),
    // Not async: the pool's own promise goes back, so that the lanes take a handler's end before
    // the next task on its thread begins (a microtask later, function-executor.ts), as for a function step.
    execute(task: Task, signal: StopSignal, began?: (started?: boolean) => void, begin?: (signal: StopSignal) => void): Promise<StepOutcome> {
      const e = task.executor;
      if (e.type !== 'container') return Promise.resolve(mismatch('container', task));
      if (e.module !== undefined) return functions.execute({ ...task, executor: { type: 'function', module: e.module, export: e.export } }, signal, began, begin);
      return processes.execute({ ...task, executor: { type: 'process', command: e.command!, args: e.args, env: e.env, ...(e.cwd ? { cwd: e.cwd } : {}) } }, signal);
    },
    async close() {},
  };
}
