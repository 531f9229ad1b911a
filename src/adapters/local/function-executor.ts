/**
 * Runs Lambda-style handlers in a pool of worker threads, so a CPU-bound handler cannot stall the
 * engine's event loop and a runaway one can be stopped (terminating its worker is the only way).
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Executor, StepOutcome, Task, StopSignal } from '../../ports.ts';
import type { Owner, WorkerNotice, WorkerReply, WorkerRequest } from './function-protocol.ts';
import { COMPILED, startHandlerWorker, workerExecArgv } from './handler-worker-start.ts';
import { INIT_LIMIT_MS } from './lanes.ts';
import { terminateWithin } from './stuck-threads.ts';
import { COMPILED_HERE, transpile } from './ts-transpiler.ts';
import { failed, ownFault, uncaughtLeftover, uncaughtOwn, workerExited } from './worker-faults.ts';
import { workerProcesses, type WorkerProcesses } from './worker-processes.ts';

/** Options of {@link createFunctionExecutor}. */
export type FunctionExecutorOptions = {
  /** Most worker threads alive at once; default os.availableParallelism(). */
  threads?: number;
  /**
   * Most workers warming up at once (starting, or loading the module of their first handler);
   * default one less than os.availableParallelism(), at least 1. On 2 CPUs two workers that load
   * TypeScript at once beside the engine each take ~1.5 times as long as one alone.
   */
  warming?: number;
  /**
   * How long a worker may warm up (start and import the pool's modules, or load its first task's
   * module) before it counts as stuck; default INIT_LIMIT_MS, Lambda's limit on Init.
   */
  warmUpLimitMs?: number;
  /**
   * How long an aborted attempt (a timeout, a cancel) waits for its worker to stop before it ends
   * anyway; default 2000 ms, as a process step's grace before SIGKILL. Only a thread blocked in a
   * native call takes longer. Also the grace of the processes its handlers started, which are
   * stopped when a worker ends (SIGTERM, then SIGKILL).
   */
  terminateGraceMs?: number;
  /** Where handlers' stdout (console.log) goes; default: the process's stdout. `joinflow run` sends it to stderr. */
  output?: NodeJS.WritableStream;
  /** Where the pool's own notes go (a callback a finished handler left behind threw); default: the process's stderr. */
  warn?: (line: string) => void;
};

const ABORTED: StepOutcome = Object.freeze({ status: 'aborted' });

type Job = {
  request: WorkerRequest;
  signal: StopSignal;
  resolve: (outcome: StepOutcome) => void;
  onAbort: () => void;
  slot: Slot | undefined;
  /** When it was posted to its worker (performance.now()). */
  postedAt: number;
  /** When it was handed to the pool. */
  queuedAt: number;
  /** It waited for a worker to warm up (none was ready when it came): that wait is its init. */
  waitedForWarmUp: boolean;
  /** Told when the handler starts (its timeout counts from then; Executor.initPhase). */
  began: (() => void) | undefined;
};

type Slot = {
  worker: Worker;
  job: Job | undefined;
  /** The uncaught error reported before the worker exited, if any. */
  crash: Error | undefined;
  /** Terminated on purpose (abort or close): its exit is not a crash. */
  retired: boolean;
  /** Not ready yet (the thread starts): it takes no job until it says it is. */
  starting: boolean;
  /** Started with modules to import before it is ready (see slowWarmUp). */
  preloading: boolean;
  /** Starting, or running its first job and not yet in the handler (loading its module). */
  warming: boolean;
  /** Started before `refresh()`: retired instead of taking another job. */
  stale?: boolean;
  /** Ends its warm-up if it takes longer than the limit (see slowWarmUp). */
  warmUpTimer?: NodeJS.Timeout;
  /** The processes its handlers started: stopped when it ends. */
  processes: WorkerProcesses;
};

/**
 * Creates the `function` executor. Workers start lazily, up to `threads`, and at most `warming` at
 * once; tasks queue and each goes to the first worker that is ready for it, not to one that is
 * still starting.
 */
export function createFunctionExecutor(options: FunctionExecutorOptions = {}): Executor {
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const maxWarming = Math.max(1, Math.floor(options.warming ?? availableParallelism() - 1));
  const warmUpLimitMs = options.warmUpLimitMs ?? INIT_LIMIT_MS;
  const terminateGraceMs = options.terminateGraceMs ?? 2000;
  const execArgv = workerExecArgv(process.execArgv);
  const warn = options.warn ?? ((line: string) => void process.stderr.write(line));
  const slots = new Set<Slot>();
  const idle: Slot[] = [];
  const queue: Job[] = [];
  /** Handler modules asked for so far: a new worker imports them before it takes a job. */
  const modules = new Set<string>();
  let nextId = 1;
  let closed = false;

  function spawn(): Slot {
    const worker = startHandlerWorker([...modules], options.output, execArgv);
    const processes = workerProcesses(worker, terminateGraceMs, warn);
    const slot: Slot = { worker, job: undefined, crash: undefined, retired: false, starting: true, preloading: modules.size > 0, warming: true, processes };
    worker.on('message', (message: WorkerReply | WorkerNotice) => ('notice' in message ? onNotice(slot, message) : onReply(slot, message)));
    worker.on('error', (err: Error) => {
      slot.crash = err;
    });
    worker.on('exit', (code: number) => onExit(slot, code));
    slots.add(slot);
    watchWarmUp(slot);
    return slot;
  }

  function watchWarmUp(slot: Slot): void {
    clearTimeout(slot.warmUpTimer);
    slot.warmUpTimer = setTimeout(() => slowWarmUp(slot), warmUpLimitMs).unref();
  }

  /**
   * A worker still warming up after the limit is stuck importing a module (an endless loop or a
   * promise that never settles at its top level), and while it warms no other worker may start.
   * One still starting holds no task: it goes, and the next one starts without the modules it
   * preloaded. One loading the module of its first task keeps it (that task's timeout stops it)
   * but no longer counts as warming, and its module is not preloaded again. One starting with no
   * module to import is only slow (a busy machine): waited for, not retired, and the next likewise.
   */
  function slowWarmUp(slot: Slot): void {
    if (!slot.warming || slot.retired || !slots.has(slot)) return;
    if (slot.starting && !slot.preloading) return watchWarmUp(slot);
    if (slot.starting) {
      modules.clear();
      void retire(slot);
      return;
    }
    slot.warming = false;
    if (slot.job !== undefined) modules.delete(slot.job.request.module);
    while (!grow());
  }

  function assign(slot: Slot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    job.postedAt = performance.now();
    slot.worker.ref();
    try {
      slot.worker.postMessage(job.request);
      // A ready worker runs the handler now, unless it loads the module first ('started' then).
      job.began?.();
    } catch (err) {
      finish(job, failed('InputNotSerializable', `step event cannot be structured-cloned: ${String(err)}`, false));
      release(slot);
    }
  }

  function warmingCount(): number {
    let n = 0;
    for (const s of slots) if (s.warming) n++;
    return n;
  }

  /** Starts a worker when jobs wait for one and there is room; false when it could not start. */
  function grow(): boolean {
    if (closed || queue.length === 0 || idle.length > 0 || slots.size >= threads || warmingCount() >= maxWarming) return true;
    try {
      spawn();
      return true;
    } catch (err) {
      const job = queue.shift()!;
      finish(job, failed('WorkerStartFailed', `cannot start a handler worker: ${String(err)}`, false));
      return false;
    }
  }

  function dispatch(job: Job): void {
    const slot = idle.pop();
    if (slot !== undefined) return assign(slot, job);
    job.waitedForWarmUp = warmingCount() > 0 || slots.size < threads;
    queue.push(job);
    while (!grow());
  }

  function finish(job: Job, outcome: StepOutcome): void {
    job.signal.removeEventListener('abort', job.onAbort);
    job.slot = undefined;
    job.resolve(outcome);
  }

  function release(slot: Slot): void {
    slot.job = undefined;
    // Started before the code changed: it ends, and a worker with an empty module cache takes its place.
    if (slot.stale) return void retire(slot);
    const next = queue.shift();
    if (next !== undefined) return assign(slot, next);
    // An idle pool must not keep the process alive if the caller forgets close().
    slot.worker.unref();
    idle.push(slot);
  }

  /** The worker is ready for a job; or the handler of its first one has begun (it is warm). */
  function onNotice(slot: Slot, notice: WorkerNotice): void {
    if (notice.notice === 'spawned' || notice.notice === 'reaped') return slot.processes.note(notice);
    if (notice.notice === 'uncaught') {
      onUncaught(slot, notice.owner, notice.error);
    } else if (notice.notice === 'ready') {
      if (!slot.starting || slot.retired) return;
      slot.starting = false;
      // Without modules to preload, it warms up on its first task's module: counted from now.
      if (notice.warm) slot.warming = false;
      else watchWarmUp(slot);
      release(slot);
    } else if (slot.job?.request.id === notice.id) {
      slot.warming = false;
      slot.job.began?.();
    }
    while (!grow());
  }

  function onReply(slot: Slot, reply: WorkerReply): void {
    const job = slot.job;
    if (job === undefined || job.request.id !== reply.id) return;
    const outcome: StepOutcome = reply.ok ? { status: 'succeeded', output: reply.output } : failed(reply.error.type, reply.error.message, reply.retriable);
    // Waiting for a worker to warm up, or for the handler's module to be imported: that time is
    // the attempt's init (as a Lambda cold start's), told apart from the handler's own.
    if (reply.handlerMs !== undefined && (job.waitedForWarmUp || reply.loaded === true) && outcome.status !== 'aborted') {
      const since = job.waitedForWarmUp ? job.queuedAt : job.postedAt;
      outcome.initMs = Math.max(0, Math.round(performance.now() - since - reply.handlerMs));
    }
    slot.warming = false;
    finish(job, outcome);
    release(slot);
    while (!grow());
  }

  function onExit(slot: Slot, code: number): void {
    forget(slot);
    // It exited by itself (process.exit(), a crash): what its handlers started goes too.
    void slot.processes.stop();
    clearTimeout(slot.warmUpTimer);
    const why = slot.crash ? `${slot.crash.name}: ${slot.crash.message}` : `exited with code ${code}`;
    // A worker that died before it was ready fails the first job waiting for it (retriable, as a
    // crash): starting workers that always die must not go on for ever.
    const job = slot.job ?? (slot.starting && !slot.retired ? queue.shift() : undefined);
    // Modules that may have killed it are not preloaded again: its job's, or (starting) all of them.
    if (!slot.retired) {
      if (slot.starting) modules.clear();
      else if (slot.job !== undefined) modules.delete(slot.job.request.module);
    }
    slot.job = undefined;
    if (job !== undefined && !slot.retired) finish(job, workerExited(job.request, slot.starting, why));
    while (!grow());
  }

  /**
   * A callback threw and nothing caught it (handler-leftovers.ts). If it is the running task's,
   * that task fails. If a finished task left it (or another module's top-level code), that task's
   * outcome stands and it is said on stderr; the task running goes on, and the worker, whose
   * state nobody can vouch for any more, goes when it is free (now, when idle).
   */
  function onUncaught(slot: Slot, owner: Owner | undefined, error: string): void {
    if (slot.retired || !slots.has(slot)) return;
    // Not imported ahead of a new worker's first task again: it would throw there too.
    if (owner !== undefined && 'module' in owner) modules.delete(owner.module);
    const job = slot.job;
    if (job !== undefined && ownFault(job.request, owner)) {
      slot.job = undefined;
      modules.delete(job.request.module);
      finish(job, uncaughtOwn(job.request, owner, error));
    } else {
      warn(uncaughtLeftover(owner, error, job?.request));
      slot.stale = true;
      if (job !== undefined) return;
    }
    const at = idle.indexOf(slot);
    if (at >= 0) idle.splice(at, 1);
    void retire(slot);
  }

  /**
   * Ends a worker, and the processes its handlers started, first: a thread blocked waiting for one
   * of them (execSync) can only stop once it is gone. A thread blocked in another native call (a
   * read that never returns) stops only when the call returns, if ever: after the grace it is
   * given up on (stuck-threads.ts), and no longer counted against the pool's size, so that it
   * cannot leave the pool without workers. `req`: the task it ran, named if it is stuck.
   */
  async function retire(slot: Slot, req = slot.job?.request): Promise<void> {
    slot.retired = true;
    const stopping = slot.processes.stop();
    const what = req === undefined ? 'an idle handler worker' : `the handler ${req.module}#${req.export} of step '${req.step}' (attempt ${req.attempt}, run ${req.runId})`;
    if (!(await terminateWithin(slot.worker, terminateGraceMs, what))) {
      forget(slot);
      while (!grow());
    }
    // What it started before it stopped, if it did.
    await Promise.all([stopping, slot.processes.stop()]);
  }

  function abort(job: Job): void {
    const slot = job.slot;
    if (slot === undefined) {
      const at = queue.indexOf(job);
      if (at >= 0) queue.splice(at, 1);
      finish(job, ABORTED);
      return;
    }
    slot.job = undefined;
    // Resolved once the thread is gone (or given up on), so a retry never competes with the
    // runaway for a CPU.
    void retire(slot, job.request).then(() => finish(job, ABORTED));
  }

  /** A retired worker that has not stopped yet: out of the pool's count (its exit changes nothing then). */
  function forget(slot: Slot): void {
    slots.delete(slot);
    const at = idle.indexOf(slot);
    if (at >= 0) idle.splice(at, 1);
  }

  return {
    kind: 'function',
    local: true,
    initPhase: true,

    execute(task: Task, signal: StopSignal, began?: () => void): Promise<StepOutcome> {
      const spec = task.executor;
      if (spec.type !== 'function') {
        return Promise.resolve(failed('ExecutorMismatch', `function executor got a '${spec.type}' task`, false));
      }
      if (closed) return Promise.resolve(failed('ExecutorClosed', 'function executor is closed', true));
      if (signal.aborted) return Promise.resolve(ABORTED);
      return new Promise<StepOutcome>((resolve) => {
        const job: Job = {
          request: {
            id: nextId++,
            module: spec.module,
            export: spec.export,
            event: task.event,
            workflow: task.workflow,
            runId: task.runId,
            step: task.step,
            attempt: task.attempt,
            item: task.item,
            timeoutMs: task.timeoutMs,
            runStartedAt: task.runStartedAt,
          },
          signal,
          resolve,
          onAbort: () => abort(job),
          slot: undefined,
          postedAt: 0,
          queuedAt: performance.now(),
          waitedForWarmUp: false,
          began,
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
        if (modules.size < 64 && !modules.has(spec.module)) {
          modules.add(spec.module);
          // Compiled while a worker starts for it, rather than when the worker asks.
          if (COMPILED && COMPILED_HERE.test(spec.module)) void transpile(spec.module);
        }
        dispatch(job);
      });
    },

    refresh(): number {
      // ESM keeps a module for the life of its thread (a fresh import of a handler reloads the
      // handler, not what it imports): the workers go, idle ones now, busy ones after their job.
      let n = 0;
      for (const slot of slots) {
        if (slot.retired || slot.stale) continue;
        slot.stale = true;
        n++;
      }
      for (const slot of idle.splice(0)) void retire(slot);
      // One still importing its preloads holds no task: it goes now too. Its import may never end
      // (a top-level endless loop, since fixed), and while it warmed up no other worker started.
      for (const slot of slots) if (slot.starting && !slot.retired) void retire(slot);
      return n;
    },

    async close(): Promise<void> {
      closed = true;
      for (const job of queue.splice(0)) finish(job, failed('ExecutorClosed', 'function executor closed', true));
      const stopping: Promise<void>[] = [];
      for (const slot of slots) {
        const job = slot.job;
        slot.job = undefined;
        if (job !== undefined) finish(job, failed('ExecutorClosed', 'function executor closed while the handler ran', true));
        stopping.push(retire(slot, job?.request));
      }
      idle.length = 0;
      await Promise.all(stopping);
    },
  };
}

/** Exposed for tests: which node options a worker inherits from the main thread. */
export const inheritedExecArgv = workerExecArgv;
