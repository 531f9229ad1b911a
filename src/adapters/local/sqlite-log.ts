/**
 * The DurableLog on the SQLite state file: pending events, dispatched tasks, retry timers, dead
 * letters and each run's plan and options. Every write goes into the store's open group-commit
 * transaction (sqlite-schema.ts), so it becomes durable with the trigger state it belongs to.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { EventEnvelope } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord, RunStatus, Task } from '../../ports.ts';
import type { DeadLetter, DurableLog, RunOptions, TaskAttempt, TaskEntry } from './durable-log.ts';
import { runRecord } from './run-record.ts';
import { createLogBuffer } from './sqlite-log-buffer.ts';
import type { Batch } from './sqlite-schema.ts';

/** A `runs` row as SELECTed by {@link decodeRun}'s callers. */
export type RunRow = {
  run_id: string;
  workflow: string;
  status: RunStatus | null;
  input: string | null;
  started_at: number;
  finished_at: number | null;
  output: string | null;
  error: string | null;
};

/** The columns {@link decodeRun} needs, for SELECT lists. */
export const RUN_COLUMNS = 'run_id, workflow, status, input, started_at, finished_at, output, error';

/** A stored run row as a RunRecord; undefined for a row saveRun made before startRun. */
export function decodeRun(row: RunRow | undefined): RunRecord | undefined {
  if (!row || row.status === null) return undefined;
  // Absent fields stay absent (not `undefined`), like the records the memory store keeps.
  return runRecord({
    runId: row.run_id,
    workflow: row.workflow,
    input: parse(row.input),
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    output: row.output === null ? undefined : JSON.parse(row.output),
    error: row.error === null ? undefined : (JSON.parse(row.error) as RunRecord['error']),
  }, row.status);
}

/** JSON text for a column; `undefined` becomes NULL (JSON has no undefined). */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function parse(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

type TaskRow = { json: string; status: TaskEntry['status']; started_at: number | null; finished_at: number | null };

type AttemptRow = { step: string; item: number; attempt: number; placement: string | null; status: TaskEntry['status']; started_at: number | null; finished_at: number | null };

function decodeAttempt(row: AttemptRow): TaskAttempt {
  const a: TaskAttempt = { step: row.step, attempt: row.attempt, status: row.status };
  // -1 stands for "no item" in the primary key.
  if (row.item >= 0) a.item = row.item;
  if (row.placement !== null) a.placement = row.placement;
  if (row.started_at !== null) a.startedAt = row.started_at;
  if (row.finished_at !== null) a.finishedAt = row.finished_at;
  return a;
}

function decodeTask(row: TaskRow): TaskEntry {
  const entry: TaskEntry = { task: JSON.parse(row.json) as Task, status: row.status };
  if (row.started_at !== null) entry.startedAt = row.started_at;
  if (row.finished_at !== null) entry.finishedAt = row.finished_at;
  return entry;
}

/** What the SQLite log adds to the port. */
export type SqliteLog = DurableLog & {
  /** Commits the open batch, then rebuilds the file to return the pages gc freed to the OS. */
  vacuum(): void;
  /** Logs events that need no processing (Step Started), for `joinflow events tail`. */
  recordEvents(events: readonly EventEnvelope[]): void;
  /** Logged events after sequence number `seq`, oldest first (at most `limit`). */
  eventsAfter(seq: number, limit: number): Array<{ seq: number; event: EventEnvelope }>;
  /** The highest sequence number logged so far (0 when none). */
  lastEventSeq(): number;
  /** The store created this run: every task of it will pass through this log (see sqlite-log-buffer.ts). */
  runStarted(runId: string): void;
  /** The store released this finished run. */
  runReleased(runId: string): void;
};

/** Creates the DurableLog over `db`, writing inside `batch`. */
export function createSqliteLog(db: Database.Database, batch: Batch): SqliteLog {
  const s = {
    eventsAfter: db.prepare<[number, number], { seq: number; json: string }>('SELECT seq, json FROM events WHERE seq > ? ORDER BY seq LIMIT ?'),
    lastEventSeq: db.prepare<[], number | null>('SELECT max(seq) FROM events').pluck(),
    markProcessed: db.prepare<[number]>('UPDATE events SET processed = 1 WHERE seq = ? AND processed = 0'),
    pending: db.prepare<[], { seq: number; json: string }>('SELECT seq, json FROM events WHERE processed = 0 ORDER BY seq'),
    taskStarted: db.prepare<[number, string, string, number, number]>(
      `UPDATE tasks SET status = 'started', started_at = ? WHERE run_id = ? AND step = ? AND item = ? AND attempt = ? AND status = 'dispatched'`,
    ),
    // A finished task stays finished: a late duplicate report does not rewrite its outcome.
    taskFinished: db.prepare<[string, number, string, string, number, number]>(
      `UPDATE tasks SET status = ?, finished_at = ? WHERE run_id = ? AND step = ? AND item = ? AND attempt = ? AND status IN ('dispatched', 'started')`,
    ),
    unfinishedAll: db.prepare<[], TaskRow>(`SELECT json, status, started_at, finished_at FROM tasks WHERE status IN ('dispatched', 'started') ORDER BY dispatch_seq`),
    unfinishedRun: db.prepare<[string], TaskRow>(
      `SELECT json, status, started_at, finished_at FROM tasks WHERE status IN ('dispatched', 'started') AND run_id = ? ORDER BY dispatch_seq`,
    ),
    tasks: db.prepare<[string], TaskRow>('SELECT json, status, started_at, finished_at FROM tasks WHERE run_id = ? ORDER BY dispatch_seq'),
    attempts: db.prepare<[string], AttemptRow>(
      `SELECT step, item, attempt, json_extract(json, '$.placement') AS placement, status, started_at, finished_at
       FROM tasks WHERE run_id = ? ORDER BY dispatch_seq`,
    ),
    addTimer: db.prepare<[string, number, string]>('INSERT INTO timers (run_id, due_at, json) VALUES (?, ?, ?)'),
    removeTimer: db.prepare<[number]>('DELETE FROM timers WHERE id = ?'),
    timersAll: db.prepare<[], { id: number; due_at: number; json: string }>('SELECT id, due_at, json FROM timers ORDER BY due_at, id'),
    timersRun: db.prepare<[string], { id: number; due_at: number; json: string }>('SELECT id, due_at, json FROM timers WHERE run_id = ? ORDER BY due_at, id'),
    deadLetter: db.prepare<[number, string, string]>('INSERT INTO dead_letters (at, reason, json) VALUES (?, ?, ?)'),
    deadLetters: db.prepare<[], { id: number; at: number; reason: string; json: string }>('SELECT id, at, reason, json FROM dead_letters ORDER BY id'),
    savePlan: db.prepare<[string, string]>('INSERT OR IGNORE INTO plans (hash, json) VALUES (?, ?)'),
    // saveRun may come before startRun (which then fills in the row) or after it.
    linkRun: db.prepare<[string, string, string]>(
      'INSERT INTO runs (run_id, plan_hash, options) VALUES (?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET plan_hash = excluded.plan_hash, options = excluded.options',
    ),
    runPlan: db.prepare<[string], { hash: string; json: string }>('SELECT p.hash, p.json FROM runs r JOIN plans p ON p.hash = r.plan_hash WHERE r.run_id = ?'),
    runOptions: db.prepare<[string], string | null>('SELECT options FROM runs WHERE run_id = ?').pluck(),
    listRuns: db.prepare<{ status: string | null; workflow: string | null }, RunRow>(
      `SELECT ${RUN_COLUMNS} FROM runs WHERE status IS NOT NULL AND (@status IS NULL OR status = @status)
       AND (@workflow IS NULL OR workflow = @workflow) ORDER BY started_at DESC, rowid DESC`,
    ),
  };
  // Events and tasks are written at the commit (sqlite-log-buffer.ts); reads write them first.
  const buffer = createLogBuffer(db);
  batch.beforeCommit(() => buffer.flush());
  batch.afterRollback(() => buffer.reset());
  const pull = () => {
    if (!buffer.empty) buffer.flush();
  };
  // Runs of one workflow share one plan object: hash and serialize it once, not once per run.
  const planHashes = new WeakMap<TriggerPlan, { hash: string; json: string }>();
  // Plans are immutable once stored under their content hash, so a parsed copy can be shared.
  const plans = new Map<string, TriggerPlan>();

  function eventRunId(event: EventEnvelope): string | null {
    const runId = (event.detail as { runId?: unknown } | undefined)?.runId;
    return typeof runId === 'string' ? runId : null;
  }

  return {
    appendEvents(events) {
      batch.write();
      const seqs: number[] = [];
      for (const event of events) seqs.push(buffer.appendEvent(eventRunId(event), JSON.stringify(event), 0));
      return seqs;
    },
    recordEvents(events) {
      if (events.length === 0) return;
      batch.write();
      for (const event of events) buffer.appendEvent(eventRunId(event), JSON.stringify(event), 1);
    },
    eventsAfter(seq, limit) {
      pull();
      return s.eventsAfter.all(seq, limit).map((r) => ({ seq: r.seq, event: JSON.parse(r.json) as EventEnvelope }));
    },
    lastEventSeq() {
      pull();
      return s.lastEventSeq.get() ?? 0;
    },
    markProcessed(seqs) {
      if (seqs.length === 0) return;
      batch.write();
      for (const seq of seqs) if (!buffer.markProcessed(seq)) s.markProcessed.run(seq);
    },
    pendingEvents() {
      pull();
      return s.pending.all().map((r) => ({ seq: r.seq, event: JSON.parse(r.json) as EventEnvelope }));
    },
    runStarted(runId) {
      buffer.runStarted(runId);
    },
    runReleased(runId) {
      buffer.runReleased(runId);
    },
    recordTask(task) {
      batch.write();
      buffer.recordTask(task);
    },
    taskStarted(task, at) {
      batch.write();
      if (!buffer.taskStarted(task, at)) s.taskStarted.run(at, task.runId, task.step, task.item ?? -1, task.attempt);
    },
    taskFinished(task, status, at) {
      batch.write();
      if (!buffer.taskFinished(task, status, at)) s.taskFinished.run(status, at, task.runId, task.step, task.item ?? -1, task.attempt);
    },
    unfinishedTasks(runId) {
      pull();
      return (runId === undefined ? s.unfinishedAll.all() : s.unfinishedRun.all(runId)).map(decodeTask);
    },
    tasks(runId) {
      pull();
      return s.tasks.all(runId).map(decodeTask);
    },
    attempts(runId) {
      const buffered = buffer.attempts(runId);
      if (buffered) return buffered;
      pull();
      return s.attempts.all(runId).map(decodeAttempt);
    },
    addTimer(dueAt, task) {
      batch.write();
      return Number(s.addTimer.run(task.runId, dueAt, JSON.stringify(task)).lastInsertRowid);
    },
    removeTimer(id) {
      batch.write();
      s.removeTimer.run(id);
    },
    timers(runId) {
      const rows = runId === undefined ? s.timersAll.all() : s.timersRun.all(runId);
      return rows.map((r) => ({ id: r.id, dueAt: r.due_at, task: JSON.parse(r.json) as Task }));
    },
    deadLetter(event, reason, at) {
      batch.write();
      s.deadLetter.run(at, reason, safeJson(event));
    },
    deadLetters() {
      return s.deadLetters.all().map((r): DeadLetter => ({ id: r.id, at: r.at, reason: r.reason, event: JSON.parse(r.json) }));
    },
    saveRun(runId, plan, options) {
      let stored = planHashes.get(plan);
      if (!stored) {
        const json = JSON.stringify(plan);
        stored = { hash: createHash('sha256').update(json).digest('hex'), json };
        planHashes.set(plan, stored);
      }
      batch.write();
      s.savePlan.run(stored.hash, stored.json);
      s.linkRun.run(runId, stored.hash, JSON.stringify(options));
    },
    runPlan(runId) {
      const row = s.runPlan.get(runId);
      if (!row) return undefined;
      let plan = plans.get(row.hash);
      if (!plan) plans.set(row.hash, (plan = JSON.parse(row.json) as TriggerPlan));
      return plan;
    },
    runOptions(runId) {
      const text = s.runOptions.get(runId);
      return typeof text === 'string' ? (JSON.parse(text) as RunOptions) : undefined;
    },
    listRuns(filter = {}) {
      const rows = s.listRuns.all({ status: filter.status ?? null, workflow: filter.workflow ?? null });
      return rows.map((r) => decodeRun(r)!);
    },
    gc(before) {
      return collectGarbage(db, batch, before);
    },
    vacuum() {
      batch.commit();
      db.exec('VACUUM');
    },
  };
}

/** A dead letter is often a malformed event: keep what can be kept rather than fail on it. */
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return JSON.stringify(String(value));
  }
}

// A run finished without a finishedAt is aged by its start, so it cannot stay forever.
const DOOMED = `SELECT run_id FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') AND coalesce(finished_at, started_at) < @before`;

/**
 * Deletes finished runs older than `before` with everything they left, plus processed events of
 * no run, dead letters older than `before` and plans no run uses. It commits the open batch
 * first and its own deletes after: a checkpoint cannot run inside a transaction.
 */
function collectGarbage(db: Database.Database, batch: Batch, before: number): { runs: number; runIds: string[] } {
  batch.commit();
  batch.write();
  const params = { before };
  const runIds = db.prepare<{ before: number }, string>(DOOMED).pluck().all(params);
  for (const table of ['events', 'tasks', 'timers', 'results', 'joins', 'arrivals']) {
    db.prepare(`DELETE FROM ${table} WHERE run_id IN (${DOOMED})`).run(params);
  }
  db.prepare('DELETE FROM events WHERE run_id IS NULL AND processed = 1').run();
  db.prepare('DELETE FROM dead_letters WHERE at < ?').run(before);
  db.prepare(`DELETE FROM runs WHERE run_id IN (${DOOMED})`).run(params);
  db.prepare('DELETE FROM plans WHERE hash NOT IN (SELECT plan_hash FROM runs WHERE plan_hash IS NOT NULL)').run();
  batch.commit();
  // TRUNCATE: shrink the WAL back to zero bytes instead of leaving it at its high-water mark.
  db.pragma('wal_checkpoint(TRUNCATE)');
  return { runs: runIds.length, runIds };
}
