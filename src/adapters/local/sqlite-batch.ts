/**
 * The single group-commit transaction every write of a SQLite state file goes into (the store
 * and the log share one connection).
 */
import { accessSync, constants, statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { cannotWrite, errnoCode, isSqliteError, StateFileError } from './sqlite-schema.ts';

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
  /** A write failed: rolls back (memory ahead of the file is dropped: afterRollback); every later write or commit throws the error returned. */
  abandon(error: unknown): Error;
  /** Runs `reset` when a transaction begins after another connection changed the file (`gc` in another process). */
  afterOtherWriter(reset: () => void): void;
  /** Runs `begun` inside every transaction right after it begins (before any of its writes). */
  afterBegin(begun: () => void): void;
};

/** The error of a failed commit: the file, and why in words. */
function writeFailure(file: string, err: unknown): Error {
  if (err instanceof StateFileError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) {
    // No room or cause to fix would let resume go on from it.
    const damaged = new StateFileError('STATE_WRITE', file, `${file}: cannot write the state database: it is damaged (${(err as Error).message}, ${code}); move it away to start afresh.`, { cause: err });
    damaged.resumable = false;
    return damaged;
  }
  const why = code === 'SQLITE_FULL' ? 'the database or its disk is full (SQLITE_FULL)' : typeof code === 'string' ? `${(err as Error).message} (${code})` : String((err as Error)?.message ?? err);
  return new StateFileError('STATE_WRITE', file, `${file}: cannot write the state database: ${why}. What was not committed is dropped; the file keeps every commit before it.`, { cause: err });
}

/** Creates the group-commit transaction of `db`. */
export function createBatch(db: Database.Database, file: string): Batch {
  const begin = db.prepare('BEGIN IMMEDIATE');
  // Changes when another connection commits (not this one's own commits).
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  let version: number | undefined;
  const others: Array<() => void> = [];
  const begins: Array<() => void> = [];
  const commit = db.prepare('COMMIT');
  // The file this connection writes: one deleted (rm -rf of the state dir) or replaced under it
  // would take every commit from then on, unseen, with the runs reported as if saved.
  const inode = file === ':memory:' ? undefined : statSync(file, { throwIfNoEntry: false })?.ino;
  const rollback = db.prepare('ROLLBACK');
  const flushers: Array<() => void> = [];
  const resetters: Array<() => void> = [];
  // SQLite opens a database this process may not write read-only, and readers work; the first write checks once, so
  // that a writer is told which file and why, not "attempt to write a readonly database" from whichever statement.
  let writable = false;
  let broken: Error | undefined;
  const abandon = (error: unknown): Error => {
    broken ??= writeFailure(file, error);
    try {
      if (db.open && db.inTransaction) rollback.run();
    } finally {
      for (const reset of resetters) reset();
    }
    return broken;
  };
  return {
    beforeCommit(flush) {
      flushers.push(flush);
    },
    afterRollback(reset) {
      resetters.push(reset);
    },
    afterOtherWriter(reset) {
      others.push(reset);
    },
    afterBegin(begun) {
      begins.push(begun);
    },
    write() {
      // inTransaction asks SQLite itself: after an error that made SQLite roll back on its own
      // (disk full, I/O error), the next write begins afresh instead of writing in autocommit.
      if (broken) throw broken;
      if (db.inTransaction) return;
      if (!writable) {
        try {
          accessSync(file, constants.W_OK);
        } catch (error) {
          const code = errnoCode(error);
          if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
            throw new StateFileError('STATE_ACCESS', file, `${file}: cannot write the state database: ${cannotWrite(file, code, 'it')}; joinflow needs write access to it to change it.`, { cause: error });
          }
        }
        writable = true;
      }
      try {
        begin.run();
      } catch (err) {
        if (!isSqliteError(err, 'SQLITE_BUSY')) throw err;
        throw new StateFileError('STATE_LOCKED', file, `${file}: another process holds the write lock of the state database; only one engine may use a state dir.`, { cause: err });
      }
      // Read with the write lock held: nothing can change the file between this and the commit.
      const now = dataVersion.get()!;
      if (version !== undefined && now !== version) for (const reset of others) reset();
      version = now;
      for (const begun of begins) begun();
    },
    flush() {
      if (db.inTransaction) for (const flush of flushers) flush();
    },
    commit() {
      if (broken) throw broken;
      if (!db.inTransaction) return;
      try {
        for (const flush of flushers) flush();
        if (inode !== undefined && statSync(file, { throwIfNoEntry: false })?.ino !== inode) {
          const gone = new StateFileError('STATE_WRITE', file, `${file}: the state database was deleted, moved or replaced while this engine ran (this path no longer names the file it opened); what it did since its last commit is not saved. If the state dir was moved, 'joinflow resume --state <its new place>' continues its runs`);
          gone.resumable = false;
          throw gone;
        }
        commit.run();
      } catch (err) {
        // Memory (the journal's names and runs) was ahead of the file: committing later what is
        // left would write rows that refer to facts that never reached it.
        throw abandon(err);
      }
    },
    abandon,
    rollback() {
      if (db.inTransaction) rollback.run();
      for (const reset of resetters) reset();
    },
  };
}
