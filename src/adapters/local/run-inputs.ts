/**
 * Where a SQLite store keeps its runs' inputs, and the run rows read with them. The row store
 * (schema 2) keeps a run's input in its row of `runs`. The journal store (schema 7) keeps it in
 * `run_inputs`, written once when the run starts: every UPDATE of a row in `runs` (its end, its
 * options) writes the whole row again, a large input with it, and leaves that much in free pages.
 * A file of an older journal schema keeps its runs' inputs in `runs.input` and has no
 * `run_inputs` until its first commit (sqlite-schema.ts, upgradeOnWrite): rows are read from
 * both, as the file has them.
 */
import type Database from 'better-sqlite3';
import type { Batch } from './sqlite-batch.ts';

/** The columns decodeRun (sqlite-runs.ts) needs, from `runs` alone. */
export const RUN_COLUMNS = 'run_id, workflow, status, input, started_at, finished_at, output, error';

/** The same, from `runs` and `run_inputs`: a run written before schema 7 has its input in its row. */
const JOINED = `runs.run_id AS run_id, runs.workflow AS workflow, runs.status AS status,
  coalesce(run_inputs.input, runs.input) AS input, runs.started_at AS started_at, runs.finished_at AS finished_at,
  runs.output AS output, runs.error AS error
  FROM runs LEFT JOIN run_inputs ON run_inputs.run_id = runs.run_id`;

/** A store's runs' inputs. */
export type RunInputs = {
  /** Whether a run's input goes into its row of `runs` (the row store). */
  inRow: boolean;
  /**
   * A statement `SELECT <the columns of decodeRun> FROM <the runs, with their inputs> <rest>`:
   * `rest` names the columns of `runs` as `runs.<column>` (`runs.rowid`, `runs.run_id`). A
   * function: which statement reads the file depends on whether it has `run_inputs` yet.
   */
  select<P extends unknown[] | object, R>(rest: string): () => Database.Statement<P, R>;
  /** Keeps a run's input (JSON text; undefined: none), in the write transaction that creates its row. */
  write(runId: string, input: string | null): void;
  /** Tables besides `runs` holding a row per run (gc deletes them with the run). */
  tables: readonly string[];
};

/** The row store's: the input in the run's row. */
export function inputsInRow(db: Database.Database): RunInputs {
  return {
    inRow: true,
    select<P extends unknown[] | object, R>(rest: string) {
      const statement = db.prepare<P, R>(`SELECT ${RUN_COLUMNS} FROM runs ${rest}`);
      return () => statement;
    },
    write() {},
    tables: [],
  };
}

/** The journal store's: the input in `run_inputs` (read from `runs.input` for runs written before it). */
export function inputsApart(db: Database.Database, batch: Batch): RunInputs {
  const probe = db.prepare<[], number>(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'run_inputs'`).pluck();
  // Once seen, the table stays: only a rollback of the commit that made it (in this process) drops it.
  let seen = false;
  batch.afterRollback(() => (seen = false));
  const hasTable = () => (seen ||= (probe.get() ?? 0) > 0);
  let insert: Database.Statement<[string, string]> | undefined;
  return {
    inRow: false,
    select<P extends unknown[] | object, R>(rest: string) {
      const plain = db.prepare<P, R>(`SELECT ${RUN_COLUMNS} FROM runs ${rest}`);
      let joined: Database.Statement<P, R> | undefined;
      return () => (hasTable() ? (joined ??= db.prepare<P, R>(`SELECT ${JOINED} ${rest}`)) : plain);
    },
    write(runId, input) {
      if (input === null) return;
      // The transaction made the table if the file had none (upgradeOnWrite); prepared once it is there.
      insert ??= db.prepare<[string, string]>('INSERT OR REPLACE INTO run_inputs (run_id, input) VALUES (?, ?)');
      insert.run(runId, input);
    },
    tables: ['run_inputs'],
  };
}
