/**
 * The ports between the runtime and the world. Interfaces only: adapters under src/adapters/
 * implement them (memory and SQLite locally, DynamoDB/EventBridge/Lambda on AWS).
 */
import type { EventEnvelope, StepError } from './model/events.ts';
import type { EventPattern, PlacementTarget } from './model/plan.ts';
import type { ExecutorKind, ExecutorSpec, StepEvent, StepFiles } from './model/workflow.ts';
import type { Awaitable } from './runtime/replay.ts';

/** Publishes events and lets subscribers see them. At-least-once; order is not guaranteed. */
export interface EventBus {
  publish(events: EventEnvelope[]): Promise<void>;
  /** Calls `handler` with each batch of events matching `pattern` (all events when null). */
  subscribe(pattern: EventPattern | null, handler: (events: EventEnvelope[]) => void | Promise<void>): () => void;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A run's metadata (DynamoDB: sk = META). */
export type RunRecord = {
  runId: string;
  workflow: string;
  status: RunStatus;
  input: unknown;
  startedAt: number;
  finishedAt?: number;
  output?: unknown;
  /** Why it failed; `step` (and `item`, for one item of a forEach step) when a step failed it. */
  error?: StepError & { step?: string; item?: number };
};

/** A join counter as the store last saw it. `need` is undefined until a fan-out sets it. */
export type JoinState = {
  /** True when this call recorded a new arrival (false for a duplicate). */
  fresh: boolean;
  count: number;
  need: number | undefined;
  /**
   * The arrival was refused and counts for nothing: its ordinal is beyond the need of a join
   * sized by `setNeed` (an item past the width of its forEach).
   */
  refused?: true;
};

/** Result of trying to claim a trigger's single fire. */
export type ClaimResult =
  /** This caller fires. */
  | 'won'
  /** Claimed before but never dispatched, and the lease ran out: this caller dispatches again. */
  | 'reclaimed'
  /** Someone else fired (or is firing) it. */
  | 'taken';

/**
 * Durable trigger state: run metadata, join counters, fire claims, step results. Every method is
 * idempotent under redelivery; the join algorithm that uses them lives in runtime/join.ts.
 * Methods may answer synchronously (memory, SQLite) or with a promise (DynamoDB). A store whose
 * every method but commit and release answers at once says so (`synchronous`), and the processor
 * calls it directly; any other store's answers are awaited (runtime/replay.ts). Commit and
 * release always return promises.
 */
export interface TriggerStore {
  /**
   * Every method but commit and release answers at once, never with a promise. A wrapper whose
   * methods answer with promises (the usage meter's) must not copy it.
   */
  readonly synchronous?: boolean;
  /** Whether `arrive` uses ordinals (the DynamoDB store shards by them); others skip computing them. */
  readonly ordinals?: boolean;
  /** Creates the run if absent; returns the stored record either way. */
  startRun(run: Omit<RunRecord, 'status'>): Awaitable<{ created: boolean; run: RunRecord }>;
  /**
   * A run's record. `{ output: false }`: the caller does not use a finished run's output (the
   * processor), and a store that keeps it elsewhere (DynamoDB: in S3, or inline in the run's item)
   * leaves it out instead of reading it; a store that holds it at hand may return it all the same.
   */
  getRun(runId: string, options?: { output?: boolean }): Awaitable<RunRecord | undefined>;
  /**
   * A run's status alone (undefined: no such run), for a caller that needs nothing else of it (on
   * AWS the timer, and a run's end carried out again). A store that keeps a finished run's output elsewhere (DynamoDB: in S3) does not
   * read it, so the answer neither costs that read nor fails when the object is gone.
   */
  runStatus(runId: string): Awaitable<RunStatus | undefined>;
  /** Moves a running run to a final status; false if it was already final. */
  finishRun(runId: string, update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>): Awaitable<boolean>;
  /**
   * Moves a finished run's `finishedAt` to a later time (never earlier). The embedded engine calls it once the
   * executions its run's end stopped are gone: a run is not reported finished before what it ran has stopped.
   * Stores of engines that do not wait for that (DynamoDB: a Lambda invocation cannot be stopped) leave it out.
   */
  settleRun?(runId: string, finishedAt: number): Awaitable<void>;
  /**
   * Records an arrival once per (runId, trigger, key). `need` is stored when given. `ordinal` is
   * the key's position in the join's known key set (the predecessor's index, or the item number),
   * when there is one; stores that shard large fan-ins place arrivals by it.
   * A join whose need is set by `setNeed` (its arrivals give none: a forEach's width) has the
   * ordinals 0..need-1: an arrival with an ordinal beyond them is `refused` once the need is known,
   * and one recorded before it was known never counts toward it.
   */
  arrive(runId: string, trigger: string, key: string, need: number | undefined, ordinal?: number): Awaitable<JoinState>;
  /** Sets a dynamic need (idempotent); returns the counter so the caller can re-check it. */
  setNeed(runId: string, trigger: string, need: number): Awaitable<JoinState>;
  /** Claims the single fire of a trigger; a stale undispatched claim older than `leaseMs` is reclaimed. */
  claim(runId: string, trigger: string, now: number, leaseMs: number): Awaitable<ClaimResult>;
  /** Records that the fired trigger's action was carried out. */
  markDispatched(runId: string, trigger: string, now: number): Awaitable<void>;
  /** Saves a step (or item) result; the first write wins, later ones are ignored. */
  saveResult(runId: string, key: string, output: unknown): Awaitable<void>;
  getResults(runId: string, keys: readonly string[]): Awaitable<Map<string, unknown>>;
  /**
   * Which of `keys` have a saved result, without reading the results: what a check that a step
   * is done needs. A store that keeps large results elsewhere (DynamoDB: in S3) answers from its
   * own items and never reads them there, so a check neither pays for that read nor fails when
   * the object is gone.
   */
  savedKeys(runId: string, keys: readonly string[]): Awaitable<Set<string>>;
  /** Makes everything written so far durable (group commit); effects wait for it. */
  commit(): Promise<void>;
  /** Drops a finished run's working state; its final RunRecord may be kept. */
  release(runId: string): Promise<void>;
  /**
   * A write failed (`error`): drop what is not durable, and refuse every later write; returns the
   * error they get. A store whose failed writes leave nothing half-done may leave it out.
   */
  abandon?(error: unknown): Error;
}

/** One unit of work: a step, or one item of a forEach step, at one attempt. */
export type Task = {
  workflow: string;
  runId: string;
  step: string;
  item?: number;
  attempt: number;
  maxAttempts: number;
  executor: ExecutorSpec;
  event: StepEvent;
  timeoutMs?: number;
  /** Where this attempt runs, for steps the compiler placed (`auto`); step events echo it. */
  placement?: PlacementTarget;
  /** Set when a timeout of this attempt moves the step to its Batch fallback (runtime/fallback.ts). */
  fallback?: 'batch';
  /** The step's data files, staged by the executor (a run directory locally, an S3 prefix on AWS). */
  files?: StepFiles;
  /** When the run started (ms since the epoch), which a function step's context gives as `runStartedAt`. */
  runStartedAt?: number;
  /**
   * The memory of a placed (`auto`) step whose handler runs here (its placement's memoryMb), which
   * caps the heap of the worker thread it runs in on the embedded engine; absent for other steps.
   */
  memoryMb?: number;
};

/** How an execution ended. `aborted`: stopped because the signal fired (timeout or cancel). */
/**
 * How an attempt ended. `initMs`: how much of it the executor spent before the step's own code
 * began, when it had to start something first (a worker thread, the handler's module), as a
 * Lambda's Init Duration; absent when the code began at once.
 */
export type StepOutcome =
  | { status: 'succeeded'; output: unknown; initMs?: number }
  | { status: 'failed'; error: StepError; retriable: boolean; initMs?: number }
  | { status: 'aborted' };

/**
 * What an executor needs of a cancellation signal. An AbortSignal satisfies it; the engine uses a
 * lighter one, because creating an AbortController per task is a measurable cost at scale.
 */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Runs tasks of one executor kind. Must stop promptly and resolve `aborted` when `signal` fires. */
export interface Executor {
  readonly kind: ExecutorKind;
  /**
   * True when tasks run inside this process (simulated steps, function handlers in worker
   * threads): nothing leaves the process but what the step's own code does. A durable engine
   * may start such tasks before the batch that dispatched them is committed (group commit); a
   * crash then loses both, and the batch's events are processed again.
   */
  readonly local?: boolean;
  /**
   * True when a task may first wait for an init phase (a worker thread starting, the handler's
   * module loading), as a Lambda cold start's Init. Such an executor calls `began()` when the
   * handler itself starts: the task's timeout counts from then, as Lambda's does (see lanes.ts).
   * `began(false)`: it had not after all (a module taken to be loaded is loaded again); the init
   * goes on until the next `began()`.
   */
  readonly initPhase?: boolean;
  /** `begin`: given to an executor with `deferredStart`, as to `start`. */
  execute(task: Task, signal: StopSignal, began?: (started?: boolean) => void, begin?: (signal: StopSignal) => void): Promise<StepOutcome>;
  /**
   * The code tasks load may have changed on disk (`joinflow dev`): what the executor keeps loaded
   * (a worker's module cache) is not used for tasks from now on. Returns how many workers that retires.
   */
  refresh?(): number;
  /**
   * `execute` without a promise, for executors that can report by callback (simulated steps):
   * calls `done(outcome, signal)` exactly once, never before returning, with the signal it was
   * given (so that one callback serves every task). The engine uses it when present. `begin` is
   * given to an executor with `deferredStart`.
   */
  start?(task: Task, signal: StopSignal, done: (outcome: StepOutcome, signal: StopSignal) => void, begin?: (signal: StopSignal) => void): void;
  /**
   * True when a task handed to `start` (or `execute`) may wait inside the executor before it
   * executes (a simulated step of no duration waits for the executor's next turn of the loop,
   * behind every task started in this one; a function step for a thread of the pool that others
   * keep busy). The executor calls `begin(signal)` when the task begins to execute, and the
   * task's start is taken then (its Step Started, the startedAt recorded, its timeout), so that the
   * wait shows before the start and not in its duration. A task that ends without `begin` took no
   * time (it starts when it ends), or, stopped while it waited, never started.
   */
  readonly deferredStart?: boolean;
  /**
   * The executor that runs `task` for this one, when it hands it on as it is (locally, a
   * `container` step's handler runs in the function pool): the task is then timed as that
   * executor's (its `initPhase` and `deferredStart`), stays in the process as its tasks do (its
   * `local`), and `execute` passes `began` and `begin` on.
   */
  runner?(task: Task): Executor | undefined;
  close(): Promise<void>;
}

/**
 * Large payloads kept out of events and store items (the claim-check pattern): S3 on AWS, files
 * under the state dir locally. `put` returns a reference (e.g. `s3://bucket/key`) for `get`.
 */
export interface BlobStore {
  put(key: string, body: string): Promise<string>;
  get(ref: string): Promise<string>;
}

/** Time, injectable so tests can control it. */
export interface Clock {
  now(): number;
}
