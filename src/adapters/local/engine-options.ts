/** Options of the embedded engine (see createEngine). */
import type { EventEnvelope } from '../../model/events.ts';
import type { ExecutorKind } from '../../model/workflow.ts';
import type { BlobStore, Clock, Executor, TriggerStore } from '../../ports.ts';
import type { ChaosOptions } from './chaos.ts';
import type { DurableLog } from './durable-log.ts';
import type { TraceRecord } from './lanes.ts';
import type { Progress } from './run-tracker.ts';
import type { UsageMeter } from './usage-meter.ts';

/** The embedded engine's default payload limit: larger step outputs go to the blob store (on AWS, EventBridge's 256 KB entry limit decides). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** What the engine's #publish returns when nothing is carried through the bus (one promise, not one per event). */
export const RESOLVED: Promise<void> = Promise.resolve();

/** Options of the embedded engine. */
export type EngineOptions = {
  store?: TriggerStore;
  /** Max tasks running at once per executor kind; Infinity = unlimited. */
  concurrency?: Partial<Record<ExecutorKind, number>>;
  /** Multiplies `simulate` durations. */
  timeScale?: number;
  /** Where run logs go (`<stateDir>/runs/<runId>/logs`). */
  stateDir?: string;
  /** Project root that plan paths are relative to. */
  root?: string;
  /**
   * A directory with the workflow's external input files (those no step writes); a step's input
   * missing from its run's data directory (`<stateDir>/runs/<runId>/data`) is copied from here.
   */
  dataSource?: string;
  /** Replace executors (tests, custom kinds). */
  executors?: Partial<Record<ExecutorKind, Executor>>;
  /** Where function handlers' stdout (console.log) goes; default: the process's stdout. The CLI sends it to stderr. */
  handlerOutput?: NodeJS.WritableStream;
  /** The state could not be written (disk full): the engine has stopped, and runs waited for reject with `error`. */
  onFailure?: (error: Error) => void;
  clock?: Clock;
  /** Keep a per-run trace of executions (for --trace). */
  trace?: boolean;
  /** Called after each step execution ends. */
  onStep?: (runId: string, record: TraceRecord, progress: Progress) => void;
  /**
   * Called with every batch of events the processor handled, inside the batch's transaction
   * (before the events are marked processed): subscriptions record their deliveries here. Return
   * true when something was recorded that will leave the process: the batch then commits at once.
   */
  onEvents?: (events: readonly EventEnvelope[]) => boolean | void;
  /**
   * Durable engines (with `log`): how long a batch whose effects all stay in this process
   * (events, joins, tasks of local executors) may wait for its commit, to share it with the
   * batches after it. A crash loses at most this much progress, which is then redone; nothing
   * leaves the process (a spawned process, a webhook, a run's end) before what caused it is
   * committed. Default 10 ms; 0 commits every batch.
   */
  groupCommitMs?: number;
  /** Called for events that cannot be processed. */
  onDeadLetter?: (event: unknown, reason: string) => void;
  /**
   * The widest forEach this engine runs: a wider one fails its step with `ForEachTooWide`, not
   * retried. The engine holds every item's task at once; past its heap it would crash (and so
   * would the resume of a durable run). Default: the heap's limit over about 3 KB per item, 4 KB
   * with a durable log (about 1.4 and 1.1 million items with Node's default heap here).
   */
  maxForEachItems?: number;
  /**
   * Counts usage for a cost estimate. The engine then invokes the processor once per matched
   * trigger, as EventBridge rules do on AWS, instead of once per event (slower, same results).
   */
  meter?: UsageMeter;
  /**
   * Makes the engine durable (with a store from the same database, e.g. openSqliteState): pending
   * events, dispatched tasks, timers and dead letters are logged in the batch's transaction, so a
   * restarted engine can `recover()` every unfinished run.
   */
  log?: DurableLog;
  /** Where step outputs over `maxPayloadBytes` are kept (they travel as `outputRef`). */
  blobs?: BlobStore;
  /** Largest event the engine accepts or emits inline (default 1 MB, EventBridge's entry limit). */
  maxPayloadBytes?: number;
  /** Saved with each run (the CLI stores its flags), for `joinflow resume`. */
  runOptions?: Record<string, unknown>;
  /**
   * Fault injection: duplicated, reordered and delayed deliveries on the bus, and `crashAt: N`,
   * a simulated processor crash right before the N-th effect (tests, `joinflow run --chaos`).
   */
  chaos?: ChaosOptions;
};

