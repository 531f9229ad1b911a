/**
 * The function executor's pool (function-executor.ts): its options, its workers (slots) and the
 * tasks it runs on them (jobs).
 */
import type { Worker } from 'node:worker_threads';
import type { StepOutcome, StopSignal } from '../../ports.ts';
import type { WorkerRequest } from './function-protocol.ts';
import type { Cap } from './worker-caps.ts';
import type { WorkerProcesses } from './worker-processes.ts';

/** Options of createFunctionExecutor. */
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

/** A task handed to the pool, from then until its outcome. */
export type Job = {
  request: WorkerRequest;
  signal: StopSignal;
  resolve: (outcome: StepOutcome) => void;
  onAbort: () => void;
  slot: Slot | undefined;
  /** The heap cap of the worker it needs (Task.memoryMb). */
  memoryMb: Cap;
  /** When it started (performance.now()), as the pool told the lanes (Executor.deferredStart); 0 until then. */
  startedAt: number;
  /** It waited for a worker to warm up (none was ready when it came): that wait is its init. */
  waitedForWarmUp: boolean;
  /** Told when it starts (Executor.deferredStart). */
  begin: ((signal: StopSignal) => void) | undefined;
  /** Told when the handler starts (its timeout counts from then), or, false, that it had not after all (Executor.initPhase). */
  began: ((started?: boolean) => void) | undefined;
};

/** A worker thread of the pool. */
export type Slot = {
  worker: Worker;
  /** Its heap cap: it takes only tasks with the same. */
  memoryMb: Cap;
  /** The handler modules it has imported, as far as the pool knows (one changed on disk is imported again). */
  loaded: Set<string>;
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
