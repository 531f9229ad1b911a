/**
 * The journal store: durable local state as a journal of compact facts (journal-codec.ts) on
 * one SQLite file, `<dir>/state.db`. The joins, results, tasks and events of the runs this
 * process executes are kept in memory (journal-core.ts), and each commit appends one row of
 * facts per run that changed, instead of a row per task, per event and per join. Runs, plans,
 * timers and dead letters (a row per run or rarer) keep their tables. After a restart, and for
 * readers in other processes (`status`, `events tail`, the timeline), a run is rebuilt by
 * replaying its rows. Commits are grouped exactly as in the row store (sqlite-state.ts): the
 * facts of a batch become durable together or, after a crash before the commit, not at all.
 */
import path from 'node:path';
import type { ClaimResult, JoinState, RunRecord, TriggerStore } from '../../ports.ts';
import type { EventEnvelope } from '../../model/events.ts';
import type { DeliveryOutbox } from './delivery-outbox.ts';
import type { SqliteLog, TaskAttempt, TaskEntry } from './durable-log.ts';
import { Journal, type LiveRun } from './journal-core.ts';
import { addArrival, arrivals, joinOf } from './journal-joins.ts';
import { liveRun } from './journal-runs.ts';
import { addTask, slimTask, taskEntry } from './journal-tasks.ts';
import { finishedRecord, runRecord, settledRecord } from './run-record.ts';
import { noteEarly, refusal, sizeJoin } from './sized-joins.ts';
import { collectGarbage, runRowStatements, runTables, stateHandle } from './sqlite-runs.ts';
import { createBatch } from './sqlite-batch.ts';
import { inputsApart } from './run-inputs.ts';
import { orphanRowsToDelete, unstartedGarbage } from './journal-gc.ts';
import type { StoredRow } from './journal-decode.ts';
import { JOURNAL_SCHEMA } from './journal-schema.ts';
import { openDatabase, StateDamagedError, stateDirectory, upgradeOnWrite } from './sqlite-schema.ts';
import type { SqliteStateOptions } from './state-options.ts';

/** Counts, for tests and benchmarks. */
export type JournalStats = { runs: number; loadedRuns: number; journalRows: number; pendingEvents: number; timers: number; deadLetters: number };

/** An open journal state: the same parts as the row store's. */
export type JournalState = {
  store: TriggerStore & { stats(): JournalStats };
  log: SqliteLog;
  file: string;
  outbox(): DeliveryOutbox;
  close(): void;
};

const OPEN = new Set<TaskEntry['status']>(['dispatched', 'started']);

function eventRunId(event: EventEnvelope): string | null {
  const runId = (event.detail as { runId?: unknown } | undefined)?.runId;
  return typeof runId === 'string' ? runId : null;
}

/** Opens (or creates) the journal state in `dir`. One process at a time may write a state dir. */
export function openJournalState(options: SqliteStateOptions): JournalState {
  stateDirectory(options.dir, true);
  const file = path.resolve(options.dir, 'state.db');
  const db = openDatabase(file, options, JOURNAL_SCHEMA);
  const batch = createBatch(db, file);
  upgradeOnWrite(db, batch, JOURNAL_SCHEMA);
  const inputs = inputsApart(db, batch);
  const tables = runTables(db, batch, inputs);
  const journal = new Journal(db, batch, (runId) => tables.runPlan(runId), inputs);
  batch.beforeCommit(() => journal.flush());
  batch.afterRollback(() => journal.reset());

  const s = runRowStatements(db, inputs);
  const count = (sql: string) => db.prepare<[], number>(sql).pluck();
  const counters = {
    runs: count('SELECT count(*) FROM runs WHERE status IS NOT NULL'),
    journalRows: count('SELECT count(*) FROM journal'),
    timers: count('SELECT count(*) FROM timers'),
    deadLetters: count('SELECT count(*) FROM dead_letters'),
  };

  /** The run's working state: loaded when running; a finished run's is rebuilt (not kept). */
  function run(runId: string): LiveRun {
    const live = journal.live(runId);
    if (live) return live;
    const record = journal.record(runId);
    if (!record) throw new Error(`journal store: no run "${runId}"`);
    journal.flush();
    return journal.replay(record);
  }

  const store: JournalState['store'] = {
    synchronous: true,
    startRun(start) {
      batch.write();
      const created = s.createRun(start);
      if (created) {
        const record = runRecord(start, 'running');
        journal.runs.set(record.runId, liveRun(record, journal.tableOf(record.runId)));
        // Its request logged in this commit keeps its input once, even if the run ends and is let go before the commit.
        const requests = journal.rows.get(record.runId);
        if (requests) requests.runInput = record.input;
        return { created, run: record };
      }
      return { created, run: store.getRun(start.runId) as RunRecord };
    },
    getRun(runId) {
      const hit = journal.runs.get(runId);
      if (hit) return hit.record;
      // A running run not in memory (started by a process before a restart) is loaded.
      const record = journal.record(runId);
      return record?.status === 'running' ? journal.live(runId, record)!.record : record;
    },
    runStatus(runId) {
      // NULL: a row saveRun made before startRun (sqlite-schema.ts): no run yet.
      return journal.runs.get(runId)?.record.status ?? ((s.runStatus.get(runId) ?? undefined) as RunRecord['status'] | undefined);
    },
    finishRun(runId, update) {
      batch.write();
      const finished = s.finishRun(runId, update);
      const live = journal.runs.get(runId);
      if (finished && live) live.record = finishedRecord(live.record, update);
      return finished;
    },
    settleRun(runId, finishedAt) {
      batch.write();
      const live = journal.runs.get(runId);
      if (s.settleRun(runId, finishedAt) && live) live.record = settledRecord(live.record, finishedAt);
    },
    arrive(runId, trigger, key, need, ordinal): JoinState {
      const j = joinOf(run(runId), trigger);
      const refused = refusal(j, arrivals(j), need, ordinal);
      if (refused) return refused;
      const fresh = addArrival(j, key);
      if (fresh) noteEarly(j, need, ordinal);
      const setsNeed = need !== undefined && j.need === undefined;
      if (setsNeed) j.need = need;
      if (fresh || setsNeed) {
        journal.writer(runId).arrive(trigger, key, need);
      }
      return { fresh, count: arrivals(j) - (j.excess ?? 0), need: j.need };
    },
    setNeed(runId, trigger, need): JoinState {
      const j = joinOf(run(runId), trigger);
      if (j.need === undefined) {
        sizeJoin(j, need);
        journal.writer(runId).need(trigger, need);
      }
      return { fresh: false, count: arrivals(j) - (j.excess ?? 0), need: j.need };
    },
    claim(runId, trigger, now, leaseMs): ClaimResult {
      const j = joinOf(run(runId), trigger);
      let result: ClaimResult;
      if (j.claimedAt === undefined) result = 'won';
      // A claim never acknowledged within the lease: its claimer presumably died before dispatching.
      else if (j.dispatchedAt === undefined && now - j.claimedAt >= leaseMs) result = 'reclaimed';
      else return 'taken';
      j.claimedAt = now;
      journal.writer(runId).claim(trigger, now);
      return result;
    },
    markDispatched(runId, trigger, now) {
      const j = joinOf(run(runId), trigger);
      if (j.dispatchedAt !== undefined) return;
      j.dispatchedAt = now;
      journal.writer(runId).dispatched(trigger, now);
    },
    saveResult(runId, key, output) {
      // JSON has no undefined: a saved undefined reads back as null (the processor saves null).
      if (!run(runId).results.add(key, output === undefined ? null : output)) return;
      journal.writer(runId).result(key, output);
    },
    getResults(runId, keys) {
      const results = run(runId).results;
      const out = new Map<string, unknown>();
      // A saved result is never undefined (see saveResult).
      for (const k of keys) {
        const v = results.get(k);
        if (v !== undefined) out.set(k, v);
      }
      return out;
    },
    savedKeys(runId, keys) {
      const results = run(runId).results;
      const out = new Set<string>();
      for (const k of keys) if (results.has(k)) out.add(k);
      return out;
    },
    async commit() {
      if (journal.rows.size > 0) batch.write();
      batch.commit();
    },
    abandon: (error) => batch.abandon(error),
    async release(runId) {
      const status = journal.runs.get(runId)?.record.status ?? s.runStatus.get(runId);
      if (status === undefined || status === null || status === 'running') return;
      // Its rows stay for `status`, the timeline and events tail until gc; memory lets it go.
      journal.runs.delete(runId);
      journal.released(runId);
    },
    stats() {
      journal.flush();
      return {
        runs: counters.runs.get() ?? 0,
        loadedRuns: journal.runs.size,
        journalRows: counters.journalRows.get() ?? 0,
        pendingEvents: journal.pending.size,
        timers: counters.timers.get() ?? 0,
        deadLetters: counters.deadLetters.get() ?? 0,
      };
    },
  };

  const log = createJournalLog(journal, tables, run);
  log.gc = (before) => {
    const removed = collectGarbage(db, batch, before, ['journal', 'timers', ...inputs.tables], undefined, () => unstartedGarbage(journal, tables.unstartedRuns()));
    // Rows of no run go once none of their events is pending (and no row that stays needs them).
    batch.write();
    const rows = db.prepare<[], { id: number; facts: StoredRow }>('SELECT id, facts FROM journal WHERE run_id IS NULL ORDER BY id').all();
    const drop = db.prepare<[number]>('DELETE FROM journal WHERE id = ?');
    for (const id of orphanRowsToDelete(rows)) drop.run(id);
    batch.commit();
    // Their names too: a run id used again starts its rows afresh.
    for (const runId of [...removed.runIds, ...removed.unstarted]) {
      journal.runs.delete(runId);
      journal.tables.delete(runId);
    }
    return removed;
  };
  log.freePages = () => db.pragma('freelist_count', { simple: true }) as number;
  log.vacuum = () => {
    store.commit();
    db.exec('VACUUM');
    // VACUUM in WAL mode writes the new file into the WAL: copy it back, and the WAL to zero bytes.
    db.pragma('wal_checkpoint(TRUNCATE)');
  };
  return { store, log, file, ...stateHandle(db, batch) };
}

/** The DurableLog on the journal: events and tasks as facts, the rest in the per-run tables. */
function createJournalLog(journal: Journal, tables: ReturnType<typeof runTables>, run: (runId: string) => LiveRun): SqliteLog {
  const toAttempt = (e: TaskEntry): TaskAttempt => {
    const a: TaskAttempt = { step: e.task.step, attempt: e.task.attempt, status: e.status };
    if (e.task.item !== undefined) a.item = e.task.item;
    if (e.task.placement !== undefined) a.placement = e.task.placement;
    if (e.startedAt !== undefined) a.startedAt = e.startedAt;
    if (e.finishedAt !== undefined) a.finishedAt = e.finishedAt;
    return a;
  };
  // Running runs whose rows cannot be read (a damaged file): left out of recovery, not in its way.
  const damaged = new Map<string, Error>();
  const loadRunning = () => {
    for (const r of tables.listRuns({ status: 'running' })) {
      if (damaged.has(r.runId)) continue;
      try {
        journal.live(r.runId);
      } catch (error) {
        if (!(error instanceof StateDamagedError)) throw error;
        damaged.set(r.runId, error);
        // The events its rows gave before the damage are not to be redelivered either.
        for (const [seq, p] of journal.pending) if (p.runId === r.runId) journal.pending.delete(seq);
      }
    }
    journal.loadOrphans();
    // Runs whose request was committed before it was handled: their request is pending on file.
    for (const runId of tables.unstartedRuns()) journal.loadPendingOf(runId);
  };
  const log: SqliteLog = {
    ...tables,
    saveRun(runId, plan, options) {
      // A run taken on that is not in memory numbers its names after its rows on file, not after
      // rows this process read before: gc in another process may have deleted them (a run id used again).
      if (!journal.runs.has(runId) && !journal.rows.has(runId)) journal.tables.delete(runId);
      tables.saveRun(runId, plan, options);
    },
    appendEvents(events) {
      const seqs: number[] = [];
      for (const event of events) {
        const seq = journal.nextSeq++;
        const runId = eventRunId(event);
        const writer = journal.writer(runId);
        journal.pending.set(seq, { runId, event, writer, flag: writer.event(seq, event, false) });
        seqs.push(seq);
      }
      return seqs;
    },
    recordEvents(events) {
      for (const event of events) journal.writer(eventRunId(event)).event(journal.nextSeq++, event, true);
    },
    markProcessed(seqs) {
      for (const seq of seqs) {
        const p = journal.pending.get(seq);
        if (!p) continue;
        journal.pending.delete(seq);
        // Processed before its row is written (most are): flagged in place, no fact of its own.
        if (p.writer !== undefined && journal.rows.get(p.runId) === p.writer) p.writer.processedAt(p.flag!);
        else journal.writer(p.runId).processed(seq);
      }
    },
    damagedRuns() {
      loadRunning();
      return damaged;
    },
    pendingEvents() {
      loadRunning();
      return [...journal.pending].sort((a, b) => a[0] - b[0]).map(([seq, p]) => ({ seq, event: p.event }));
    },
    eventsAfter: (seq, limit) => journal.eventsAfter(seq, limit),
    lastEventSeq: () => journal.lastEventSeq(),
    runStarted() {},
    runReleased() {},
    recordTask(task) {
      const r = run(task.runId);
      if (!addTask(r, task)) return;
      journal.writer(task.runId).task(task, r.record.input);
    },
    taskStarted(task, at) {
      const e = taskEntry(run(task.runId), task);
      if (!e || e.status !== 'dispatched') return;
      e.status = 'started';
      e.startedAt = at;
      journal.writer(task.runId).started(task, at);
    },
    taskFinished(task, status, at) {
      const r = run(task.runId);
      const e = taskEntry(r, task);
      if (!e || !OPEN.has(e.status)) return;
      e.status = status;
      e.finishedAt = at;
      journal.writer(task.runId).finished(task, status, at);
      e.task = slimTask(e.task);
      r.slimmed = true;
    },
    unfinishedTasks(runId) {
      if (runId === undefined) loadRunning();
      const runs = runId === undefined ? [...journal.runs.values()] : [journal.live(runId)].filter((r) => r !== undefined);
      const out: TaskEntry[] = [];
      // Copies: an entry in memory changes as its task goes on (and lets go of its payload when
      // it finishes), while a caller such as recovery still reads the task it was given.
      for (const r of runs) for (const e of r.tasks.values()) if (OPEN.has(e.status)) out.push({ ...e });
      return out;
    },
    tasks: (runId) => journal.tasksOf(runId),
    eventCount: (runId) => journal.eventCount(runId),
    runEvents: (runId) => journal.runEvents(runId),
    attempts: (runId) => journal.attemptsOf(runId).map(toAttempt),
    gc: () => ({ runs: 0, runIds: [] }),
    vacuum() {},
    freePages: () => 0,
  };
  return log;
}
