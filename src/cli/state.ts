/** The embedded engine's state directory for CLI commands: opening it, and cancel requests. */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { alive } from '../adapters/local/process-identity.ts';
import { openDurableState } from '../adapters/local/durable-state.ts';
import { keepDroppedWal } from '../adapters/local/wal-check.ts';
import { StateFileError, stateDirError, stateDirectory } from '../adapters/local/sqlite-schema.ts';
import { UsageError } from '../model/errors.ts';

/** Default state directory, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.joinflow';

/**
 * The state directory a command uses. A path that cannot be a directory (a file, or a file in
 * its path) is refused here, by every command, with a StateFileError naming it (exit 2).
 */
export function stateDir(flag: string | undefined): string {
  // path.resolve('') is the current directory: an empty --state ("$STATE" unset) must not write there.
  if (flag !== undefined && flag.trim() === '') throw new UsageError('--state: the directory name is empty');
  const dir = path.resolve(flag ?? DEFAULT_STATE_DIR);
  stateDirectory(dir, false);
  return dir;
}

/** Opens the durable state (SQLite + blob files) in `dir`, creating it if needed. */
export function openState(dir: string, options: { mustExist?: boolean } = {}) {
  if (options.mustExist) requireState(dir);
  // SQLite drops the commits after a damaged frame of the WAL without a word: say so (not while an engine writes it).
  if (otherEngines(dir).length === 0) {
    const dropped = keepDroppedWal(path.join(dir, 'state.db'));
    if (dropped) process.stderr.write(`joinflow: ${dropped}\n`);
  }
  return openDurableState({ dir });
}

/**
 * Throws the usage error of a state dir without a state file, and a StateFileError for one that
 * cannot be looked into (not a directory, no permission).
 */
export function requireState(dir: string): void {
  let found = stateDirectory(dir, false);
  try {
    found &&= statSync(path.join(dir, 'state.db'), { throwIfNoEntry: false }) !== undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new StateFileError('STATE_DIR', dir, `state dir ${dir}: cannot look into it (${code}); joinflow needs read and write access to the state dir.`, { cause: error });
  }
  if (!found) throw new UsageError(`no joinflow state in ${dir} (run a workflow first, or pass --state DIR)`);
}

/**
 * Marks `dir` as written by this process's engine (`run`, `resume`, `dev`), and warns when another
 * live engine writes it too: two engines on one state dir are not supported (each numbers its
 * events on its own, so `events tail` can miss some). Returns the function that removes the mark.
 */
export function markEngine(dir: string, command: string): () => void {
  const folder = path.join(dir, 'engines');
  const mine = path.join(folder, String(process.pid));
  let others: number[];
  try {
    mkdirSync(folder, { recursive: true });
    others = otherEngines(dir, true);
    writeFileSync(mine, command);
  } catch (error) {
    throw stateDirError(dir, error);
  }
  if (others.length > 0) {
    process.stderr.write(`joinflow ${command}: process ${others.join(', ')} also runs an engine on ${dir}; one engine per state dir is supported (events tail can miss events of two): give this one its own --state DIR\n`);
  }
  return () => rmSync(mine, { force: true });
}

/**
 * The pids of the live engines (`run`, `resume`, `dev`) other than this process that mark `dir`.
 * `prune`: the marks of engines that are gone are removed.
 */
export function otherEngines(dir: string, prune = false): number[] {
  const folder = path.join(dir, 'engines');
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (alive(pid)) live.push(pid);
    else if (prune) rmSync(path.join(folder, name), { force: true });
  }
  return live;
}

/** Asks the engine process that runs `runId` to cancel it (it reads these on SIGUSR2). */
export function requestCancel(dir: string, runId: string): void {
  const folder = path.join(dir, 'cancel');
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, `${encodeURIComponent(runId)}.json`), JSON.stringify({ runId, at: Date.now() }));
  } catch (error) {
    throw stateDirError(dir, error);
  }
}

/** Whether a cancel request for `runId` waits in `dir` (its engine died or was stopping before it read it). */
export function cancelRequested(dir: string, runId: string): boolean {
  return existsSync(path.join(dir, 'cancel', `${encodeURIComponent(runId)}.json`));
}

/** Removes the cancel request for `runId`, if any. */
export function dropCancelRequest(dir: string, runId: string): void {
  rmSync(path.join(dir, 'cancel', `${encodeURIComponent(runId)}.json`), { force: true });
}

/**
 * The lock under which a process checks who runs a run and takes it over (`resume`) or cancels it
 * for a dead engine (`cancel`).
 */
export const RUNS_LOCK = 'runs';

/** How long a lock file may stay empty while its taker writes its pid into it. */
const EMPTY_LOCK_MS = 5_000;

/**
 * Creates the lock file `file` with this process's pid in it; EEXIST when it is there. A file
 * created but not written (a full disk) is removed: left empty, it would hold the lock.
 */
function takeLockFile(file: string): void {
  const fd = openSync(file, 'wx');
  let written = false;
  try {
    writeSync(fd, String(process.pid));
    written = true;
  } finally {
    closeSync(fd);
    if (!written) rmSync(file, { force: true });
  }
}

/**
 * A lock file in `dir` held while `fn` runs: another process waits for it (a lock whose holder is
 * gone is taken over). Guards what must not interleave between processes, such as two resumes
 * checking and claiming the same runs.
 */
export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(dir, `${name}.lock`);
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      takeLockFile(file);
      break;
    } catch (error) {
      // Not allowed to write it (a read-only state dir, a full disk): said in a line, not as a stack trace.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw stateDirError(dir, error);
      let text: string;
      let age: number;
      try {
        text = readFileSync(file, 'utf8');
        age = Date.now() - statSync(file).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      // An empty file is a lock being written, waited for like a held one; still empty after
      // seconds, its writer died between creating and writing it (or an older joinflow left it
      // when the disk was full), and nobody holds it.
      if ((text !== '' && !alive(Number(text))) || (text === '' && age > EMPTY_LOCK_MS)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > until) throw new UsageError(`${file} is held by process ${text === '' ? '(not yet written)' : text}: wait for it, or remove the file if that process is not joinflow`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Cancel requests waiting in `dir` for runs `mine` says this process runs, removed as they are
 * read (requests for other processes' runs stay for them).
 */
export function takeCancelRequests(dir: string, mine: (runId: string) => boolean): string[] {
  const folder = path.join(dir, 'cancel');
  if (!existsSync(folder)) return [];
  const ids: string[] = [];
  for (const f of readdirSync(folder)) {
    const file = path.join(folder, f);
    let runId: string;
    try {
      runId = (JSON.parse(readFileSync(file, 'utf8')) as { runId: string }).runId;
    } catch {
      // A request being written right now is picked up by the next signal.
      continue;
    }
    if (!mine(runId)) continue;
    ids.push(runId);
    rmSync(file, { force: true });
  }
  return ids;
}

/**
 * Cancels the runs `joinflow cancel` asks this process to (it leaves a request in the state dir
 * and sends SIGUSR2; without a listener, SIGUSR2 would end the process). Every command that runs
 * an engine on a state dir listens. Returns the function that stops listening.
 */
export function listenForCancel(dir: string, engine: CancellingEngine): () => void {
  const onSignal = (): void => {
    cancelAsked(dir, engine);
  };
  process.on('SIGUSR2', onSignal);
  return () => process.off('SIGUSR2', onSignal);
}

type CancellingEngine = { owns(runId: string): boolean; cancel(runId: string, reason: string): Promise<boolean> };

/**
 * Cancels the runs of `engine` whose cancel requests wait in `dir`. Called on SIGUSR2, and once
 * after an engine recovered runs: a request whose signal came after this process claimed them but
 * before its engine ran them found no run to cancel, and waits.
 */
export function cancelAsked(dir: string, engine: CancellingEngine): void {
  for (const runId of takeCancelRequests(dir, (id) => engine.owns(id))) void engine.cancel(runId, 'cancelled with joinflow cancel');
}

export { alive };
