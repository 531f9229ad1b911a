/**
 * What the durable embedded engine keeps besides the TriggerStore, so that a restarted process
 * loses nothing: the bus's pending events, dispatched tasks, retry timers, dead letters, and each
 * run's plan and options (for `joinflow resume`). Methods are synchronous and write inside the
 * store's open transaction: everything a batch did becomes durable at one `store.commit()` (group
 * commit), and nothing leaves the process (a task started, an event delivered) before that.
 */
import type { EventEnvelope } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord, RunStatus, Task } from '../../ports.ts';

/**
 * A task as the log keeps it. `started` is false until an executor began it. A step that never
 * ran has an entry of attempt 0 that never started: `failed` (its needs failed) or `skipped` (a choice).
 */
export type TaskEntry = {
  task: Task;
  status: 'dispatched' | 'started' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  startedAt?: number;
  finishedAt?: number;
};

/** One attempt of a task without its payload: what a run's trace and step counts need. */
export type TaskAttempt = {
  step: string;
  item?: number;
  attempt: number;
  placement?: string;
  status: TaskEntry['status'];
  startedAt?: number;
  finishedAt?: number;
};

/** A stored dead letter. */
export type DeadLetter = { id: number; at: number; reason: string; event: unknown };

/** How a run was started, so `resume` can continue it the same way. */
export type RunOptions = Record<string, unknown>;

/** The durable side-state of the embedded engine. */
export interface DurableLog {
  /** Adds events to the pending queue; returns their sequence numbers (ascending). */
  appendEvents(events: readonly EventEnvelope[]): number[];
  /** Logs events that need no processing (Step Started): `joinflow events tail` shows them. */
  recordEvents?(events: readonly EventEnvelope[]): void;
  /** Marks events as processed (their effects are in the same transaction). */
  markProcessed(seqs: readonly number[]): void;
  /** Events published but not yet processed, in publish order (none of the runs damagedRuns names). */
  pendingEvents(): Array<{ seq: number; event: EventEnvelope }>;
  /** Unfinished runs whose state cannot be read (a damaged file), with why: recovery leaves them out. */
  damagedRuns?(): ReadonlyMap<string, Error>;

  /** Records a task handed to an executor (status `dispatched`). Same task key again: ignored. */
  recordTask(task: Task): void;
  /** The executor began the task. */
  taskStarted(task: Task, at: number): void;
  /** The executor ended the task. */
  taskFinished(task: Task, status: 'succeeded' | 'failed' | 'cancelled' | 'skipped', at: number): void;
  /** Tasks dispatched or started but not finished (of one run, or all). */
  unfinishedTasks(runId?: string): TaskEntry[];
  /** Every task of a run, in dispatch order (the run's trace). */
  tasks(runId: string): TaskEntry[];
  /** The same, without the tasks' payloads (cheaper: read at the end of every run). */
  attempts(runId: string): TaskAttempt[];
  /** How many events of the run the log holds: a run that ended is reported again with them. */
  eventCount?(runId: string): number;
  /** The run's events as logged, in order (`status` reads failed attempts' errors from them). */
  runEvents?(runId: string): EventEnvelope[];

  /** A retry timer; returns its id. */
  addTimer(dueAt: number, task: Task): number;
  removeTimer(id: number): void;
  timers(runId?: string): Array<{ id: number; dueAt: number; task: Task }>;

  deadLetter(event: unknown, reason: string, at: number): void;
  deadLetters(): DeadLetter[];

  /** The plan a run executes (stored once per distinct plan) and how it was started. */
  saveRun(runId: string, plan: TriggerPlan, options: RunOptions): void;
  runPlan(runId: string): TriggerPlan | undefined;
  runOptions(runId: string): RunOptions | undefined;
  /** Runs with their status, newest first; filters are optional. */
  listRuns(filter?: { status?: RunStatus; workflow?: string }): RunRecord[];
  /**
   * Runs that have ended (a final status) but have no end on file yet: their engine was stopping
   * the steps they still ran, and records the end once those are gone (or died first).
   */
  unsettledRuns?(): RunRecord[];
  /**
   * Runs an engine took on (saveRun: their plan and who runs them) that have not started: their
   * Run Requested is logged but was not handled (recovery.ts, requestedRuns).
   */
  unstartedRuns?(): string[];

  /**
   * Deletes the working state and log of finished runs older than `before` (epoch ms); returns
   * their ids, so that the caller removes what they left outside the log (logs, data, blobs).
   * `unstarted`: the runs taken on that never started (their request handled without starting
   * them, e.g. dead-lettered), deleted whatever their age once nothing pending would start them.
   */
  gc(before: number): { runs: number; runIds: string[]; deadLetters?: number; unstarted?: string[] };
}

/**
 * What the log of a state file (sqlite-log.ts, the journal's in journal-state.ts) adds to the
 * port. Declared here, in a module that imports no better-sqlite3: openDurableState's type
 * declarations reach it, and a TypeScript user of the package has no @types/better-sqlite3.
 */
export type SqliteLog = DurableLog & {
  /** Commits the open batch, then rebuilds the file to return the pages gc freed to the OS. */
  vacuum(): void;
  /** Pages of the file that hold nothing (freed by gc; reused by later writes, or given back by vacuum). */
  freePages(): number;
  /** Logs events that need no processing (Step Started), for `joinflow events tail`. */
  recordEvents(events: readonly EventEnvelope[]): void;
  /**
   * Logged events after sequence number `seq`, oldest first: at least `limit` when there are that
   * many (the row store: exactly; the journal: all those of the rows it read, which may be more).
   */
  eventsAfter(seq: number, limit: number): Array<{ seq: number; event: EventEnvelope }>;
  /** The highest sequence number logged so far (0 when none). */
  lastEventSeq(): number;
  /** The store created this run: every task of it will pass through this log (see sqlite-log-buffer.ts). */
  runStarted(runId: string): void;
  /** The store released this finished run. */
  runReleased(runId: string): void;
};
