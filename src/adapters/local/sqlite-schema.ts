/**
 * The SQLite state file of the durable embedded engine: opening it (pragmas), its schema and
 * schema version, and the errors about it. Every write goes into one group-commit transaction
 * (sqlite-batch.ts); the store and the log share one connection.
 */
import { accessSync, constants, existsSync, mkdirSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { JoinflowError } from '../../model/errors.ts';
import type { Batch } from './sqlite-batch.ts';
import type { SyncMode } from './state-options.ts';

/** The schema this code reads and writes; bump it (and add a migration) on any table change. */
export const SCHEMA_VERSION = 2;

/**
 * The state file was made by another schema version, is not a joinflow state file (or damaged:
 * STATE_UNREADABLE), is locked, or this process may not write it (STATE_ACCESS); or the state
 * dir cannot be one (STATE_DIR: not a directory, not writable, not creatable); or a commit to it
 * failed (STATE_WRITE: disk full, I/O error). `file`: the path.
 */
export class StateFileError extends JoinflowError {
  readonly file: string;
  /** For STATE_WRITE: whether `resume` can continue from the file (not when it was deleted or replaced). */
  resumable = true;
  constructor(code: 'STATE_SCHEMA' | 'STATE_NOT_JOINFLOW' | 'STATE_LOCKED' | 'STATE_UNREADABLE' | 'STATE_ACCESS' | 'STATE_DIR' | 'STATE_WRITE', file: string, message: string, options?: ErrorOptions) {
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
export type OpenDatabaseOptions = { sync?: SyncMode; busyTimeoutMs?: number; maxPages?: number };

/**
 * A schema: its version and the DDL that creates it in an empty file. `reads`: older versions
 * whose files this code reads as they are (and upgrades by writing; see {@link upgradeOnWrite}).
 * `upgrade`: DDL that adds to a file of one of those versions what this version has more (tables
 * only: CREATE TABLE IF NOT EXISTS), run by the same first write.
 */
export type Schema = { version: number; ddl: string; reads?: readonly number[]; upgrade?: string };

/** The schema of the row-per-task SQLite store (sqlite-state.ts). */
export const ROW_SCHEMA: Schema = { version: SCHEMA_VERSION, ddl: DDL };

/**
 * Opens (creating if needed) the state database at `file` and checks its schema version.
 * WAL + `synchronous=NORMAL`: a commit survives a process crash (the WAL is in the OS page
 * cache) but the last commits may be lost on power loss; `full` fsyncs the WAL on every commit.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}, schema: Schema = ROW_SCHEMA): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5_000 });
  } catch (err) {
    throw openError(file, err);
  }
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
    // A transaction larger than that (a row of a large fan-in's outputs) grows the WAL past it;
    // once the WAL starts over, it is cut back to 64 MiB instead of keeping that size.
    db.pragma('journal_size_limit = 67108864');
    ensureSchema(db, file, schema);
    if (options.maxPages !== undefined) db.pragma(`max_page_count = ${Math.floor(options.maxPages)}`);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StateFileError) throw err;
    if (isSqliteError(err, 'SQLITE_BUSY')) {
      throw new StateFileError('STATE_LOCKED', file, `${file}: the state database is locked by another process; stop it or use another state dir.`, { cause: err });
    }
    throw openError(file, err);
  }
}

/** "the file system of <dir> is full" when it has no space left for this user, else undefined. */
function noSpace(dir: string): string | undefined {
  try {
    const fs = statfsSync(dir);
    return fs.bavail === 0 ? `the file system of ${dir} is full (no space left)` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The error for a state database SQLite would not open. Only a file that is not a database
 * (damaged, or some other file) is worth moving away; a good one this process may not write
 * (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM: WAL mode writes even to read) is not.
 */
function openError(file: string, err: unknown): StateFileError {
  // Not the file's fault: the SQLite module itself is not built for this Node.
  const message = String((err as Error)?.message ?? err);
  if (/Could not locate the bindings file|NODE_MODULE_VERSION|was compiled against a different Node\.js/.test(message) || (err as { code?: unknown })?.code === 'ERR_DLOPEN_FAILED') {
    return new StateFileError('STATE_UNREADABLE', file, `${file}: cannot open the state database: the SQLite module (better-sqlite3) is not built for this Node.js (${process.version}): run 'npm rebuild better-sqlite3' (it compiles from source), or run with --memory. (${message.split('\n')[0]})`, { cause: err });
  }
  const code = err instanceof Database.SqliteError ? err.code : undefined;
  const why = `${(err as Error).message}${code === undefined ? '' : `, ${code}`}`;
  if (isSqliteError(err, 'SQLITE_CORRUPT') || isSqliteError(err, 'SQLITE_NOTADB')) {
    return new StateFileError('STATE_UNREADABLE', file, `${file}: not a valid state database (${why}): it is damaged or not joinflow's; move it away to start afresh.`, { cause: err });
  }
  const access = ['SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_AUTH'].some((c) => isSqliteError(err, c));
  if (access || isSqliteError(err, 'SQLITE_IOERR')) {
    const dir = path.dirname(file);
    // The first thing in the way, as access(2) sees it for this user: the directory (SQLite
    // creates the -wal and -shm files beside the database), the database, or one of those files.
    const cause =
      whyNot(dir, constants.W_OK | constants.X_OK, `in ${dir}`) ??
      [file, `${file}-wal`, `${file}-shm`].map((f) => (existsSync(f) ? whyNot(f, constants.R_OK | constants.W_OK, f === file ? 'it' : f) : undefined)).find((c) => c !== undefined);
    const needs = 'joinflow needs write access to it and to its directory, also to read it (SQLite WAL)';
    if (cause !== undefined) return new StateFileError('STATE_ACCESS', file, `${file}: cannot open the state database: ${cause}; ${needs}.`, { cause: err });
    if (isSqliteError(err, 'SQLITE_READONLY')) return new StateFileError('STATE_ACCESS', file, `${file}: the state database is read-only (${why}); ${needs}.`, { cause: err });
    if (access) return new StateFileError('STATE_ACCESS', file, `${file}: cannot open the state database (${why}); ${needs}.`, { cause: err });
  }
  // Opening writes the -shm file beside it (WAL): a full file system fails that as an I/O error
  // (SQLITE_IOERR_SHMSIZE), or the first write as SQLITE_FULL.
  const full = isSqliteError(err, 'SQLITE_IOERR') || isSqliteError(err, 'SQLITE_FULL') ? noSpace(path.dirname(file)) : undefined;
  if (full !== undefined) {
    const e = new StateFileError('STATE_WRITE', file, `${file}: cannot open the state database: ${full} (${why}); free some space, or use a state dir elsewhere (--state).`, { cause: err });
    // Nothing ran: there is nothing for resume to continue.
    e.resumable = false;
    return e;
  }
  return new StateFileError('STATE_UNREADABLE', file, `${file}: cannot open the state database (${why}).`, { cause: err });
}

export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * What an errno code met writing `target` (`name`: how to call it) means, in words, with the
 * code: `no permission to write /x (EACCES)`.
 */
export function cannotWrite(target: string, code: string | undefined, name = target): string {
  switch (code) {
    case 'EACCES':
      return `no permission to write ${name} (EACCES)`;
    case 'EPERM':
      return `not permitted to write ${name} (EPERM)`;
    case 'EROFS':
      return `${target} is on a read-only file system (EROFS)`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `${target} is not a directory (${code})`;
    case 'ENOSPC':
      return `no space left on the device of ${target} (ENOSPC)`;
    case 'EDQUOT':
      return `disk quota exceeded writing ${name} (EDQUOT)`;
    default:
      return `cannot write ${name} (${code ?? 'unknown error'})`;
  }
}

/** Why this process may not access `target` with `mode` (access(2) flags), or undefined when it may. */
function whyNot(target: string, mode: number, name: string): string | undefined {
  try {
    accessSync(target, mode);
    return undefined;
  } catch (error) {
    return cannotWrite(target, errnoCode(error), name);
  }
}

const DIR_NEEDS = 'joinflow needs write access to the state dir';

/**
 * The error for a file operation in the state dir `dir` that failed with an errno error (as
 * writing a lock or a cancel request there), naming the dir and the cause; any other error is
 * returned as it is.
 */
export function stateDirError(dir: string, error: unknown): unknown {
  const code = errnoCode(error);
  if (code === undefined || !(error instanceof Error) || error instanceof JoinflowError || !/^E[A-Z0-9]+$/.test(code)) return error;
  const abs = path.resolve(dir);
  const where = (error as NodeJS.ErrnoException).path ?? abs;
  const cause = where === abs && code === 'EACCES' ? `no permission to write in ${abs} (EACCES)` : cannotWrite(where, code);
  return new StateFileError('STATE_DIR', abs, `state dir ${abs}: ${cause}; ${DIR_NEEDS}.`, { cause: error });
}

/**
 * Checks that the state dir `dir` is a directory, and creates it when `create` and it is missing,
 * level by level (Node's recursive mkdir spins forever where mkdir says ENOENT for a parent that
 * exists, as in /proc). Returns whether the directory exists. Throws a StateFileError (STATE_DIR)
 * naming `dir` and the cause when it cannot be one: not a directory, a file in its path, no
 * permission, a read-only file system.
 */
export function stateDirectory(dir: string, create: boolean): boolean {
  const abs = path.resolve(dir);
  const fail = (message: string, cause?: unknown) => new StateFileError('STATE_DIR', abs, `state dir ${abs}: ${message}.`, cause === undefined ? undefined : { cause });
  const missing: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (error) {
      const code = errnoCode(error);
      // A missing level (or a file above it, found further up) is looked for in its parent.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(p) !== p) {
        missing.unshift(p);
        continue;
      }
      throw fail(code === 'EACCES' ? `no permission to look into ${path.dirname(p)} (EACCES)` : `cannot look up ${p} (${code ?? 'unknown error'})`, error);
    }
    if (!isDir) throw fail(p === abs ? 'not a directory (a file of that name is in the way)' : `${p} is not a directory`);
    break;
  }
  if (missing.length === 0) return true;
  if (!create) return false;
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (error) {
      // Made meanwhile by another process: fine, as long as it is a directory.
      if (errnoCode(error) === 'EEXIST' && statSync(p, { throwIfNoEntry: false })?.isDirectory()) continue;
      const code = errnoCode(error);
      const parent = path.dirname(p);
      const cause = code === 'ENOENT' ? `${parent} does not take new directories (ENOENT)` : code === 'EACCES' ? `no permission to write in ${parent} (EACCES)` : cannotWrite(parent, code, `in ${parent}`);
      throw fail(`cannot create ${p === abs ? 'it' : p}: ${cause}; ${DIR_NEEDS}`, error);
    }
  }
  return true;
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

/**
 * What the state database holds that cannot be decoded any more (a damaged file: bytes changed
 * under SQLite, or a page it could not read): `what` names the row, and the message says so.
 * The CLI adds the file (it knows the state dir), as for other StateFileErrors.
 */
export class StateDamagedError extends JoinflowError {
  constructor(what: string, cause: unknown) {
    super('STATE_DAMAGED', `${what} cannot be read: the state database is damaged (${String((cause as Error)?.message ?? cause).split('\n')[0]})`, { cause });
  }
}

/** JSON text read back from the state database; a damaged one throws StateDamagedError naming `what`. */
export function parseStored<T = unknown>(text: string, what: () => string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new StateDamagedError(what(), error);
  }
}

/** True when `err` is a better-sqlite3 error with this result code. */
export function isSqliteError(err: unknown, code: string): boolean {
  return err instanceof Database.SqliteError && (err.code === code || err.code.startsWith(`${code}_`));
}

/**
 * A file of a version that `schema` reads (`schema.reads`) gets the current version with the
 * first commit that writes to it (the same transaction), not when it is opened: a reader of the
 * file (`joinflow status`) must not need the write lock. From then on, the older code that made
 * the file refuses it (it was written by a newer joinflow) instead of misreading new rows. The
 * tables the current version has more (`schema.upgrade`) are made at the start of that
 * transaction, before its writes, which may go into them; until then, readers of the file do
 * without them.
 */
export function upgradeOnWrite(db: Database.Database, batch: Batch, schema: Schema): void {
  const found = db.prepare<[], number | null>('SELECT max(version) FROM schema_version').pluck().get() ?? null;
  if (found === schema.version) return;
  let done = false;
  const mark = db.prepare('INSERT INTO schema_version (version, created_at) VALUES (?, ?)');
  // A transaction rolled back takes its upgrade with it: the next one upgrades again.
  batch.afterRollback(() => (done = false));
  batch.afterBegin(() => {
    if (done) return;
    if (schema.upgrade !== undefined) db.exec(schema.upgrade);
    mark.run(schema.version, Date.now());
    done = true;
  });
}
