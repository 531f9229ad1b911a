/**
 * The `process` executor: runs a command (no shell) with the step event on stdin, keeps its
 * stdout/stderr in log files and takes its last stdout line (JSON, else text) as the output.
 *
 * Children are started from this process with posix_spawn (native-launcher.ts) where that is
 * available, else by spawner helpers (spawner.ts) when one is ready, else directly with
 * child_process.spawn(). Every way the work before the spawn is synchronous, so tasks start in the
 * order the engine submitted them (critical path first), not in the order a thread pool finished
 * their file opens. The native launcher and the helpers copy the output into the logs after the
 * spawn (creating a log only for a stream that is not empty) and report the output's end with the
 * exit; a direct child writes into log files opened before the spawn, which are read back at its
 * exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { StepError } from '../../model/events.ts';
import type { Executor, StepOutcome, Task, StopSignal } from '../../ports.ts';
import { createNativeLauncher, envStamp } from './native-launcher.ts';
import { findProcesses, stopProcesses } from './orphans.ts';
import { createSpawner, type LaunchExit, type Launched, type LaunchRequest, type Spawner } from './spawner.ts';
import { STDERR_TAIL_BYTES, STDOUT_TAIL_BYTES } from './spawner-program.ts';

/** Options of {@link createProcessExecutor}. */
export type ProcessExecutorOptions = {
  /** The directory that receives a task's `.out`/`.err` logs; created when missing. */
  logDir: (task: Task) => string;
  /** How long a child has between SIGTERM and SIGKILL when its task is aborted. */
  killGraceMs?: number;
  /**
   * Where children are started from. Default: this process with posix_spawn where the native
   * launcher is available (native-launcher.ts), else a pool of up to 2 spawner helpers started on
   * first use; the executor closes it with itself. `false`: child_process.spawn() from this process.
   */
  spawner?: Spawner | false;
};

const ABORTED: StepOutcome = Object.freeze({ status: 'aborted' });

/** stdout is read back from its log in chunks of this size, from the end, to find the last line. */
const TAIL_CHUNK = STDOUT_TAIL_BYTES;
/** A last line longer than this is refused rather than held in memory. */
const MAX_OUTPUT_LINE = 16 * 1024 * 1024;
/** How many lines of stderr's end (STDERR_TAIL_BYTES) go into a failure message. */
const STDERR_TAIL_LINES = 20;
/** The last line is not within the final chunk: read on, asynchronously. */
const MORE = Symbol('more');

function failed(type: string, message: string, retriable: boolean): StepOutcome {
  const error: StepError = { type, message };
  return { status: 'failed', error, retriable };
}

/** `<step>[.<item>].<attempt>`; step ids are already safe, this guards against a bypassed schema. */
function logName(task: Task): string {
  const step = task.step.replace(/[^A-Za-z0-9_.:-]/g, '_').replace(/^[.:-]/, '_');
  return task.item === undefined ? `${step}.${task.attempt}` : `${step}.${task.item}.${task.attempt}`;
}

/** The inherited environment as last copied, and the stamp of the environment it was copied from. */
let inheritedCopy: { stamp: number; env: NodeJS.ProcessEnv } | undefined;

/**
 * process.env as it is now, copied. Reading it costs a call into C++ per variable (26 µs warm,
 * 50-90 µs per step in a run's first minutes, for 35 variables on the development machine), so
 * the copy is kept while the environment's stamp (envStamp: a hash of the C environment, about
 * a microsecond) stays the same. Never changed by callers: they copy it.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const stamp = envStamp();
  if (stamp !== undefined && inheritedCopy?.stamp === stamp) return inheritedCopy.env;
  // Not `{ ...process.env }`: the spread took 26 us per task against 16 us for this.
  const env: NodeJS.ProcessEnv = {};
  const inherited = process.env;
  for (const key of Object.keys(inherited)) env[key] = inherited[key];
  if (stamp !== undefined) inheritedCopy = { stamp, env };
  return env;
}

function environment(task: Task, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.assign({}, inheritedEnv(), extra);
  env['JOINFLOW_WORKFLOW'] = task.workflow;
  env['JOINFLOW_RUN_ID'] = task.runId;
  env['JOINFLOW_STEP'] = task.step;
  env['JOINFLOW_ATTEMPT'] = String(task.attempt);
  // Inherited from a parent joinflow step otherwise, and a child would think it is an item.
  if (task.item === undefined) delete env['JOINFLOW_ITEM'];
  else env['JOINFLOW_ITEM'] = String(task.item);
  return env;
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** The last `max` bytes of a file (fewer when it is shorter), and the file's size, read synchronously. */
function readTail(path: string, max: number): { tail: Buffer; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(max, size);
    const tail = Buffer.allocUnsafe(length);
    const n = readSync(fd, tail, 0, length, size - length);
    return { tail: tail.subarray(0, n), size };
  } finally {
    closeSync(fd);
  }
}

/** The last line when it lies within the file's final chunk (the usual case), read synchronously. */
function lastLineInTail(path: string): string | null | typeof MORE {
  const { tail, size } = readTail(path, TAIL_CHUNK);
  let end = tail.length;
  while (end > 0 && isBlank(tail[end - 1]!)) end--;
  const whole = tail.length === size;
  if (end === 0) return whole ? null : MORE;
  const newline = tail.lastIndexOf(0x0a, end - 1);
  if (newline >= 0) return tail.toString('utf8', newline + 1, end).trim();
  return whole ? tail.toString('utf8', 0, end).trim() : MORE;
}

/**
 * The last non-blank line of a file, reading backwards so that memory stays bounded by the line,
 * not the log. `null` when the file is blank; `undefined` when the line exceeds MAX_OUTPUT_LINE.
 */
async function lastLine(path: string): Promise<string | null | undefined> {
  const quick = lastLineInTail(path);
  if (quick !== MORE) return quick;
  const file = await open(path, 'r');
  try {
    let pos = (await file.stat()).size;
    let tail = Buffer.alloc(0);
    while (pos > 0) {
      const size = Math.min(TAIL_CHUNK, pos);
      pos -= size;
      const chunk = Buffer.allocUnsafe(size);
      await file.read(chunk, 0, size, pos);
      tail = tail.length === 0 ? chunk : Buffer.concat([chunk, tail]);
      let end = tail.length;
      while (end > 0 && isBlank(tail[end - 1]!)) end--;
      if (end === 0) {
        tail = Buffer.alloc(0);
        continue;
      }
      const newline = tail.lastIndexOf(0x0a, end - 1);
      if (newline >= 0) return tail.toString('utf8', newline + 1, end).trim();
      if (tail.length > MAX_OUTPUT_LINE) return undefined;
    }
    return tail.length === 0 ? null : tail.toString('utf8').trim();
  } finally {
    await file.close();
  }
}

/** The last lines of stderr's end, for the failure message; `cut` when stderr was longer. */
function stderrLines(tail: string, cut: boolean): string {
  const lines = tail.trimEnd().split('\n');
  // The first line is probably cut in the middle when the read did not start at the beginning.
  if (cut && lines.length > 1) lines.shift();
  return lines.slice(-STDERR_TAIL_LINES).join('\n');
}

/** The last lines of a stderr log, for the failure message. */
function stderrTail(path: string): string {
  const { tail, size } = readTail(path, STDERR_TAIL_BYTES);
  return stderrLines(tail.toString('utf8'), tail.length < size);
}

function parseOutput(line: string | null): unknown {
  if (line === null) return null;
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

function exitOf(child: ChildProcess): Promise<LaunchExit> {
  return new Promise<LaunchExit>((resolve) => {
    let started = false;
    child.once('spawn', () => {
      started = true;
    });
    // 'error' after a successful spawn only means a kill() failed; the exit still follows.
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (!started) resolve({ spawnError: { message: error.message, ...(error.code ? { code: error.code } : {}) } });
    });
    child.once('exit', (code, sig) => resolve({ code, signal: sig }));
  });
}

function errnoOf(error: unknown): { message: string; code?: string } {
  const e = error as NodeJS.ErrnoException;
  return { message: String(e?.message ?? e), ...(e?.code ? { code: e.code } : {}) };
}

function settled(exit: LaunchExit): Launched {
  return { exited: Promise.resolve(exit), kill() {} };
}

/** The children of process steps still running, of every process executor of this process. */
const everyRunning = new Set<Launched>();

/**
 * Sends SIGTERM to the child of every process step still running, as the engine is stopped by a
 * signal: one sent to the engine alone (a supervisor's SIGTERM, `kill <pid>`) does not reach
 * them, as a terminal's Ctrl-C, sent to its whole process group, does.
 */
export function stopProcessSteps(): void {
  for (const child of everyRunning) child.kill('SIGTERM');
}

/** Creates the `process` executor. */
export function createProcessExecutor(options: ProcessExecutorOptions): Executor {
  const killGraceMs = options.killGraceMs ?? 2000;
  const spawner = options.spawner ?? createNativeLauncher() ?? createSpawner({ size: Math.min(2, availableParallelism()) });
  /** Children still running, so close() can stop and await them. */
  const running = new Set<Launched>();
  /** Log directories known to exist: one mkdir per directory, not per task. */
  const made = new Set<string>();

  function openLog(path: string, dir: string): number {
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      if (made.size > 1000) made.clear();
      made.add(dir);
    }
    try {
      return openSync(path, 'w');
    } catch (error) {
      // The directory was removed since (joinflow gc): make it again, once.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dir, { recursive: true });
      return openSync(path, 'w');
    }
  }

  /** Spawns from this process: before helpers are ready, or without them. */
  function launchDirect(request: LaunchRequest): Launched {
    let out: number | undefined;
    let err: number;
    try {
      out = openLog(request.out, request.dir);
      err = openLog(request.err, request.dir);
    } catch (error) {
      if (out !== undefined) closeSync(out);
      return settled({ logError: errnoOf(error) });
    }
    let child: ChildProcess;
    try {
      // The child writes straight into the log files: no data passes through this process, and
      // grandchildren that inherit the descriptors cannot hold a pipe open after the child exits.
      child = spawn(request.command, request.args, { cwd: request.cwd, env: request.env, stdio: ['pipe', out, err] });
    } catch (error) {
      return settled({ spawnError: errnoOf(error) });
    } finally {
      // The child has its own copies once spawn() returns.
      closeSync(out);
      closeSync(err);
    }
    // Listeners go on before anything awaits: spawn failures are emitted on the next tick.
    const exited = exitOf(child);
    // Children that never read stdin close it early: EPIPE (or ECONNRESET) is expected, not an error.
    child.stdin?.on('error', () => {});
    child.stdin?.end(request.input);
    return {
      exited,
      kill(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }

  /** SIGTERM, then SIGKILL if the child is still there after the grace period. */
  function stop(child: Launched): void {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
    void child.exited.then(() => clearTimeout(timer));
  }

  async function execute(task: Task, signal: StopSignal): Promise<StepOutcome> {
    const spec = task.executor;
    if (spec.type !== 'process') return failed('ExecutorMismatch', `process executor got a '${spec.type}' task`, false);
    if (signal.aborted) return ABORTED;

    const dir = options.logDir(task);
    const base = join(dir, logName(task));
    const outPath = `${base}.out`;
    const errPath = `${base}.err`;
    const request: LaunchRequest = {
      command: spec.command,
      args: spec.args,
      cwd: spec.cwd ?? process.cwd(),
      env: environment(task, spec.env),
      dir,
      out: outPath,
      err: errPath,
      input: JSON.stringify(task.event),
    };
    const child = (spawner && spawner.launch(request)) || launchDirect(request);

    running.add(child);
    everyRunning.add(child);
    const onAbort = (): void => stop(child);
    signal.addEventListener('abort', onAbort, { once: true });
    const exit = await child.exited;
    running.delete(child);
    everyRunning.delete(child);
    signal.removeEventListener('abort', onAbort);
    if (signal.aborted) {
      // What the child started (a shell's background jobs, say) is stopped too: found by the
      // variables this task gave its environment, which they inherited (on Linux; see orphans.ts).
      const vars: Record<string, string> = { JOINFLOW_RUN_ID: task.runId, JOINFLOW_STEP: task.step, JOINFLOW_ATTEMPT: String(task.attempt) };
      if (task.item !== undefined) vars['JOINFLOW_ITEM'] = String(task.item);
      await stopProcesses(findProcesses(vars), killGraceMs);
    }

    if ('logError' in exit) {
      // As before the helpers: a log that cannot be opened is the executor's failure, not the step's.
      throw Object.assign(new Error(exit.logError.message), exit.logError.code ? { code: exit.logError.code } : {});
    }
    if ('spawnError' in exit) {
      let message = exit.spawnError.message;
      if (spec.cwd !== undefined && exit.spawnError.code === 'ENOENT') {
        // spawn reports a missing cwd as the command being missing.
        const cwdExists = await stat(spec.cwd).then((s) => s.isDirectory(), () => false);
        if (!cwdExists) message = `working directory '${spec.cwd}' does not exist`;
      }
      if (exit.spawnError.code === 'E2BIG') message += ': its arguments and environment are too long (Linux takes at most 128 KiB in one string, about 2 MB in all)';
      return failed('SpawnError', `cannot run '${spec.command}': ${message}`, false);
    }
    if (signal.aborted) return ABORTED;
    if ('lost' in exit) return failed('ProcessLost', `'${spec.command}': ${exit.lost}`, true);
    if (exit.code === 0) {
      const line = exit.stdout && 'line' in exit.stdout ? exit.stdout.line : await lastLine(outPath);
      if (line === undefined) {
        return failed('OutputTooLarge', `last stdout line of '${spec.command}' exceeds ${MAX_OUTPUT_LINE} bytes (see ${outPath})`, false);
      }
      return { status: 'succeeded', output: parseOutput(line) };
    }
    const how = exit.signal !== null ? `killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
    const stderr = exit.stderr ? stderrLines(exit.stderr.tail, exit.stderr.cut) : stderrTail(errPath);
    return failed('ProcessExited', stderr === '' ? how : `${how}: ${stderr}`, true);
  }

  return {
    kind: 'process',
    execute,
    async close(): Promise<void> {
      const exits = [...running].map((child) => {
        stop(child);
        return child.exited;
      });
      await Promise.all(exits);
      if (spawner) await spawner.close();
    },
  };
}
