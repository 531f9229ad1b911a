/** `joinflow gc`: compacts the state dir by deleting finished runs older than a cutoff. */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import { isSqliteError, StateFileError } from '../adapters/local/sqlite-schema.ts';
import { sweepMemoryRuns } from './memory-runs.ts';
import { openState, otherEngines, stateDir } from './state.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Runs `joinflow gc`. */
export async function gcCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { state: { type: 'string' }, 'older-than': { type: 'string', default: '0s' } } });
  const m = /^(\d+)([smhd])$/.exec(values['older-than']);
  if (!m) throw new UsageError(`--older-than: "${values['older-than']}" is not a duration like 30m, 12h or 7d`);
  const before = Date.now() - Number(m[1]) * UNITS[m[2]!]!;
  const dir = stateDir(values.state);
  // A state dir that is not there is a mistake (a mistyped --state); one that is there is
  // collected, whatever it holds: with no database, only the files of --memory runs.
  if (!existsSync(dir)) throw new UsageError(`no joinflow state in ${dir} (nothing to collect; pass --state DIR)`);
  // Directories of --memory runs (no state records them) whose process is gone.
  const memory = await sweepMemoryRuns(dir, before);
  const dirs = (n: number) => `${n} director${n === 1 ? 'y' : 'ies'}`;
  const memoryNote = memory.removed === 0
    ? ''
    : `${dirs(memory.removed)} of --memory runs${memory.stopped === 0 ? '' : ` (after stopping ${memory.stopped} process${memory.stopped === 1 ? '' : 'es'} their steps left running)`}`;
  if (!existsSync(path.join(dir, 'state.db'))) {
    process.stderr.write(`joinflow gc: no database in ${dir}; removed ${memoryNote === '' ? '0 directories of --memory runs' : memoryNote}\n`);
    return 0;
  }
  const state = openState(dir);
  try {
    const { runs, runIds, deadLetters = 0, unstarted = [] } = state.log.gc(before);
    // What the runs left beside the database: step logs and data files, and large payloads.
    let leftovers = 0;
    for (const runId of [...runIds, ...unstarted]) {
      for (const parent of [path.join(dir, 'runs'), path.join(dir, 'blobs')]) {
        const runDir = path.resolve(parent, runId);
        // A run id is one path segment (ids are validated); never follow one out of its parent.
        if (path.dirname(runDir) !== path.resolve(parent) || !existsSync(runDir)) continue;
        rmSync(runDir, { recursive: true, force: true });
        leftovers++;
      }
    }
    // Cancel requests for runs that ended meanwhile (their engine finished them before reading the request).
    const requests = path.join(dir, 'cancel');
    if (existsSync(requests)) {
      for (const f of readdirSync(requests)) {
        const record = await state.store.getRun(decodeURIComponent(f.replace(/\.json$/, '')));
        if (record?.status !== 'running') rmSync(path.join(requests, f), { force: true });
      }
    }
    // Finished subscription deliveries are kept only to recognise a late duplicate of their event.
    let deliveries: number | undefined;
    try {
      const outbox = state.outbox();
      deliveries = outbox.prune(before);
      outbox.commit();
    } catch (err) {
      // On a full disk, what gc deleted and freed so far stands; the deliveries wait for the next gc.
      if (!noRoom(err)) throw err;
    }
    const files = leftovers === 0 ? '' : `, and ${dirs(leftovers)} of their logs, data and payloads`;
    const never = unstarted.length === 0 ? '' : `, ${unstarted.length} run(s) taken on that never started (nothing pending would start them)`;
    const letters = `${never}${deadLetters === 0 ? '' : `, ${deadLetters} dead letter${deadLetters === 1 ? '' : 's'}`}`;
    const pruned = deliveries === undefined ? '' : ` and ${deliveries} finished subscription deliver${deliveries === 1 ? 'y' : 'ies'}`;
    process.stderr.write(`joinflow gc: removed ${runs} finished run(s)${letters}${pruned}${files}${memoryNote === '' ? '' : `, and ${memoryNote}`}\n`);
    if (deliveries === undefined) {
      process.stderr.write(`joinflow gc: ${path.join(dir, 'state.db')}: no room to write the database (the disk is full, or an I/O error): finished subscription deliveries were not removed, nor the database compacted; run gc again once there is room\n`);
      return 0;
    }
    const compacted = compact(dir, state);
    if (compacted !== undefined) process.stderr.write(`joinflow gc: ${compacted}\n`);
    return 0;
  } finally {
    state.close();
  }
}

/**
 * Gives the space of what was deleted back to the file system (VACUUM, then the WAL truncated).
 * Not while an engine runs on the state dir: VACUUM rewrites the whole file under the write lock,
 * and an engine that waited longer than its busy timeout for it would stop.
 */
function compact(dir: string, state: ReturnType<typeof openState>): string | undefined {
  if (state.log.freePages() === 0) return undefined;
  const others = otherEngines(dir);
  if (others.length > 0) return `the database was not compacted: process ${others.join(', ')} runs an engine on ${dir} (the space freed is reused by new runs; run gc again once it has stopped to give it back)`;
  const file = path.join(dir, 'state.db');
  const size = (): number => (existsSync(file) ? statSync(file).size : 0) + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
  const before = size();
  try {
    state.log.vacuum();
  } catch (err) {
    // VACUUM writes a copy of the database: on a full disk the deleted rows stay free pages, which new runs reuse.
    if (!noRoom(err)) throw err;
    return `the database was not compacted: ${file}: ${(err as Error).message} (${(err as { code?: string }).code}); the space freed is reused by new runs, and gc gives it back once there is room for the copy VACUUM writes`;
  }
  const mb = (n: number): string => (n < 2 ** 20 ? `${Math.round(n / 1024)} KB` : `${(n / 2 ** 20).toFixed(1)} MB`);
  return `compacted the database: ${mb(before)} -> ${mb(size())}`;
}

/** A write the disk had no room for (SQLITE_FULL), or an I/O error (a file that may not grow). */
function noRoom(err: unknown): boolean {
  // A failed commit comes as the state's STATE_WRITE error, with SQLite's as its cause.
  const cause = err instanceof StateFileError && err.code === 'STATE_WRITE' ? err.cause : err;
  return isSqliteError(cause, 'SQLITE_FULL') || isSqliteError(cause, 'SQLITE_IOERR');
}
