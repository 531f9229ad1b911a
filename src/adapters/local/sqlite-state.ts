/**
 * Durable local state: the TriggerStore and the DurableLog of the embedded engine on one SQLite
 * file, `<dir>/state.db`. Every write of both goes into one transaction that begins lazily at
 * the first write and ends at `store.commit()` (group commit): a batch of events, their join
 * updates, the tasks they dispatched and their being marked processed become durable together,
 * or — after a crash before the commit — not at all, and the events are processed again.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ClaimResult, RunRecord, TriggerStore } from '../../ports.ts';
import type { SqliteLog } from './durable-log.ts';
import { createSqliteLog, decodeRun, RUN_COLUMNS, toJson, type RunRow } from './sqlite-log.ts';
import { runRowStatements, stateHandle } from './sqlite-runs.ts';
import { createJoinMirror } from './sqlite-joins.ts';
import { runRecord } from './run-record.ts';
import { createBatch } from './sqlite-batch.ts';
import { openDatabase, parseStored } from './sqlite-schema.ts';
import type { SqliteStateOptions } from './state-options.ts';

export type { SqliteLog } from './durable-log.ts';
export type { SqliteStateOptions, SyncMode } from './state-options.ts';
import type { DeliveryOutbox } from './delivery-outbox.ts';

/** Row counts per table, for tests and benchmarks. */
export type SqliteStats = {
  runs: number;
  plans: number;
  joins: number;
  arrivals: number;
  results: number;
  events: number;
  pendingEvents: number;
  tasks: number;
  timers: number;
  deadLetters: number;
};

/** The store the engine uses, with row counts. */
export type SqliteStore = TriggerStore & { stats(): SqliteStats };

/** An open state file. */
export type SqliteState = {
  store: SqliteStore;
  log: SqliteLog;
  /** Absolute path of the database file. */
  file: string;
  /** The subscription delivery outbox in the same database (its table is created on first use). */
  outbox(): DeliveryOutbox;
  /**
   * Closes the database. An uncommitted batch is discarded, exactly as a crash would discard it
   * (its events are still pending and get processed again): call `store.commit()` first to keep it.
   */
  close(): void;
};

/**
 * Opens (or creates) the durable state in `dir`. One process at a time may write a state dir:
 * the open batch holds SQLite's write lock until it commits.
 */
export function openSqliteState(options: SqliteStateOptions): SqliteState {
  mkdirSync(options.dir, { recursive: true });
  const file = path.resolve(options.dir, 'state.db');
  const db = openDatabase(file, options);
  const batch = createBatch(db, file);
  const joins = createJoinMirror(db);
  batch.beforeCommit(() => joins.flush());
  batch.afterRollback(() => joins.reset());

  const s = {
    ...runRowStatements(db),
    getRun: db.prepare<[string], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = ?`),
    releaseJoins: db.prepare<[string]>('DELETE FROM joins WHERE run_id = ?'),
    releaseArrivals: db.prepare<[string]>('DELETE FROM arrivals WHERE run_id = ?'),
    releaseResults: db.prepare<[string]>('DELETE FROM results WHERE run_id = ?'),
  };
  const count = (sql: string) => db.prepare<[], number>(sql).pluck();
  const counters = {
    runs: count('SELECT count(*) FROM runs WHERE status IS NOT NULL'),
    plans: count('SELECT count(*) FROM plans'),
    joins: count('SELECT count(*) FROM joins'),
    arrivals: count('SELECT coalesce(sum(n), 0) FROM arrivals'),
    results: count('SELECT coalesce(sum(n), 0) FROM results'),
    events: count('SELECT count(*) FROM events'),
    pendingEvents: count('SELECT count(*) FROM events WHERE processed = 0'),
    tasks: count('SELECT count(*) FROM tasks'),
    timers: count('SELECT count(*) FROM timers'),
    deadLetters: count('SELECT count(*) FROM dead_letters'),
  } satisfies Record<keyof SqliteStats, unknown>;


  // Records of running runs, read on every event. One process writes a state dir (SQLite's lock
  // enforces it), so the cache cannot go stale; finishing a run drops it from the cache.
  const running = new Map<string, RunRecord>();

  // Every method but commit and release answers synchronously (better-sqlite3 is synchronous), so
  // the processor handles an event without a promise; and nothing else can run between an
  // arrival's insert and its counter update, so calls cannot race.
  const store: SqliteStore = {
    synchronous: true,
    startRun(start) {
      batch.write();
      const created = s.createRun(start);
      if (created) {
        const run = runRecord(start, 'running');
        running.set(run.runId, run);
        joins.own(run.runId);
        log.runStarted(run.runId);
        return { created, run };
      }
      return { created, run: decodeRun(s.getRun.get(start.runId))! };
    },
    getRun(runId) {
      const hit = running.get(runId);
      if (hit) return hit;
      const run = decodeRun(s.getRun.get(runId));
      if (run?.status === 'running') running.set(runId, run);
      return run;
    },
    runStatus(runId) {
      // NULL: a row saveRun made before startRun (sqlite-schema.ts): no run yet.
      return running.get(runId)?.status ?? ((s.runStatus.get(runId) ?? undefined) as RunRecord['status'] | undefined);
    },
    finishRun(runId, update) {
      batch.write();
      running.delete(runId);
      return s.finishRun(runId, update);
    },
    settleRun(runId, finishedAt) {
      batch.write();
      s.settleRun(runId, finishedAt);
    },
    arrive(runId, trigger, key, need, ordinal) {
      // One B-tree holds any fan-in, no sharding needed: `ordinal` only keeps a sized join to its need.
      batch.write();
      return joins.arrive(runId, trigger, key, need, ordinal);
    },
    setNeed(runId, trigger, need) {
      batch.write();
      return joins.setNeed(runId, trigger, need);
    },
    claim(runId, trigger, now, leaseMs): ClaimResult {
      batch.write();
      // A claim never acknowledged within the lease: its claimer presumably died before dispatching.
      return joins.claim(runId, trigger, now, leaseMs);
    },
    markDispatched(runId, trigger, now) {
      batch.write();
      joins.markDispatched(runId, trigger, now);
    },
    saveResult(runId, key, output) {
      batch.write();
      joins.saveResult(runId, key, toJson(output));
    },
    getResults(runId, keys) {
      const out = new Map<string, unknown>();
      for (const key of keys) {
        const row = joins.readResult(runId, key);
        // A NULL output is a saved `undefined`: present, unlike a missing row.
        if (row) out.set(key, row[0] === null ? undefined : parseStored(row[0], () => `the result ${key} of run ${runId}`));
      }
      return out;
    },
    savedKeys(runId, keys) {
      const out = new Set<string>();
      for (const key of keys) if (joins.hasResult(runId, key)) out.add(key);
      return out;
    },
    async commit() {
      batch.commit();
    },
    abandon: (error) => batch.abandon(error),
    async release(runId) {
      // Only a finished run's joins, arrivals and results go: nothing will read them again. Its
      // run row (with input and outcome), tasks and events stay for `status` until gc.
      const status = s.runStatus.get(runId);
      if (status === undefined || status === null || status === 'running') return;
      running.delete(runId);
      log.runReleased(runId);
      // Its buffered rows are dropped; rows of it already on file are deleted.
      if (!joins.release(runId)) return;
      batch.write();
      s.releaseJoins.run(runId);
      s.releaseArrivals.run(runId);
      s.releaseResults.run(runId);
    },
    stats() {
      // Counts what is in the tables: write the buffers of the open batch first.
      batch.flush();
      const out = {} as SqliteStats;
      for (const [name, statement] of Object.entries(counters)) out[name as keyof SqliteStats] = statement.get() ?? 0;
      return out;
    },
  };

  const log = createSqliteLog(db, batch);
  const gc = log.gc.bind(log);
  // gc commits the open batch and then deletes rows behind the mirror's back: drop the mirror
  // (everything in it is durable by then) so that collected runs are not served from memory.
  log.gc = (before) => {
    const removed = gc(before);
    joins.reset();
    return removed;
  };
  return { store, log, file, ...stateHandle(db, batch) };
}
