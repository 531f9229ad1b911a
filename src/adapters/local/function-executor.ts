/**
 * Runs Lambda-style handlers in a pool of worker threads, so a CPU-bound handler cannot stall the
 * engine's event loop and a runaway one can be stopped (terminating its worker is the only way).
 */
import { availableParallelism } from 'node:os';
import type { Executor, StepOutcome, Task, StopSignal } from '../../ports.ts';
import type { FunctionExecutorOptions, Job, Slot } from './function-pool.ts';
import type { Owner, WorkerNotice, WorkerReply } from './function-protocol.ts';
import { COMPILED, startHandlerWorker, workerExecArgv } from './handler-worker-start.ts';
import { INIT_LIMIT_MS } from './lanes.ts';
import { terminateWithin } from './stuck-threads.ts';
import { COMPILED_HERE, transpile } from './ts-transpiler.ts';
import { IdleWorkers, WaitingJobs, type Cap } from './worker-caps.ts';
import { failed, outOfMemory, ownFault, uncaughtLeftover, uncaughtOwn, workerExited } from './worker-faults.ts';
import { workerProcesses } from './worker-processes.ts';

const ABORTED: StepOutcome = Object.freeze({ status: 'aborted' });

/**
 * Creates the `function` executor. Workers start lazily, up to `threads`, and at most `warming` at
 * once; tasks queue and each goes to the first worker that is ready for it, not to one that is
 * still starting. A task with a memory cap (Task.memoryMb) goes to a worker started with that
 * cap (worker-caps.ts): an idle worker of another cap makes room for one when the pool is full.
 */
export function createFunctionExecutor(options: FunctionExecutorOptions = {}): Executor {
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const maxWarming = Math.max(1, Math.floor(options.warming ?? availableParallelism() - 1));
  const warmUpLimitMs = options.warmUpLimitMs ?? INIT_LIMIT_MS;
  const terminateGraceMs = options.terminateGraceMs ?? 2000;
  const execArgv = workerExecArgv(process.execArgv);
  const warn = options.warn ?? ((line: string) => void process.stderr.write(line));
  const slots = new Set<Slot>();
  const idle = new IdleWorkers<Slot>();
  const queue = new WaitingJobs<Job>();
  /** Handler modules asked for so far: a new worker imports them before it takes a job. */
  const modules = new Set<string>();
  let nextId = 1;
  let closed = false;

  function spawn(memoryMb: Cap): Slot {
    // A capped worker imports only the modules of its own tasks: other steps' would count against its cap.
    const preload = memoryMb === undefined ? [...modules] : [];
    const worker = startHandlerWorker(preload, options.output, execArgv, memoryMb);
    const processes = workerProcesses(worker, terminateGraceMs, warn);
    const slot: Slot = { worker, memoryMb, loaded: new Set(preload), job: undefined, crash: undefined, retired: false, starting: true, preloading: preload.length > 0, warming: true, processes };
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

  /**
   * The task starts (Executor.deferredStart): when it goes to a worker, or, if it waits for one
   * warming up for it, when it comes (that wait is its init, as a Lambda cold start's). Until
   * then it waits as a task waits for a free slot of the lanes. The lanes are told a microtask
   * later, once they have taken the end of the task that the worker has just finished (its
   * outcome's callback, queued first): on one thread, a task never starts before the one
   * before it has ended.
   */
  function start(job: Job): void {
    if (job.startedAt !== 0) return;
    job.startedAt = performance.now();
    const begin = job.begin;
    if (begin !== undefined) queueMicrotask(() => begin(job.signal));
  }

  function assign(slot: Slot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    start(job);
    const known = slot.loaded.has(job.request.module);
    if (!known) job.request.announce = true;
    slot.worker.ref();
    try {
      slot.worker.postMessage(job.request);
      // A worker with the module runs the handler now (the lanes are told after its start, see
      // start()); otherwise it loads it first, and says when the handler starts ('started'): the
      // timeout does not count the load.
      const began = job.began;
      if (known && began !== undefined) queueMicrotask(began);
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

  /** Workers of `cap` starting (each will take a task of that cap). */
  function startingCount(cap: Cap): number {
    let n = 0;
    for (const s of slots) if (s.starting && !s.retired && s.memoryMb === cap) n++;
    return n;
  }

  /** A worker is being ended (room for another once it has gone). */
  function roomComing(): boolean {
    for (const s of slots) if (s.retired) return true;
    return false;
  }

  /**
   * Starts a worker when jobs wait for one and there is room, for the cap that needs one most
   * (worker-caps.ts); in a full pool, an idle worker of another cap goes to make room (one at a
   * time: its exit calls here again). False when it could not start.
   */
  function grow(): boolean {
    if (closed || queue.size === 0 || warmingCount() >= maxWarming) return true;
    const cap = queue.nextCap(startingCount);
    if (idle.has(cap)) return true;
    if (slots.size >= threads) {
      const other = idle.size === 0 || roomComing() ? undefined : idle.takeOther(cap);
      if (other !== undefined) void retire(other);
      return true;
    }
    try {
      spawn(cap);
      return true;
    } catch (err) {
      const job = queue.take(cap)!;
      finish(job, failed('WorkerStartFailed', `cannot start a handler worker: ${String(err)}`, false));
      return false;
    }
  }

  function dispatch(job: Job): void {
    const slot = idle.take(job.memoryMb);
    if (slot !== undefined) return assign(slot, job);
    // It waits for a worker starting (or to be started) for it: it starts now, and that wait is
    // its init. Or, behind as many tasks as such workers, for one that is busy: it starts when it
    // gets it (`--concurrency function=0` hands the pool every task at once).
    const room = Math.max(0, threads - slots.size) + idle.size;
    job.waitedForWarmUp = queue.count(job.memoryMb) < startingCount(job.memoryMb) + room;
    if (job.waitedForWarmUp) start(job);
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
    // The longest waiting task needs a worker of another cap, and none can start: this one makes room.
    const first = queue.first();
    if (first !== undefined && first.memoryMb !== slot.memoryMb && slots.size >= threads && startingCount(first.memoryMb) === 0 && !roomComing()) return void retire(slot);
    const next = queue.take(slot.memoryMb);
    if (next !== undefined) return assign(slot, next);
    // An idle pool must not keep the process alive if the caller forgets close().
    slot.worker.unref();
    idle.put(slot);
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
    } else if (notice.notice === 'loading') {
      // Its handler was told begun when it went to this worker: not after all, until 'started'.
      if (slot.job?.request.id === notice.id) slot.job.began?.(false);
    } else if (slot.job?.request.id === notice.id) {
      slot.warming = false;
      slot.loaded.add(slot.job.request.module);
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
      outcome.initMs = Math.max(0, Math.round(performance.now() - job.startedAt - reply.handlerMs));
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
    const job = slot.job ?? (slot.starting && !slot.retired ? queue.take(slot.memoryMb) : undefined);
    // Modules that may have killed it are not preloaded again: its job's, or (starting) all of them.
    if (!slot.retired) {
      if (slot.starting) modules.clear();
      else if (slot.job !== undefined) modules.delete(slot.job.request.module);
    }
    slot.job = undefined;
    const oom = (slot.crash as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    if (job !== undefined && !slot.retired) finish(job, oom ? outOfMemory(job.request, slot.memoryMb, slot.starting) : workerExited(job.request, slot.starting, why));
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
    idle.remove(slot);
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
      queue.remove(job);
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
    idle.remove(slot);
  }

  return {
    kind: 'function',
    local: true,
    initPhase: true,
    deferredStart: true,

    execute(task: Task, signal: StopSignal, began?: () => void, begin?: (signal: StopSignal) => void): Promise<StepOutcome> {
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
          memoryMb: task.memoryMb,
          startedAt: 0,
          waitedForWarmUp: false,
          begin,
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
      for (const slot of idle.drain()) void retire(slot);
      // One still importing its preloads holds no task: it goes now too. Its import may never end
      // (a top-level endless loop, since fixed), and while it warmed up no other worker started.
      for (const slot of slots) if (slot.starting && !slot.retired) void retire(slot);
      return n;
    },

    async close(): Promise<void> {
      closed = true;
      for (const job of queue.drain()) finish(job, failed('ExecutorClosed', 'function executor closed', true));
      const stopping: Promise<void>[] = [];
      for (const slot of slots) {
        const job = slot.job;
        slot.job = undefined;
        if (job !== undefined) finish(job, failed('ExecutorClosed', 'function executor closed while the handler ran', true));
        stopping.push(retire(slot, job?.request));
      }
      idle.drain();
      await Promise.all(stopping);
    },
  };
}

export type { FunctionExecutorOptions } from './function-pool.ts';

/** Exposed for tests: which node options a worker inherits from the main thread. */
export const inheritedExecArgv = workerExecArgv;
