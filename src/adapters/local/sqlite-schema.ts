/**
 * The SQLite state file of the durable embedded engine: opening it (pragmas), its schema and
 * schema version, and the single group-commit transaction every write of the store and the log
 * goes into. The store (sqlite-state.ts) and the log (sqlite-log.ts) share one connection.
 */
import Database from 'better-sqlite3';
import { JoinflowError } from '../../model/errors.ts';

/** The schema this code reads and writes; bump it (and add a migration) on any table change. */
export const SCHEMA_VERSION = 2;

/** How hard a commit is made durable. */
export type SyncMode = 'normal' | 'full';

/** The state file was made by another schema version, is not a joinflow state file, or is locked. */
export class StateFileError extends JoinflowError {
  readonly file: string;
  constructor(code: 'STATE_SCHEMA' | 'STATE_NOT_JOINFLOW' | 'STATE_LOCKED' | 'STATE_UNREADABLE', file: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.file = file;
  }
}

// Composite keys live in WITHOUT ROWID tables: the primary key *is* the table, so an arrival is
// one B-tree insert instead of a rowid insert plus a unique-index insert.
// `runs.status` is NULL for a row that saveRun created before startRun: such a run does not
// exist yet for getRun/listRuns, and startRun fills it in.
// `tasks.item` is -1 for a step without items: NULLs in a primary key would not be unique.
const DDL = `
CREATE TABLE schema_version (version INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, workflow TEXT, status TEXT, input TEXT, started_at INTEGER,
  finished_at INTEGER, output TEXT, error TEXT, plan_hash TEXT, options TEXT
);
CREATE TABLE plans (hash TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE joins (
  run_id TEXT NOT NULL, trig TEXT NOT NULL, need INTEGER, cnt INTEGER NOT NULL,
  claimed_at INTEGER, dispatched_at INTEGER, PRIMARY KEY (run_id, trig)
) WITHOUT ROWID;
-- A join's arrival keys, one row per batch that added some (keys: a JSON array of n keys):
-- a fan-in of N arrivals written in k batches costs k rows, not N.
CREATE TABLE arrivals (
  run_id TEXT NOT NULL, trig TEXT NOT NULL, seq INTEGER NOT NULL, n INTEGER NOT NULL, keys TEXT NOT NULL,
  PRIMARY KEY (run_id, trig, seq)
) WITHOUT ROWID;
-- A run's step results, one row per batch that saved some: pairs is a JSON array of
-- [key, output JSON or null]; the first pair for a key wins (reading in seq order).
CREATE TABLE results (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, n INTEGER NOT NULL, pairs TEXT NOT NULL, PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE events (seq INTEGER PRIMARY KEY, run_id TEXT, json TEXT NOT NULL, processed INTEGER NOT NULL);
-- Partial index: holds only unprocessed events, so it stays as small as the backlog.
CREATE INDEX events_pending ON events (seq) WHERE processed = 0;
CREATE INDEX events_run ON events (run_id);
CREATE TABLE tasks (
  run_id TEXT NOT NULL, step TEXT NOT NULL, item INTEGER NOT NULL, attempt INTEGER NOT NULL,
  json TEXT NOT NULL, status TEXT NOT NULL, started_at INTEGER, finished_at INTEGER,
  dispatch_seq INTEGER NOT NULL, PRIMARY KEY (run_id, step, item, attempt)
) WITHOUT ROWID;
CREATE INDEX tasks_open ON tasks (dispatch_seq) WHERE status IN ('dispatched', 'started');
CREATE TABLE timers (id INTEGER PRIMARY KEY, run_id TEXT, due_at INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, reason TEXT NOT NULL, json TEXT);
`;

/** Options of {@link openDatabase}. */
export type OpenDatabaseOptions = { sync?: SyncMode; busyTimeoutMs?: number };

/**
 * A schema: its version and the DDL that creates it in an empty file. `reads`: older versions
 * whose files this code reads as they are (and upgrades by writing; see {@link upgradeOnWrite}).
 */
export type Schema = { version: number; ddl: string; reads?: readonly number[] };

/** The schema of the row-per-task SQLite store (sqlite-state.ts). */
export const ROW_SCHEMA: Schema = { version: SCHEMA_VERSION, ddl: DDL };

/**
 * Opens (creating if needed) the state database at `file` and checks its schema version.
 * WAL + `synchronous=NORMAL`: a commit survives a process crash (the WAL is in the OS page
 * cache) but the last commits may be lost on power loss; `full` fsyncs the WAL on every commit.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}, schema: Schema = ROW_SCHEMA): Database.Database {
  const db = new Database(file, { timeout: options.busyTimeoutMs ?? 5_000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // The tables carry no foreign keys; checking them would only cost time on every write.
    db.pragma('foreign_keys = OFF');
    // 64 MiB of page cache keeps the hot joins/arrivals B-trees in memory between batches.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    // Checkpoint every ~40 MiB of WAL instead of every 4 MiB: a batch dirties the same hot join
    // and arrival pages again and again, and a rarer checkpoint copies (and fsyncs) each once.
    db.pragma('wal_autocheckpoint = 10000');
    ensureSchema(db, file, schema);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StateFileError) throw err;
    if (isSqliteError(err, 'SQLITE_BUSY')) {
      throw new StateFileError('STATE_LOCKED', file, `${file}: the state database is locked by another process; stop it or use another state dir.`, { cause: err });
    }
    throw new StateFileError('STATE_UNREADABLE', file, `${file}: cannot open the state database (${(err as Error).message}); move it away to start afresh.`, { cause: err });
  }
}

function ensureSchema(db: Database.Database, file: string, schema: Schema): void {
  const tables = db.prepare<[], string>(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck();
  // Checking an existing file only reads: it must work while another process holds the write
  // lock (e.g. `joinflow status` next to a running engine).
  if (tables.all().length === 0) {
    // IMMEDIATE: two processes creating a fresh file at once must not both create the tables.
    db.exec('BEGIN IMMEDIATE');
    try {
      if (tables.all().length === 0) {
        db.exec(schema.ddl);
        db.prepare('INSERT INTO schema_version (version, created_at) VALUES (?, ?)').run(schema.version, Date.now());
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }
  if (!tables.all().includes('schema_version')) {
    throw new StateFileError('STATE_NOT_JOINFLOW', file, `${file}: not a joinflow state database (it has tables but no schema_version); use another state dir.`);
  }
  const found = db.prepare<[], number | null>('SELECT max(version) FROM schema_version').pluck().get() ?? null;
  if (found !== schema.version && !(found !== null && schema.reads?.includes(found))) {
    const why =
      found !== null && found > schema.version
        ? 'it was written by a newer joinflow; upgrade joinflow to read it'
        : 'it was written by an older joinflow; finish or discard its runs with that version, or move the file away to start afresh';
    throw new StateFileError('STATE_SCHEMA', file, `${file}: state schema version ${found ?? 'unknown'}, but this joinflow uses version ${schema.version}: ${why}.`);
  }
}

/** True when `err` is a better-sqlite3 error with this result code. */
export function isSqliteError(err: unknown, code: string): boolean {
  return err instanceof Database.SqliteError && (err.code === code || err.code.startsWith(`${code}_`));
}

/**
 * The one open write transaction (group commit). Every write calls `write()` first, which begins
 * it lazily; `commit()` ends it. Reads on the same connection see the uncommitted writes.
 */
export type Batch = {
  write(): void;
  commit(): void;
  rollback(): void;
  /** Writes the write-behind buffers into the open transaction (before reading their tables). */
  flush(): void;
  /** Runs `flush` inside the transaction right before every COMMIT (write-behind buffers). */
  beforeCommit(flush: () => void): void;
  /** Runs `reset` after a ROLLBACK (buffers of the rolled-back batch are dropped). */
  afterRollback(reset: () => void): void;
};

/** Creates the group-commit transaction of `db`. */
export function createBatch(db: Database.Database, file: string): Batch {
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const flushers: Array<() => void> = [];
  const resetters: Array<() => void> = [];
  return {
    beforeCommit(flush) {
      flushers.push(flush);
    },
    afterRollback(reset) {
      resetters.push(reset);
    },
    write() {
      // inTransaction asks SQLite itself: after an error that made SQLite roll back on its own
      // (disk full, I/O error), the next write begins afresh instead of writing in autocommit.
      if (db.inTransaction) return;
      try {
        begin.run();
      } catch (err) {
        if (!isSqliteError(err, 'SQLITE_BUSY')) throw err;
        throw new StateFileError('STATE_LOCKED', file, `${file}: another process holds the write lock of the state database; only one engine may use a state dir.`, { cause: err });
      }
    },
    flush() {
      if (db.inTransaction) for (const flush of flushers) flush();
    },
    commit() {
      if (!db.inTransaction) return;
      for (const flush of flushers) flush();
      commit.run();
    },
    rollback() {
      if (db.inTransaction) rollback.run();
      for (const reset of resetters) reset();
    },
  };
}

/**
 * A file of a version that `schema` reads (`schema.reads`) gets the current version with the
 * first commit that writes to it (the same transaction), not when it is opened: a reader of the
 * file (`joinflow status`) must not need the write lock. From then on, the older code that made
 * the file refuses it (it was written by a newer joinflow) instead of misreading new rows.
 */
export function upgradeOnWrite(db: Database.Database, batch: Batch, schema: Schema): void {
  const found = db.prepare<[], number | null>('SELECT max(version) FROM schema_version').pluck().get() ?? null;
  if (found === schema.version) return;
  let done = false;
  const mark = db.prepare('INSERT INTO schema_version (version, created_at) VALUES (?, ?)');
  batch.beforeCommit(() => {
    if (done) return;
    mark.run(schema.version, Date.now());
    done = true;
  });
  batch.afterRollback(() => {
    done = false;
  });
}
