/**
 * The DurableLog on the SQLite state file: pending events, dispatched tasks, retry timers, dead
 * letters and each run's plan and options. Every write goes into the store's open group-commit
 * transaction (sqlite-schema.ts), so it becomes durable with the trigger state it belongs to.
 */
import type Database from 'better-sqlite3';
import type { EventEnvelope } from '../../model/events.ts';
import type { Task } from '../../ports.ts';
import type { SqliteLog, TaskAttempt, TaskEntry } from './durable-log.ts';
import { createLogBuffer } from './sqlite-log-buffer.ts';
import { collectGarbage, runTables } from './sqlite-runs.ts';
import type { Batch } from './sqlite-batch.ts';
import { parseStored } from './sqlite-schema.ts';

export { decodeRun, RUN_COLUMNS, toJson, type RunRow } from './sqlite-runs.ts';

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
  const entry: TaskEntry = { task: parseStored<Task>(row.json, () => 'a task row'), status: row.status };
  if (row.started_at !== null) entry.startedAt = row.started_at;
  if (row.finished_at !== null) entry.finishedAt = row.finished_at;
  return entry;
}

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
    eventCount: db.prepare<[string], number>('SELECT count(*) FROM events WHERE run_id = ?').pluck(),
    runEvents: db.prepare<[string], string>('SELECT json FROM events WHERE run_id = ? ORDER BY seq').pluck(),
    // Rows without a status no pending event would start: none of its own, and no Run Requested of no run naming it (by its event id).
    unstartedGarbage: db.prepare<[], string>(
      `SELECT run_id FROM runs r WHERE status IS NULL AND NOT EXISTS (SELECT 1 FROM events e WHERE e.processed = 0 AND (e.run_id = r.run_id
       OR (e.run_id IS NULL AND json_extract(e.json, '$."detail-type"') = 'Run Requested' AND coalesce(json_extract(e.json, '$.detail.runId'), json_extract(e.json, '$.id')) = r.run_id)))`,
    ).pluck(),
    attempts: db.prepare<[string], AttemptRow>(
      `SELECT step, item, attempt, json_extract(json, '$.placement') AS placement, status, started_at, finished_at
       FROM tasks WHERE run_id = ? ORDER BY dispatch_seq`,
    ),
  };
  // Events and tasks are written at the commit (sqlite-log-buffer.ts); reads write them first.
  const buffer = createLogBuffer(db);
  batch.beforeCommit(() => buffer.flush());
  batch.afterRollback(() => buffer.reset());
  const pull = () => {
    if (!buffer.empty) buffer.flush();
  };
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
      return s.eventsAfter.all(seq, limit).map((r) => ({ seq: r.seq, event: parseStored<EventEnvelope>(r.json, () => `event ${r.seq}`) }));
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
      return s.pending.all().map((r) => ({ seq: r.seq, event: parseStored<EventEnvelope>(r.json, () => `event ${r.seq}`) }));
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
    eventCount(runId) {
      pull();
      return s.eventCount.get(runId) ?? 0;
    },
    runEvents(runId) {
      pull();
      return s.runEvents.all(runId).map((json) => parseStored<EventEnvelope>(json, () => `an event of run ${runId}`));
    },
    attempts(runId) {
      const buffered = buffer.attempts(runId);
      if (buffered) return buffered;
      pull();
      return s.attempts.all(runId).map(decodeAttempt);
    },
    ...runTables(db, batch),
    gc(before) {
      return collectGarbage(db, batch, before, ['events', 'tasks', 'timers', 'results', 'joins', 'arrivals'], 'DELETE FROM events WHERE run_id IS NULL AND processed = 1', () => s.unstartedGarbage.all());
    },
    freePages() {
      return db.pragma('freelist_count', { simple: true }) as number;
    },
    vacuum() {
      batch.commit();
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
    },
  };
}

