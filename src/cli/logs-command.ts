/** `joinflow logs <runId>`: the captured stdout/stderr of a run's process steps. */
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import { suggest } from '../compiler/validate.ts';
import { openState, stateDir } from './state.ts';
import { isMemoryRun } from './memory-runs.ts';

export { LOGS_HELP } from './help.ts';

/** The file base name the process executor uses (see process-executor.ts). */
function safeStep(step: string): string {
  return step.replace(/[^A-Za-z0-9_.:-]/g, '_').replace(/^[.:-]/, '_');
}

/** Runs `joinflow logs`. */
export async function logsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { step: { type: 'string' }, state: { type: 'string' } } });
  if (positionals.length === 0) throw new UsageError('name the run id');
  if (positionals.length > 1) throw new UsageError(`one run id at a time: unexpected argument "${positionals[1]}"`);
  const runId = positionals[0]!;
  const dir = stateDir(values.state);
  // A --memory run has no state, but its process steps' logs are in the state dir all the same
  // (marked as its own): they are printed by name.
  const memoryRun = isMemoryRun(dir, runId);
  let names: string[] = [];
  const named = new Set<string>();
  const started = new Set<string>();
  if (!memoryRun || existsSync(path.join(dir, 'state.db'))) {
    const state = openState(dir, { mustExist: true });
    try {
      if (!(await state.store.getRun(runId))) {
        if (!memoryRun) {
          process.stderr.write(`joinflow logs: no run "${runId}" in ${dir}\n`);
          return 1;
        }
      } else {
        names = stepLogNames(state, runId, values.step, started);
        for (const n of names) named.add(n);
      }
    } finally {
      state.close();
    }
  }
  const logDir = path.join(dir, 'runs', runId, 'logs');
  const files = existsSync(logDir) ? readdirSync(logDir).sort() : [];
  const prefix = values.step === undefined ? undefined : `${safeStep(values.step)}.`;
  for (const f of files) {
    const m = /^(.+)\.(out|err)$/.exec(f);
    if (!m || named.has(m[1]!)) continue;
    if (prefix !== undefined && !(m[1]!.startsWith(prefix) && /^(\d+\.)?\d+$/.test(m[1]!.slice(prefix.length)))) continue;
    names.push(m[1]!);
    named.add(m[1]!);
  }
  const logs: Array<{ header: string; file: string }> = [];
  for (const name of names) {
    for (const [ext, label] of [['out', 'stdout'], ['err', 'stderr']] as const) {
      const file = path.join(logDir, `${name}.${ext}`);
      if (!existsSync(file) && !started.has(name)) continue;
      logs.push({ header: `== ${name} ${label} ==\n`, file });
    }
  }
  if (logs.length === 0) {
    process.stderr.write(`joinflow logs: run "${runId}" has no logs${values.step === undefined ? '' : ` for step "${values.step}"`} (only process steps write logs)\n`);
    return 1;
  }
  try {
    for (const log of logs) {
      await write(process.stdout, log.header);
      await copy(log.file, process.stdout);
    }
  } catch (error) {
    // The reader went away (`joinflow logs r1 | head`): stop quietly, as bin/joinflow.js does.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE' || process.stdout.destroyed) return 0;
    throw error;
  }
  return 0;
}

/** Writes `chunk`, waiting while the output's buffer is full (a slow reader, a pipe). */
async function write(out: NodeJS.WriteStream, chunk: string | Buffer): Promise<void> {
  if (out.destroyed) throw Object.assign(new Error('the output was closed'), { code: 'EPIPE' });
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * Streams a log file to `out` as it is, a chunk at a time (a log may be larger than a string can
 * be): `(empty)` for a file with nothing in it (or none: a stream that never wrote), and a
 * newline after one that does not end with one.
 */
async function copy(file: string, out: NodeJS.WriteStream): Promise<void> {
  let last: number | undefined;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      if (chunk.length === 0) continue;
      last = chunk[chunk.length - 1];
      await write(out, chunk);
    }
  } catch (error) {
    // A log that is not there (never written, or collected meanwhile) is shown as empty.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || last !== undefined) throw error;
  }
  if (last === undefined) await write(out, '(empty)\n');
  else if (last !== 0x0a) await write(out, '\n');
}

/**
 * The log names of a run's tasks in dispatch order (of one step, if given), from the task log;
 * `started` gets those of process steps that started (a stream's log is created with its first
 * byte: a process that started and wrote nothing has none).
 */
function stepLogNames(state: ReturnType<typeof openState>, runId: string, only: string | undefined, started: Set<string>): string[] {
  const steps = new Set(Object.keys(state.log.runPlan(runId)?.steps ?? {}));
  if (only !== undefined && steps.size > 0 && !steps.has(only)) {
    throw new UsageError(`run "${runId}" has no step "${only}"${suggest(only, steps)}`);
  }
  // A Set, not names.includes(): a run of 200,000 items took minutes to look up.
  const names = new Set<string>();
  for (const t of state.log.tasks(runId)) {
    if (only !== undefined && t.task.step !== only) continue;
    const step = safeStep(t.task.step);
    const name = t.task.item === undefined ? `${step}.${t.task.attempt}` : `${step}.${t.task.item}.${t.task.attempt}`;
    names.add(name);
    // An attempt that never started (a retry the run's end cancelled) has no streams to show.
    if (runsCommand(t.task.executor) && t.startedAt !== undefined) started.add(name);
  }
  return [...names];
}

/**
 * Whether a task runs a command as a local process on the embedded engine: process steps, and
 * batch (their `local` command) and container command steps, which the engine runs as processes.
 */
function runsCommand(executor: { type: string; local?: unknown; command?: unknown }): boolean {
  if (executor.type === 'batch') return executor.local !== undefined;
  if (executor.type === 'container') return executor.command !== undefined;
  return executor.type === 'process';
}
