/**
 * The tables both SQLite stores keep a row per run (or rarer) in: runs with their plans and
 * options, retry timers and dead letters. Writes go into the open group-commit transaction.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { TriggerPlan } from '../../model/plan.ts';
import type { Task } from '../../ports.ts';
import type { DeadLetter, DurableLog, RunOptions } from './durable-log.ts';
import type { RunRecord, RunStatus } from '../../ports.ts';
import { runRecord } from './run-record.ts';
import type { Batch } from './sqlite-batch.ts';
import { isSqliteError, parseStored } from './sqlite-schema.ts';
import type { DeliveryOutbox } from './delivery-outbox.ts';
import { createSqliteOutbox } from './sqlite-outbox.ts';
import { inputsInRow, RUN_COLUMNS, type RunInputs } from './run-inputs.ts';

export { RUN_COLUMNS, type RunInputs };

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

/** A stored run row as a RunRecord; undefined for a row saveRun made before startRun. */
export function decodeRun(row: RunRow | undefined): RunRecord | undefined {
  if (!row || row.status === null) return undefined;
  // Absent fields stay absent (not `undefined`), like the records the memory store keeps.
  const what = () => `the record of run ${row.run_id}`;
  return runRecord({
    runId: row.run_id,
    workflow: row.workflow,
    input: row.input === null ? undefined : parseStored(row.input, what),
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    output: row.output === null ? undefined : parseStored(row.output, what),
    error: row.error === null ? undefined : parseStored<RunRecord['error']>(row.error, what),
  }, row.status);
}

/** JSON text for a column; `undefined` becomes NULL (JSON has no undefined). */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The DurableLog methods that live in the per-run tables. */
export type RunTables = Pick<DurableLog, 'addTimer' | 'removeTimer' | 'timers' | 'deadLetter' | 'deadLetters' | 'saveRun' | 'runPlan' | 'runOptions' | 'listRuns'> & Required<Pick<DurableLog, 'unsettledRuns' | 'unstartedRuns'>>;

/** The plans this connection knows to be on file (inserting a large plan again costs ~0.3 ms). */
const savedPlans = new WeakMap<Database.Database, Set<string>>();

/** Forgets which plans are on file (after gc deleted some, or a rollback). */
export function forgetSavedPlans(db: Database.Database): void {
  savedPlans.get(db)?.clear();
}

/** The per-run tables of `db`, writing inside `batch`; `inputs`: where the runs' inputs are. */
export function runTables(db: Database.Database, batch: Batch, inputs: RunInputs = inputsInRow(db)): RunTables {
  const s = {
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
    // The hash first: a plan already parsed is not read (and copied out of SQLite) again.
    runPlanHash: db.prepare<[string], string | null>('SELECT plan_hash FROM runs WHERE run_id = ?').pluck(),
    planJson: db.prepare<[string], string>('SELECT json FROM plans WHERE hash = ?').pluck(),
    runOptions: db.prepare<[string], string | null>('SELECT options FROM runs WHERE run_id = ?').pluck(),
    listRuns: inputs.select<{ status: string | null; workflow: string | null }, RunRow>(
      `WHERE runs.status IS NOT NULL AND (@status IS NULL OR runs.status = @status)
       AND (@workflow IS NULL OR runs.workflow = @workflow) ORDER BY runs.started_at DESC, runs.rowid DESC`,
    ),
    unsettledRuns: inputs.select<[], RunRow>(`WHERE runs.status IS NOT NULL AND runs.status <> 'running' AND runs.finished_at IS NULL ORDER BY runs.started_at, runs.rowid`),
    unstartedRuns: db.prepare<[], string>('SELECT run_id FROM runs WHERE status IS NULL ORDER BY rowid').pluck(),
  };
  // Runs of one workflow share one plan object: hash and serialize it once, not once per run.
  const planHashes = new WeakMap<TriggerPlan, { hash: string; json: string }>();
  const saved = new Set<string>();
  savedPlans.set(db, saved);
  batch.afterRollback(() => saved.clear());
  // `joinflow gc` in another process deletes the plans no run uses, this engine's among them.
  batch.afterOtherWriter(() => saved.clear());
  // Plans are immutable once stored under their content hash, so a parsed copy can be shared.
  const plans = new Map<string, TriggerPlan>();


  return {
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
      return rows.map((r) => ({ id: r.id, dueAt: r.due_at, task: parseStored<Task>(r.json, () => `retry timer ${r.id}`) }));
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
        // The run's plan is read back at once (the journal numbers names after it): a plan just
        // saved is the parsed copy, not parsed again (7 ms for a 1,695-step plan).
        if (!plans.has(stored.hash)) plans.set(stored.hash, plan);
      }
      batch.write();
      if (!saved.has(stored.hash)) {
        s.savePlan.run(stored.hash, stored.json);
        saved.add(stored.hash);
      }
      s.linkRun.run(runId, stored.hash, JSON.stringify(options));
    },
    runPlan(runId) {
      const hash = s.runPlanHash.get(runId);
      if (hash === undefined || hash === null) return undefined;
      let plan = plans.get(hash);
      if (!plan) {
        const json = s.planJson.get(hash);
        if (json === undefined) return undefined;
        plans.set(hash, (plan = parseStored<TriggerPlan>(json, () => `the plan of run ${runId}`)));
      }
      return plan;
    },
    runOptions(runId) {
      const text = s.runOptions.get(runId);
      return typeof text === 'string' ? parseStored<RunOptions>(text, () => `the options of run ${runId}`) : undefined;
    },
    listRuns(filter = {}) {
      const rows = s.listRuns().all({ status: filter.status ?? null, workflow: filter.workflow ?? null });
      return rows.map((r) => decodeRun(r)!);
    },
    unsettledRuns: () => s.unsettledRuns().all().map((r) => decodeRun(r)!),
    unstartedRuns: () => s.unstartedRuns.all(),
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
 * Deletes finished runs older than `before` with their rows in `runTablesToClear`, dead letters
 * older than `before` and plans no run uses; `orphans`, when given, is a DELETE of what no run
 * owns (the row store's processed events of no run). `unstarted` gives the rows without a status
 * (runs taken on that never started: their Run Requested dead-lettered) that nothing pending
 * would start any more, read inside the transaction: they go with their rows, whatever their
 * age (they have none; their dead letter keeps the request until it is older than `before`).
 * It commits the open batch first and its own deletes after: a checkpoint cannot run inside a
 * transaction.
 */
export function collectGarbage(db: Database.Database, batch: Batch, before: number, runTablesToClear: readonly string[], orphans?: string, unstarted?: () => readonly string[]): { runs: number; runIds: string[]; deadLetters: number; unstarted: string[] } {
  batch.commit();
  batch.write();
  const params = { before };
  const runIds = db.prepare<{ before: number }, string>(DOOMED).pluck().all(params);
  for (const table of runTablesToClear) {
    db.prepare(`DELETE FROM ${table} WHERE run_id IN (${DOOMED})`).run(params);
  }
  const never = [...(unstarted?.() ?? [])];
  const dropRun = db.prepare<[string]>('DELETE FROM runs WHERE run_id = ? AND status IS NULL');
  const dropRows = runTablesToClear.map((table) => db.prepare<[string]>(`DELETE FROM ${table} WHERE run_id = ?`));
  for (const runId of never) {
    if (dropRun.run(runId).changes === 0) continue;
    for (const drop of dropRows) drop.run(runId);
  }
  if (orphans !== undefined) db.prepare(orphans).run();
  const deadLetters = db.prepare('DELETE FROM dead_letters WHERE at < ?').run(before).changes;
  db.prepare(`DELETE FROM runs WHERE run_id IN (${DOOMED})`).run(params);
  db.prepare('DELETE FROM plans WHERE hash NOT IN (SELECT plan_hash FROM runs WHERE plan_hash IS NOT NULL)').run();
  batch.commit();
  forgetSavedPlans(db);
  // TRUNCATE: shrink the WAL back to zero bytes instead of leaving it at its high-water mark.
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (err) {
    // The deletes are committed (in the WAL); copying it into a file that may not grow (a full
    // disk, when gc is most wanted) is left for a later checkpoint: gc goes on to free the
    // runs' files.
    if (!isSqliteError(err, 'SQLITE_FULL') && !isSqliteError(err, 'SQLITE_IOERR')) throw err;
  }
  return { runs: runIds.length, runIds, deadLetters, unstarted: never };
}

/** What both stores do to a run's row: create it, finish it (and settle its end), read its status. */
export type RunRowStatements = {
  runStatus: Database.Statement<[string], string | null>;
  createRun(start: Omit<RunRecord, 'status'>): boolean;
  finishRun(runId: string, update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>): boolean;
  settleRun(runId: string, finishedAt: number): boolean;
};

/** The statements of {@link RunRowStatements} on `db`; `inputs`: where a new run's input goes. */
export function runRowStatements(db: Database.Database, inputs: RunInputs = inputsInRow(db)): RunRowStatements {
  const insertRun = db.prepare<[string, string, string | null, number, number | null, string | null, string | null]>(
    // The row may exist without a status if saveRun came first: startRun completes it then.
    `INSERT INTO runs (run_id, workflow, status, input, started_at, finished_at, output, error) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)
     ON CONFLICT (run_id) DO UPDATE SET workflow = excluded.workflow, status = 'running', input = excluded.input,
     started_at = excluded.started_at, finished_at = excluded.finished_at, output = excluded.output, error = excluded.error
     WHERE runs.status IS NULL`,
  );
  const finishRun = db.prepare<[string, number | null, string | null, string | null, string]>(
    `UPDATE runs SET status = ?, finished_at = ?, output = ?, error = ? WHERE run_id = ? AND status = 'running'`,
  );
  const settleRun = db.prepare<[number, string, number]>(
    `UPDATE runs SET finished_at = ? WHERE run_id = ? AND status IS NOT NULL AND status <> 'running' AND (finished_at IS NULL OR finished_at < ?)`,
  );
  return {
    runStatus: db.prepare<[string], string | null>('SELECT status FROM runs WHERE run_id = ?').pluck(),
    /** Creates the run's row; false when the run exists already. */
    createRun(start: Omit<RunRecord, 'status'>): boolean {
      const input = toJson(start.input);
      const created = insertRun.run(start.runId, start.workflow, inputs.inRow ? input : null, start.startedAt, start.finishedAt ?? null, toJson(start.output), toJson(start.error)).changes > 0;
      if (created && !inputs.inRow) inputs.write(start.runId, input);
      return created;
    },
    /** Moves a running run's row to its final status; false when it was not running. */
    finishRun(runId: string, update: Pick<RunRecord, 'status' | 'finishedAt' | 'output' | 'error'>): boolean {
      return finishRun.run(update.status, update.finishedAt ?? null, toJson(update.output), toJson(update.error), runId).changes > 0;
    },
    /** Moves a finished run's end later (TriggerStore.settleRun); false when it was not finished or ended later already. */
    settleRun(runId: string, finishedAt: number): boolean {
      return settleRun.run(finishedAt, runId, finishedAt).changes > 0;
    },
  };
}

/**
 * What an open state returns besides its store and log: the subscription delivery outbox in the
 * same database (its table is created on first use), and close, which discards an uncommitted
 * batch exactly as a crash would.
 */
export function stateHandle(db: Database.Database, batch: Batch): { outbox(): DeliveryOutbox; close(): void } {
  let outbox: DeliveryOutbox | undefined;
  return {
    outbox: () => (outbox ??= createSqliteOutbox(db, batch)),
    close() {
      if (!db.open) return;
      batch.rollback();
      db.close();
    },
  };
}
