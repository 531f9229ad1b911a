/**
 * The tables of the journal store's state file (journal-state.ts). Apart from it, so that the
 * declarations of the store's public types (openDurableState's) need no better-sqlite3 types.
 */
import type { Schema } from './sqlite-schema.ts';

/** A run's input, apart from its row in `runs` (schema 7): written once, when the run starts. */
const RUN_INPUTS = 'CREATE TABLE IF NOT EXISTS run_inputs (run_id TEXT PRIMARY KEY, input TEXT NOT NULL);';

/**
 * The journal store's schema: version 7 (rows in bytes, a task's run start among its optional
 * fields, a run's Run Requested event written without the input it shares with the run, the
 * run's input in a table of its own: `run_inputs`, written once when the run starts, so that the
 * updates of its row in `runs` (its end, its options) do not write it again).
 * It reads files of version 6 (a run's input in its row, `runs.input`), 5 (each event written
 * whole), 4 (the same without a task's run start, which a joinflow of version 4 would misread)
 * and 3 (rows as JSON text, otherwise the same tables), and upgrades them with its first commit,
 * which also creates `run_inputs` (`upgrade`): from then on, the older joinflow refuses the file
 * (a newer joinflow's) instead of reading a run without its input. The runs of those versions
 * keep their input in `runs.input` (read as it is: run-inputs.ts); runs started from version 7
 * on leave it NULL. Version 2 is the row store's.
 */
export const JOURNAL_SCHEMA: Schema = {
  version: 7,
  reads: [3, 4, 5, 6],
  upgrade: RUN_INPUTS,
  ddl: `
CREATE TABLE schema_version (version INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, workflow TEXT, status TEXT, input TEXT, started_at INTEGER,
  finished_at INTEGER, output TEXT, error TEXT, plan_hash TEXT, options TEXT
);
${RUN_INPUTS}
CREATE TABLE plans (hash TEXT PRIMARY KEY, json TEXT NOT NULL);
-- One row per run per commit: the facts of that commit (journal-codec.ts; a BLOB, or in rows
-- of version 3 JSON text). min_seq/max_seq: the range of the event sequence numbers in it (NULL:
-- no events), for events tail.
CREATE TABLE journal (id INTEGER PRIMARY KEY, run_id TEXT, min_seq INTEGER, max_seq INTEGER, facts BLOB NOT NULL);
CREATE INDEX journal_run ON journal (run_id, id);
CREATE INDEX journal_seq ON journal (max_seq);
CREATE TABLE timers (id INTEGER PRIMARY KEY, run_id TEXT, due_at INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, reason TEXT NOT NULL, json TEXT);
`,
};
