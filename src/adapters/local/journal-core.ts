/**
 * The working state of the journal store (journal-state.ts) and its journal on file. While this
 * process holds the state dir (SQLite's write lock makes it the only writer), the memory here is
 * authoritative for the runs it has loaded: their joins, results, tasks and pending events. Each
 * change is also written as a fact (journal-codec.ts); a commit appends one row per run that
 * changed. A run started by another process (before a restart) is loaded by replaying its rows.
 */
import type Database from 'better-sqlite3';
import { JoinflowError } from '../../model/errors.ts';
import type { EventEnvelope } from '../../model/events.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import type { RunRecord } from '../../ports.ts';
import type { TaskEntry } from './durable-log.ts';
import { RowWriter } from './journal-codec.ts';
import { NameTable, planVocabulary } from './journal-names.ts';
import { readRow, rowNames, type RowVisitor, type StoredRow } from './journal-decode.ts';
import { liveRun, LiveRuns, type ByName, type TaskTable } from './journal-runs.ts';
import { slimTask, taskKey } from './journal-tasks.ts';
import { decodeRun, type RunInputs, type RunRow } from './sqlite-runs.ts';
import type { Batch } from './sqlite-batch.ts';
import { addArrival, joinOf, type Join } from './journal-joins.ts';

/** A run this process has in memory. */
export type LiveRun = {
  record: RunRecord;
  joins: ByName<Join>;
  /** Step results; a saved undefined is kept as null. */
  results: ByName<unknown>;
  /** By task key, in dispatch order. */
  tasks: TaskTable;
  /** Set once a finished task's entry has dropped its payload (see {@link slimTask}). */
  slimmed?: boolean;
};

/** How many released runs keep their name tables. */
const RECENT_TABLES = 64;

const OPEN = new Set<TaskEntry['status']>(['dispatched', 'started']);

/**
 * An event appended and not yet processed. `writer` and `flag`: the row it is in and where its
 * processed flag is, while that row is not written yet (it is then marked processed in place).
 */
export type PendingEvent = { runId: string | null; event: EventEnvelope; writer?: RowWriter; flag?: number };

function replayVisitor(run: LiveRun, pending?: Map<number, PendingEvent>): RowVisitor {
  const runId = run.record.runId;
  return {
    arrive(trigger, key, need) {
      const j = joinOf(run, trigger);
      addArrival(j, key);
      if (need !== undefined && j.need === undefined) j.need = need;
    },
    need(trigger, need) {
      const j = joinOf(run, trigger);
      if (j.need === undefined) j.need = need;
    },
    claim(trigger, at) {
      joinOf(run, trigger).claimedAt = at;
    },
    dispatched(trigger, at) {
      const j = joinOf(run, trigger);
      if (j.dispatchedAt === undefined) j.dispatchedAt = at;
    },
    result(key, output) {
      run.results.add(key, output);
    },
    task(task) {
      const key = taskKey(task.step, task.item, task.attempt);
      run.tasks.add(key, { task, status: 'dispatched', startedAt: undefined, finishedAt: undefined });
    },
    started(step, item, attempt, at) {
      const e = run.tasks.get(taskKey(step, item, attempt));
      if (e && e.status === 'dispatched') {
        e.status = 'started';
        e.startedAt = at;
      }
    },
    finished(step, item, attempt, status, at) {
      const e = run.tasks.get(taskKey(step, item, attempt));
      if (e && OPEN.has(e.status)) {
        e.status = status;
        e.finishedAt = at;
      }
    },
    event(seq, event, processed) {
      if (!processed) pending?.set(seq, { runId, event });
    },
    processed(seq) {
      pending?.delete(seq);
    },
  };
}

/** The journal of one state database. */
export class Journal {
  readonly #batch: Batch;
  /** Facts of this commit, by run (null: events of no run). */
  readonly rows = new Map<string | null, RowWriter>();
  #lastWriter: RowWriter | undefined;
  /** Runs in memory, authoritative while this process writes the state dir. */
  readonly runs = new LiveRuns();
  /** Events appended and not yet processed, of the loaded runs (and of no run). */
  readonly pending = new Map<number, PendingEvent>();
  /** The names of runs written or read here (journal-names.ts): a run's rows number them in order. */
  readonly tables = new Map<string, NameTable>();
  nextSeq: number;
  #orphansLoaded = false;
  /** Runs not started whose pending events were read (loadPendingOf). */
  readonly #unstartedLoaded = new Set<string>();
  readonly #released: string[] = [];
  /** Buffers of written rows, for the next commit's writers. */
  readonly #buffers: Buffer[] = [];
  /** Where each row is put together for its INSERT. */
  readonly #scratch = { buf: Buffer.allocUnsafe(1 << 16) };
  readonly #s;
  /** Runs `read` in one read transaction (a savepoint inside the open write one): its reads see one snapshot. */
  readonly #snapshot: <T>(read: () => T) => T;
  readonly #runPlan: (runId: string) => TriggerPlan | undefined;

  /** `runPlan`: the plan a run was saved with (its names start the run's name table); `inputs`: where runs' inputs are. */
  constructor(db: Database.Database, batch: Batch, runPlan: (runId: string) => TriggerPlan | undefined, inputs: RunInputs) {
    this.#batch = batch;
    this.#runPlan = runPlan;
    this.#snapshot = (read) => db.transaction(read)();
    this.#s = {
      insert: db.prepare<[string | null, number | null, number | null, Buffer]>('INSERT INTO journal (run_id, min_seq, max_seq, facts) VALUES (?, ?, ?, ?)'),
      rowsOf: db.prepare<[string], StoredRow>('SELECT facts FROM journal WHERE run_id = ? ORDER BY id').pluck(),
      orphanRows: db.prepare<[], StoredRow>('SELECT facts FROM journal WHERE run_id IS NULL ORDER BY id').pluck(),
      run: inputs.select<[string], RunRow>('WHERE runs.run_id = ?'),
      maxSeq: db.prepare<[], number | null>('SELECT max(max_seq) FROM journal').pluck(),
      after: db.prepare<[number, number], { id: number; run_id: string | null; min_seq: number; facts: StoredRow }>(
        'SELECT id, run_id, min_seq, facts FROM journal WHERE max_seq > ? AND id > ? ORDER BY id LIMIT 64',
      ),
    };
    this.nextSeq = (this.#s.maxSeq.get() ?? 0) + 1;
  }

  /** The facts of `runId` for this commit. */
  writer(runId: string | null): RowWriter {
    // Most facts in a row follow one another: the last writer is kept at hand until the rows go.
    const last = this.#lastWriter;
    if (last !== undefined && last.runId === runId) return last;
    let w = this.rows.get(runId);
    if (!w) this.rows.set(runId, (w = new RowWriter(runId, runId === null ? new NameTable() : this.tableOf(runId), this.#buffers.pop())));
    this.#lastWriter = w;
    return w;
  }

  /**
   * A run left memory. Its name table stays a while: the last events of a run are marked
   * processed after its release, and reading its rows back for that would cost more than
   * the run's whole commit.
   */
  released(runId: string): void {
    this.#released.push(runId);
    if (this.#released.length > RECENT_TABLES) {
      const old = this.#released.shift()!;
      if (!this.runs.has(old)) this.tables.delete(old);
    }
  }

  /**
   * The names a run's rows on file defined, after its plan's vocabulary (a new run of a saved
   * plan starts from it); kept until it is released.
   */
  tableOf(runId: string): NameTable {
    let table = this.tables.get(runId);
    if (!table) {
      const rows = this.#s.rowsOf.all(runId);
      if (rows.length === 0) {
        const plan = this.#runPlan(runId);
        table = new NameTable(plan ? planVocabulary(plan) : undefined);
      } else {
        table = this.#startTable(runId, rows[0]!);
        for (const row of rows) {
          const { base, names } = rowNames(row, runId);
          table.define(base, names);
        }
      }
      this.tables.set(runId, table);
    }
    return table;
  }

  /**
   * An empty name table for reading a run's rows from the first: from the run's plan's vocabulary
   * when the first row numbers its names after it (its base is the vocabulary's size).
   */
  #startTable(runId: string, first: StoredRow): NameTable {
    const { base } = rowNames(first, runId);
    if (base === 0) return new NameTable();
    const plan = this.#runPlan(runId);
    const vocabulary = plan ? planVocabulary(plan) : undefined;
    if (vocabulary?.list.length !== base) {
      // A plan deleted under a live engine by `gc` in another process, before the engine checked for that.
      throw new JoinflowError('RUN_UNREADABLE', `run ${runId} cannot be read: its rows number their names after ${base} of its plan's, but its plan ${plan ? `has ${vocabulary!.list.length}` : 'is not on file'}`);
    }
    return new NameTable(vocabulary);
  }

  /** Writes this commit's rows into the open transaction. */
  flush(): void {
    if (this.rows.size === 0) return;
    this.#batch.write();
    for (const w of this.rows.values()) {
      // A run's request whose input is the run's keeps it once, in the run's row (same transaction or earlier).
      if (w.requested && w.runId !== null) w.markRunInput(w.runInput !== undefined ? w.runInput : this.runs.get(w.runId)?.record.input);
      // SQLite copies a bound BLOB: one scratch buffer serves every row.
      if (w.length > 0) this.#s.insert.run(w.runId, w.minSeq === 0 ? null : w.minSeq, w.maxSeq === 0 ? null : w.maxSeq, w.bytes(this.#scratch));
      // Events still pending refer to their row's writer: let its facts go, and reuse its buffer
      // (a written row's writer is not written to again: see markProcessed).
      const buf = w.release();
      if (buf && this.#buffers.length < 16) this.#buffers.push(buf);
    }
    this.rows.clear();
    this.#lastWriter = undefined;
  }

  /** After a rollback: what is in memory may be ahead of the file. Forget it all. */
  reset(): void {
    this.rows.clear();
    this.#lastWriter = undefined;
    this.runs.clear();
    this.tables.clear();
    this.pending.clear();
    this.#orphansLoaded = false;
    this.#unstartedLoaded.clear();
    this.nextSeq = (this.#s.maxSeq.get() ?? 0) + 1;
  }

  /** The run's record on file (undefined: no such run, or not started yet). */
  record(runId: string): RunRecord | undefined {
    return decodeRun(this.#s.run().get(runId));
  }

  /** A run in memory, loaded from its rows on first use; undefined for a run that does not exist. */
  live(runId: string, known?: RunRecord): LiveRun | undefined {
    const hit = this.runs.get(runId);
    if (hit) return hit;
    const record = known ?? this.record(runId);
    if (!record || record.status !== 'running') return undefined;
    // One read of its rows: the names they define are kept for the facts it will write.
    const cached = this.tables.get(runId);
    const { run, table } = this.#replay(record, this.pending, cached);
    if (!cached) this.tables.set(runId, table ?? this.tableOf(runId));
    for (const e of run.tasks.values()) {
      if (OPEN.has(e.status)) continue;
      e.task = slimTask(e.task);
      run.slimmed = true;
    }
    this.runs.set(runId, run);
    return run;
  }

  /**
   * A run's state rebuilt from its rows on file (and its pending events added to `pending`);
   * `table`: the run's names as known here (a fresh one by default).
   */
  replay(record: RunRecord, pending?: Map<number, PendingEvent>, table?: NameTable): LiveRun {
    return this.#replay(record, pending, table).run;
  }

  /** The same, with the name table its rows filled (none when it has no rows). */
  #replay(record: RunRecord, pending: Map<number, PendingEvent> | undefined, table: NameTable | undefined): { run: LiveRun; table: NameTable | undefined } {
    const rows = this.#s.rowsOf.all(record.runId);
    if (rows.length > 0) table ??= this.#startTable(record.runId, rows[0]!);
    const run = liveRun(record, table);
    const visit = replayVisitor(run, pending);
    for (const row of rows) readRow(record.runId, record.input, row, table!, visit);
    return { run, table };
  }

  /** How many events a run's rows hold (a run that ended is reported again with its count). */
  eventCount(runId: string): number {
    this.flush();
    const rows = this.#s.rowsOf.all(runId);
    let n = 0;
    const table = rows.length > 0 ? this.#startTable(runId, rows[0]!) : undefined;
    for (const row of rows) readRow(runId, undefined, row, table!, { event: () => void n++ });
    return n;
  }

  /** The events a run's rows hold, in the order they were logged. */
  runEvents(runId: string): EventEnvelope[] {
    this.flush();
    return this.#snapshot(() => this.#runEvents(runId));
  }

  #runEvents(runId: string): EventEnvelope[] {
    const rows = this.#s.rowsOf.all(runId);
    const out: Array<{ seq: number; event: EventEnvelope }> = [];
    const table = rows.length > 0 ? this.#startTable(runId, rows[0]!) : undefined;
    const input = this.record(runId)?.input;
    for (const row of rows) readRow(runId, input, row, table!, { event: (seq, event) => void out.push({ seq, event }) });
    return out.sort((a, b) => a.seq - b.seq).map((e) => e.event);
  }

  /**
   * The pending events of a run that has not started (its request logged, and committed, before
   * it was handled): added to `pending`, the run's names kept for the facts it will write. Once
   * per run: read again, events handled since (their mark not on file yet) would be pending again.
   */
  loadPendingOf(runId: string): void {
    if (this.runs.has(runId) || this.#unstartedLoaded.has(runId)) return;
    this.#unstartedLoaded.add(runId);
    const rows = this.#s.rowsOf.all(runId);
    if (rows.length === 0) return;
    const table = this.#startTable(runId, rows[0]!);
    for (const row of rows) readRow(runId, undefined, row, table, this.#pendingVisitor(runId));
    if (!this.tables.has(runId)) this.tables.set(runId, table);
  }

  /** Loads the pending events of no run (once). */
  loadOrphans(): void {
    if (this.#orphansLoaded) return;
    this.#orphansLoaded = true;
    for (const row of this.#s.orphanRows.all()) readRow(null, undefined, row, new NameTable(), this.#pendingVisitor(null));
  }

  /** Adds the events of rows read that are not processed to `pending`, as run `runId`'s. */
  #pendingVisitor(runId: string | null): RowVisitor {
    const pending = this.pending;
    return {
      event(seq, event, processed) {
        if (!processed) pending.set(seq, { runId, event });
      },
      processed(seq) {
        pending.delete(seq);
      },
    };
  }

  /** Events after `seq`, oldest first: at least `limit`, and all of the rows read (a row is decoded once, not per page). */
  eventsAfter(seq: number, limit: number): Array<{ seq: number; event: EventEnvelope }> {
    this.flush();
    // The rows and the runs' inputs they refer to (EventFlag.RunInput) from one snapshot: a gc
    // in another process between the two would give a Run Requested without its input.
    return this.#snapshot(() => this.#eventsAfter(seq, limit));
  }

  #eventsAfter(seq: number, limit: number): Array<{ seq: number; event: EventEnvelope }> {
    const out: Array<{ seq: number; event: EventEnvelope }> = [];
    const inputs = new Map<string, unknown>();
    // Rows of one commit may interleave their sequence numbers (one row per run); rows of later
    // commits only have later ones. So read on while a row may hold a number below the highest.
    let max = -Infinity;
    let lastId = 0;
    for (;;) {
      const rows = this.#s.after.all(seq, lastId);
      let stop = false;
      for (const row of rows) {
        if (out.length >= limit && row.min_seq > max) {
          stop = true;
          break;
        }
        lastId = row.id;
        let input: unknown;
        if (row.run_id !== null) {
          if (!inputs.has(row.run_id)) inputs.set(row.run_id, this.record(row.run_id)?.input);
          input = inputs.get(row.run_id);
        }
        readRow(row.run_id, input, row.facts, row.run_id === null ? new NameTable() : this.tableOf(row.run_id), {
          event(s, event) {
            if (s > seq) {
              out.push({ seq: s, event });
              if (s > max) max = s;
            }
          },
        });
      }
      if (stop || rows.length < 64) break;
    }
    return out.sort((a, b) => a.seq - b.seq); // rows not read hold only numbers above `max`
  }

  /** The highest sequence number logged so far (0 when none). */
  lastEventSeq(): number {
    return this.nextSeq - 1;
  }

  /** A run's tasks, from memory when loaded, else rebuilt from its rows. */
  tasksOf(runId: string): TaskEntry[] {
    const run = this.runs.get(runId);
    // Entries of finished tasks in memory have no payload: the whole tasks are read from file.
    if (run && !run.slimmed) return [...run.tasks.values()].map((e) => ({ ...e }));
    const record = run?.record ?? this.record(runId);
    if (!record) return [];
    this.flush();
    return [...this.replay(record).tasks.values()];
  }

  /** A run's attempts: from memory when loaded (payloads are not needed), else from its rows. */
  attemptsOf(runId: string): TaskEntry[] {
    const run = this.runs.get(runId);
    return run ? [...run.tasks.values()] : this.tasksOf(runId);
  }
}
