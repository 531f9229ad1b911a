/**
 * Data staging around command steps (`files` of a step): its input files must be in the run's data
 * directory before the command starts, and its output files must be there once it exits 0. The
 * command finds the directory in JOINFLOW_DATA_DIR and the names, one per line, in
 * JOINFLOW_INPUTS and JOINFLOW_OUTPUTS. Where missing inputs come from and where outputs go is a
 * DataStage: on the embedded engine one directory per run under the state dir (external inputs
 * copied from `--data DIR`); in `joinflow worker` an S3 prefix per run (adapters/aws/s3-data.ts).
 */
import { constants } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StepError } from '../../model/events.ts';
import type { Executor, StepOutcome, StopSignal, Task } from '../../ports.ts';

/** Where a run's data lives and how files get in and out of the local directory a command sees. */
export type DataStage = {
  /** The local directory of a task's run data (created when missing). */
  dir(task: Task): string;
  /** Brings `names`, missing from `dir`, into it; resolves with those it could not find. */
  fetch(task: Task, names: string[], dir: string): Promise<string[]>;
  /** Hands verified outputs on (uploads them); absent when `dir` is where they stay. */
  store?(task: Task, names: string[], dir: string): Promise<void>;
  /** Says where missing inputs were looked for, for the error message. */
  missingHint(task: Task): string;
  /**
   * True when `dir` is where the run's data stays on this machine (the embedded engine): command
   * steps without `files` are told it too (JOINFLOW_DATA_DIR, not created for them), so that what
   * they write there is kept, and deleted, with the run.
   */
  shared?: boolean;
};

/** Options of {@link createRunDirStage}. */
export type RunDirStageOptions = {
  /** The data directory of a run. */
  dir: (runId: string) => string;
  /** A directory holding the workflow's external inputs (files no step writes), or none. */
  source?: string;
};

const SHOWN = 5;

function failed(type: string, message: string, retriable: boolean): StepOutcome {
  const error: StepError = { type, message };
  return { status: 'failed', error, retriable };
}

/** `"a", "b" and 3 more`. */
function list(names: string[]): string {
  const shown = names.slice(0, SHOWN).map((n) => JSON.stringify(n)).join(', ');
  return names.length > SHOWN ? `${shown} and ${names.length - SHOWN} more` : shown;
}

/** Whether `file` is a file: a directory of that name is not one (declared inputs and outputs are files). */
async function exists(file: string): Promise<boolean> {
  return stat(file).then((s) => s.isFile(), () => false);
}

/** Removes the declared outputs that are files, except those the step also reads. */
async function removeStale(dir: string, files: NonNullable<Task['files']>): Promise<void> {
  const read = new Set(files.inputs);
  const stale = files.outputs.filter((o) => !read.has(o)).map((o) => path.join(dir, o));
  await Promise.all(stale.map(async (file) => {
    if (await exists(file)) await rm(file, { force: true });
  }));
}

async function absent(dir: string, names: readonly string[]): Promise<string[]> {
  const found = await Promise.all(names.map((n) => exists(path.join(dir, n))));
  return names.filter((_, i) => !found[i]);
}

/**
 * The embedded engine's stage: each run's data directory is on this machine, so outputs stay
 * where the next step reads them; only external inputs are copied in, from `source`.
 */
export function createRunDirStage(options: RunDirStageOptions): DataStage {
  const source = options.source;
  return {
    shared: true,
    dir: (task) => options.dir(task.runId),
    async fetch(_task, names, dir) {
      if (source === undefined) return names;
      const missing: string[] = [];
      for (const name of names) {
        const from = path.join(source, name);
        if (!(await exists(from))) {
          missing.push(name);
          continue;
        }
        const to = path.join(dir, name);
        await mkdir(path.dirname(to), { recursive: true });
        // Several steps may need the same input at once: each copies to a name of its own and
        // renames, which is atomic, so no step ever sees a half-copied file.
        const tmp = `${to}.joinflow-${process.pid}-${Math.random().toString(36).slice(2)}`;
        try {
          await copyFile(from, tmp, constants.COPYFILE_FICLONE);
          await rename(tmp, to);
        } finally {
          await rm(tmp, { force: true });
        }
      }
      return missing;
    },
    missingHint: () =>
      source === undefined
        ? 'no earlier step left it there (none wrote it, or it was removed since); the workflow\'s own input files come with --data DIR'
        : `no earlier step left it there (none wrote it, or it was removed since), and it is not in --data ${source} either`,
  };
}

/**
 * Lists longer than this (in bytes, both together) go to a file: Linux refuses an environment
 * string over 128 KiB (E2BIG), and a few thousand file names reach that.
 */
export const LOCAL_FILES_LIMIT = 64 * 1024;

/**
 * The variables that give a command its file names: JOINFLOW_INPUTS and JOINFLOW_OUTPUTS, one name
 * per line; or, for long lists, JOINFLOW_FILES_URI, a file:// URI of a JSON `{inputs, outputs}`
 * object beside the data directory (as Batch jobs get an s3:// one).
 */
async function fileLists(task: Task, files: NonNullable<Task['files']>, dir: string): Promise<Record<string, string>> {
  const inputs = files.inputs.join('\n');
  const outputs = files.outputs.join('\n');
  if (Buffer.byteLength(inputs) + Buffer.byteLength(outputs) <= LOCAL_FILES_LIMIT) return { JOINFLOW_INPUTS: inputs, JOINFLOW_OUTPUTS: outputs };
  const listDir = path.join(path.dirname(dir), 'files');
  await mkdir(listDir, { recursive: true });
  const file = path.join(listDir, `${task.step}${task.item === undefined ? '' : `.${task.item}`}.${task.attempt}.json`);
  await writeFile(file, JSON.stringify({ inputs: files.inputs, outputs: files.outputs }));
  return { JOINFLOW_FILES_URI: pathToFileURL(file).href };
}

/**
 * Wraps the process executor (which batch and container command steps also go through locally):
 * tasks with `files` get their inputs checked (and fetched), the data env vars, and their outputs
 * checked afterwards. Tasks without files pass straight through.
 */
export function createStagingExecutor(inner: Executor, stage: DataStage): Executor {
  async function execute(task: Task, signal: StopSignal): Promise<StepOutcome> {
    const files = task.files;
    const spec = task.executor;
    if (spec.type !== 'process') return inner.execute(task, signal);
    if (!files) {
      if (!stage.shared) return inner.execute(task, signal);
      return inner.execute({ ...task, executor: { ...spec, env: { ...spec.env, JOINFLOW_DATA_DIR: path.resolve(stage.dir(task)) } } }, signal);
    }
    const dir = path.resolve(stage.dir(task));
    const where = `step "${task.step}"${task.item === undefined ? '' : ` item ${task.item}`}`;
    try {
      await mkdir(dir, { recursive: true });
      const missing = await absent(dir, files.inputs);
      const unfound = missing.length > 0 ? await stage.fetch(task, missing, dir) : [];
      if (unfound.length > 0) {
        const s = unfound.length === 1 ? '' : 's';
        return failed('MissingInput', `${where}: input file${s} ${list(unfound)} not in the run's data directory ${dir}: ${stage.missingHint(task)}`, false);
      }
      // Outputs may name subdirectories; commands should not each have to create them.
      const parents = new Set(files.outputs.map((o) => path.dirname(path.join(dir, o))));
      await Promise.all([...parents].map((p) => mkdir(p, { recursive: true })));
      // What an earlier attempt (failed, timed out, or cut off by a crash) left of the outputs
      // must not pass for this attempt's: a tool that exits 0 without writing them (or one that
      // skips work whose output exists) would otherwise hand a half-written file on. Items of a
      // forEach step share the step's files, so one item's outputs are not another's to remove.
      if (task.item === undefined) await removeStale(dir, files);
    } catch (error) {
      return failed('StageInFailed', `${where}: cannot stage its input files into ${dir}: ${(error as Error).message}`, true);
    }
    let lists: Record<string, string>;
    try {
      lists = await fileLists(task, files, dir);
    } catch (error) {
      return failed('StageInFailed', `${where}: cannot write its file lists: ${(error as Error).message}`, true);
    }
    const env = { ...spec.env, JOINFLOW_DATA_DIR: dir, ...lists };
    const outcome = await inner.execute({ ...task, executor: { ...spec, env } }, signal);
    if (outcome.status !== 'succeeded') return outcome;
    const notWritten = await absent(dir, files.outputs);
    if (notWritten.length > 0) {
      const s = notWritten.length === 1 ? '' : 's';
      return failed('MissingOutput', `${where}: '${spec.command}' exited 0 but did not write its output file${s} ${list(notWritten)} in ${dir}`, true);
    }
    if (stage.store && files.outputs.length > 0) {
      try {
        await stage.store(task, files.outputs, dir);
      } catch (error) {
        return failed('StageOutFailed', `${where}: cannot store its output files: ${(error as Error).message}`, true);
      }
    }
    return outcome;
  }

  return { kind: inner.kind, execute, close: () => inner.close() };
}
