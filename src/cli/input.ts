/** `--input JSON|@file` parsing shared by the commands that start runs, and output files named by flags. */
import { closeSync, lstatSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../model/errors.ts';
import { parseJsonStrict } from '../adapters/local/plain-json.ts';
import { parsedInput } from '../adapters/local/engine-support.ts';
import { parse as parseYaml } from 'yaml';

/** The run input: JSON text, or `@path` to a JSON file (YAML when it ends in .yaml or .yml, as CWL job files do); null when absent. */
export function parseInput(raw: string | undefined): unknown {
  if (raw === undefined) return null;
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_STRING_TOO_LONG') {
        const mb = Math.round((statSync(raw.slice(1), { throwIfNoEntry: false })?.size ?? 0) / 1_048_576);
        throw new UsageError(`--input ${raw}: the file is ${mb.toLocaleString('en-US')} MB, more than a run input can be (Node reads at most 512 MB of text; every step receives the input): pass the paths of large data instead (a step's files, or its own reading)`);
      }
      throw new UsageError(`--input ${raw}: cannot read file: ${(error as Error).message}`);
    }
    if (/\.ya?ml$/.test(raw)) {
      try {
        // YAML 1.2 (a superset of JSON); a duplicate key is an error, as in JSON input.
        return parseYaml(text, { uniqueKeys: true }) ?? null;
      } catch (error) {
        throw new UsageError(`--input ${raw} is not valid YAML: ${(error as Error).message}`);
      }
    }
  }
  let value: unknown;
  try {
    value = parseJsonStrict(text);
  } catch (error) {
    throw new UsageError(`--input${raw.startsWith('@') ? ` ${raw}` : ''} is not valid JSON: ${(error as Error).message}`);
  }
  // Nobody else holds it: the engine need not copy it (a copy takes twice its size).
  return parsedInput(value);
}

/**
 * Checks, before any work, that `file` (the value of `flag`) can be written: its directory
 * exists and it is not a directory itself. Returns it.
 */
export function outputFile(flag: string, file: string): string {
  if (file.trim() === '') throw new UsageError(`${flag}: the file name is empty`);
  const dir = path.dirname(path.resolve(file));
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${flag} ${file}: directory ${dir} does not exist`);
  const existing = statSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UsageError(`${flag} ${file}: is a directory, not a file`);
  // A FIFO or a device (/dev/stdout) is not probed: opening a FIFO waits for its reader (and its
  // reader would take the probe's close for the end). Nor is a symbolic link: the probe would
  // create a dangling link's target, and removing what it made would remove the link.
  if ((existing && !existing.isFile()) || lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) return file;
  // Opened for appending (nothing in it changes) to find out now, not when the file is written
  // after the work: a read-only directory or file, /proc, a full quota. One made here is removed.
  try {
    closeSync(openSync(file, 'a'));
  } catch (error) {
    throw new UsageError(`${flag} ${file}: cannot write: ${(error as Error).message}`);
  }
  if (!existing) rmSync(file, { force: true });
  return file;
}

/** Writes an output file named by `flag`; a file that cannot be written is a usage error naming it. */
export function writeOutput(flag: string, file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (error) {
    throw new UsageError(`${flag} ${file}: cannot write: ${(error as Error).message}`);
  }
}

/** Refuses `-o` naming an existing input (the same file, by any path or link): it would be lost. */
export function refuseOverwrite(out: string, input: string, what: string): void {
  const o = statSync(out, { throwIfNoEntry: false });
  const i = statSync(input, { throwIfNoEntry: false });
  if (o && i && o.dev === i.dev && o.ino === i.ino) {
    throw new UsageError(`-o ${out}: is ${what} (${input}); writing the workflow there would overwrite it: choose another output file`);
  }
}

/**
 * The `-o` of an importer: an output file (outputFile) whose name says JSON or YAML, the two
 * formats importers write (by that extension), and what `joinflow run` goes by.
 */
export function workflowOutput(flag: string, file: string): string {
  // As written: `joinflow run` takes these extensions in lower case only. A device or a FIFO
  // (/dev/stdout) gets the default, JSON.
  const ext = path.extname(file);
  const special = statSync(file, { throwIfNoEntry: false });
  if (special && !special.isFile() && !special.isDirectory()) return outputFile(flag, file);
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new UsageError(`${flag} ${file}: the workflow is written as JSON or YAML, by the file's extension, and joinflow reads a workflow file by it: name it .json, .yaml or .yml`);
  }
  return outputFile(flag, file);
}
