/**
 * Write-behind for the log's most frequent rows: events and tasks. Within one group-commit batch
 * an event is appended and then marked processed, and a task is recorded, started and finished;
 * written as they happen, that is an INSERT plus one or two UPDATEs per row (and the event passes
 * through the pending index on the way). Buffered, each row is written once, in the state it has
 * at the commit, by multi-row statements inside the same transaction. One process writes a state
 * dir (SQLite's lock enforces it), so sequence numbers can be handed out from memory.
 *
 * A crash loses the buffer together with the uncommitted transaction it would have gone into, so
 * what is durable stays consistent. Reads of these tables write the buffer first (`flush`).
 *
 * The attempts of a run this process created (`runStarted`) are also kept, without payloads,
 * until the run is released: every task of such a run passed through here, so its end can count
 * and trace them from memory instead of reading its rows back.
 */
import type Database from 'better-sqlite3';
import type { Task } from '../../ports.ts';
import type { TaskAttempt, TaskEntry } from './durable-log.ts';

type Status = TaskEntry['status'];
/** A task as buffered; `json` (its payload) is dropped once the row is on file. */
type Entry = {
  runId: string;
  step: string;
  item: number;
  attempt: number;
  placement: string | undefined;
  json: string | null;
  status: Status;
  startedAt: number | null;
  finishedAt: number | null;
  seq: number;
};
type RunTasks = { owned: boolean; entries: Map<string, Entry> };

/** Rows per multi-row statement: well under SQLite's limit of 32,766 bound parameters. */
const CHUNK = 100;

const OPEN: ReadonlySet<Status> = new Set(['dispatched', 'started']);

/** The write-behind buffer of the events and tasks tables of `db`. */
export function createLogBuffer(db: Database.Database) {
  const maxSeq = db.prepare<[], number | null>('SELECT max(seq) FROM events').pluck();
  const maxDispatch = db.prepare<[], number | null>('SELECT max(dispatch_seq) FROM tasks').pluck();
  // A task already on file keeps its payload and dispatch number (a repeated record is ignored),
  // and only moves forward: dispatched -> started -> finished, as the UPDATEs it replaces would.
  const upsert = `ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET
    status = CASE WHEN tasks.status IN ('dispatched', 'started') AND excluded.status <> 'dispatched' THEN excluded.status ELSE tasks.status END,
    started_at = CASE WHEN tasks.status = 'dispatched' THEN excluded.started_at ELSE tasks.started_at END,
    finished_at = CASE WHEN tasks.status IN ('dispatched', 'started') THEN excluded.finished_at ELSE tasks.finished_at END`;
  const statements = new Map<string, Database.Statement>();
  const multi = (kind: 'events' | 'tasks', rows: number): Database.Statement => {
    const key = `${kind}:${rows}`;
    let st = statements.get(key);
    if (!st) {
      const sql =
        kind === 'events'
          ? `INSERT INTO events (seq, run_id, json, processed) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}`
          : `INSERT INTO tasks (run_id, step, item, attempt, json, status, started_at, finished_at, dispatch_seq)
             VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ${upsert}`;
      statements.set(key, (st = db.prepare(sql)));
    }
    return st;
  };
  const write = (kind: 'events' | 'tasks', values: unknown[], width: number) => {
    for (let i = 0; i < values.length; i += CHUNK * width) {
      const part = i === 0 && values.length <= CHUNK * width ? values : values.slice(i, i + CHUNK * width);
      multi(kind, part.length / width).run(...part);
    }
  };

  // Events: seq of the first buffered one, then [run_id, json, processed] per event.
  let nextSeq = (maxSeq.get() ?? 0) + 1;
  let firstSeq = nextSeq;
  let events: unknown[] = [];
  // Tasks by run, then by step/item/attempt key, in dispatch order; `pending`: not on file yet.
  let dispatchSeq = maxDispatch.get() ?? 0;
  let runs = new Map<string, RunTasks>();
  let pending: Entry[] = [];

  const taskKey = (task: Task) => `${task.step}\u0000${task.item ?? -1}\u0000${task.attempt}`;
  const find = (task: Task) => runs.get(task.runId)?.entries.get(taskKey(task));

  return {
    /** Buffers an event (processed or pending); returns its sequence number. */
    appendEvent(runId: string | null, json: string, processed: 0 | 1): number {
      events.push(runId, json, processed);
      return nextSeq++;
    },
    /** Marks a buffered event processed; false when it is not in the buffer (already on file). */
    markProcessed(seq: number): boolean {
      if (seq < firstSeq || seq >= nextSeq) return false;
      events[(seq - firstSeq) * 3 + 2] = 1;
      return true;
    },
    /** A run this process created: nothing of it is on file, every task of it comes through here. */
    runStarted(runId: string): void {
      if (!runs.has(runId)) runs.set(runId, { owned: true, entries: new Map() });
    },
    /** The run ended: its attempts are no longer kept once its rows are on file. */
    runReleased(runId: string): void {
      const run = runs.get(runId);
      if (!run) return;
      run.owned = false;
      if (![...run.entries.values()].some((e) => e.json !== null)) runs.delete(runId);
    },
    /** Buffers a task as dispatched; a key already buffered or kept is ignored. */
    recordTask(task: Task): void {
      let run = runs.get(task.runId);
      if (!run) runs.set(task.runId, (run = { owned: false, entries: new Map() }));
      const key = taskKey(task);
      if (run.entries.has(key)) return;
      const entry: Entry = {
        runId: task.runId,
        step: task.step,
        item: task.item ?? -1,
        attempt: task.attempt,
        placement: task.placement,
        json: JSON.stringify(task),
        status: 'dispatched',
        startedAt: null,
        finishedAt: null,
        seq: ++dispatchSeq,
      };
      run.entries.set(key, entry);
      pending.push(entry);
    },
    /** Applies the start to a known task; false when its row is on file (the caller updates it). */
    taskStarted(task: Task, at: number): boolean {
      const entry = find(task);
      if (!entry) return false;
      if (entry.status === 'dispatched') {
        entry.status = 'started';
        entry.startedAt = at;
      }
      return entry.json !== null;
    },
    /** Applies the end to a known task; false when its row is on file (the caller updates it). */
    taskFinished(task: Task, status: 'succeeded' | 'failed' | 'cancelled' | 'skipped', at: number): boolean {
      const entry = find(task);
      if (!entry) return false;
      if (OPEN.has(entry.status)) {
        entry.status = status;
        entry.finishedAt = at;
      }
      return entry.json !== null;
    },
    /** A created run's attempts in dispatch order, or undefined when they are only on file. */
    attempts(runId: string): TaskAttempt[] | undefined {
      const run = runs.get(runId);
      if (!run?.owned) return undefined;
      const out: TaskAttempt[] = [];
      for (const e of run.entries.values()) {
        const a: TaskAttempt = { step: e.step, attempt: e.attempt, status: e.status };
        if (e.item >= 0) a.item = e.item;
        if (e.placement !== undefined) a.placement = e.placement;
        if (e.startedAt !== null) a.startedAt = e.startedAt;
        if (e.finishedAt !== null) a.finishedAt = e.finishedAt;
        out.push(a);
      }
      return out;
    },
    /** True when nothing is waiting to be written. */
    get empty(): boolean {
      return events.length === 0 && pending.length === 0;
    },
    /** Writes the buffer (call inside the open transaction). */
    flush(): void {
      if (events.length > 0) {
        const rows: unknown[] = [];
        for (let i = 0, seq = firstSeq; i < events.length; i += 3, seq++) rows.push(seq, events[i], events[i + 1], events[i + 2]);
        write('events', rows, 4);
        events = [];
        firstSeq = nextSeq;
      }
      if (pending.length > 0) {
        const rows: unknown[] = [];
        for (const e of pending) {
          rows.push(e.runId, e.step, e.item, e.attempt, e.json, e.status, e.startedAt, e.finishedAt, e.seq);
          e.json = null;
        }
        write('tasks', rows, 9);
        pending = [];
        // Only the attempts of created, running runs are kept past their rows' writing.
        for (const [runId, run] of runs) if (!run.owned) runs.delete(runId);
      }
    },
    /** After a rollback: drop the buffer and continue the numbering from what is on file. */
    reset(): void {
      events = [];
      runs = new Map();
      pending = [];
      nextSeq = firstSeq = (maxSeq.get() ?? 0) + 1;
      dispatchSeq = maxDispatch.get() ?? 0;
    },
  };
}

/** The buffer's type, for the log that owns it. */
export type LogBuffer = ReturnType<typeof createLogBuffer>;
