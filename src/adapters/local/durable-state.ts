/**
 * Opening a state dir of the durable embedded engine. New state dirs get the journal store
 * (journal-state.ts); a state dir made by the row store (sqlite-state.ts, schema version 2, the
 * default before the journal) keeps using it, so that its runs can still be listed, resumed and
 * collected.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { BlobStore } from '../../ports.ts';
import { createFileBlobStore } from './file-blobs.ts';
import { openJournalState, type JournalState } from './journal-state.ts';
import { openSqliteState, type SqliteState } from './sqlite-state.ts';
import type { SqliteStateOptions } from './state-options.ts';
import { ROW_SCHEMA, stateDirectory } from './sqlite-schema.ts';

/**
 * An open state dir, whichever store made it, with its blob store: step outputs over the
 * engine's `maxPayloadBytes` are kept as files under `<dir>/blobs/` (`createEngine({ blobs })`).
 */
export type DurableState = (JournalState | SqliteState) & { blobs: BlobStore };

/** Which store a state dir uses: `rows` for one made by the row store, else `journal`. */
export function stateKind(dir: string): 'journal' | 'rows' {
  const file = path.resolve(dir, 'state.db');
  if (!existsSync(file)) return 'journal';
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const version = db.prepare<[], number | null>('SELECT max(version) FROM schema_version').pluck().get();
    return version === ROW_SCHEMA.version ? 'rows' : 'journal';
  } catch {
    // Not readable as a joinflow state file: opening it as a journal says what is wrong.
    return 'journal';
  } finally {
    db?.close();
  }
}

/**
 * Opens (or creates) the durable state in `options.dir`. A directory that cannot be one, or a
 * database this process may not write, throws a StateFileError naming it and the cause.
 */
export function openDurableState(options: SqliteStateOptions): DurableState {
  stateDirectory(options.dir, true);
  const state = stateKind(options.dir) === 'rows' ? openSqliteState(options) : openJournalState(options);
  return { ...state, blobs: createFileBlobStore(path.join(options.dir, 'blobs')) };
}
