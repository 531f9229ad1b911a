/**
 * The `process` executor: runs a command (no shell) with the step event on stdin, streams its
 * stdout/stderr to log files and takes its last stdout line (JSON, else text) as the output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepError } from '../../model/events.ts';
import type { Executor, StepOutcome, Task, StopSignal } from '../../ports.ts';

/** Options of {@link createProcessExecutor}. */
export type ProcessExecutorOptions = {
  /** The directory that receives a task's `.out`/`.err` logs; created when missing. */
  logDir: (task: Task) => string;
  /** How long a child has between SIGTERM and SIGKILL when its task is aborted. */
  killGraceMs?: number;
};

const ABORTED: StepOutcome = Object.freeze({ status: 'aborted' });

/** stdout is read back from its log in chunks of this size, from the end, to find the last line. */
const TAIL_CHUNK = 64 * 1024;
/** A last line longer than this is refused rather than held in memory. */
const MAX_OUTPUT_LINE = 16 * 1024 * 1024;
/** How much stderr goes into a failure message. */
const STDERR_TAIL_BYTES = 2048;
const STDERR_TAIL_LINES = 20;

function failed(type: string, message: string, retriable: boolean): StepOutcome {
  const error: StepError = { type, message };
  return { status: 'failed', error, retriable };
}

/** `<step>[.<item>].<attempt>`; step ids are already safe, this guards against a bypassed schema. */
function logName(task: Task): string {
  const step = task.step.replace(/[^A-Za-z0-9_.:-]/g, '_').replace(/^[.:-]/, '_');
  return task.item === undefined ? `${step}.${task.attempt}` : `${step}.${task.item}.${task.attempt}`;
}

function environment(task: Task, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
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

/**
 * The last non-blank line of a file, reading backwards so that memory stays bounded by the line,
 * not the log. `null` when the file is blank; `undefined` when the line exceeds MAX_OUTPUT_LINE.
 */
async function lastLine(path: string): Promise<string | null | undefined> {
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

/** The last lines of stderr, for the failure message. */
async function stderrTail(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const length = Math.min(size, STDERR_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await file.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').trimEnd().split('\n');
    // The first line is probably cut in the middle when the read did not start at the beginning.
    if (length < size && lines.length > 1) lines.shift();
    return lines.slice(-STDERR_TAIL_LINES).join('\n');
  } finally {
    await file.close();
  }
}

function parseOutput(line: string | null): unknown {
  if (line === null) return null;
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

type Exit = { spawnError: Error } | { code: number | null; signal: NodeJS.Signals | null };

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise<Exit>((resolve) => {
    let started = false;
    child.once('spawn', () => {
      started = true;
    });
    // 'error' after a successful spawn only means a kill() failed; the exit still follows.
    child.on('error', (error) => {
      if (!started) resolve({ spawnError: error });
    });
    child.once('exit', (code, sig) => resolve({ code, signal: sig }));
  });
}

/** Creates the `process` executor. */
export function createProcessExecutor(options: ProcessExecutorOptions): Executor {
  const killGraceMs = options.killGraceMs ?? 2000;
  /** Children still running, with a promise of their exit, so close() can stop and await them. */
  const running = new Map<ChildProcess, Promise<Exit>>();

  /** SIGTERM, then SIGKILL if the child is still there after the grace period. */
  function stop(child: ChildProcess, exited: Promise<Exit>): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
    void exited.then(() => clearTimeout(timer));
  }

  async function execute(task: Task, signal: StopSignal): Promise<StepOutcome> {
    const spec = task.executor;
    if (spec.type !== 'process') return failed('ExecutorMismatch', `process executor got a '${spec.type}' task`, false);
    if (signal.aborted) return ABORTED;

    const dir = options.logDir(task);
    await mkdir(dir, { recursive: true });
    const base = join(dir, logName(task));
    const outPath = `${base}.out`;
    const errPath = `${base}.err`;
    // The child writes straight into the log files: no data passes through this process, and
    // grandchildren that inherit the descriptors cannot hold a pipe open after the child exits.
    const [out, err] = await Promise.all([open(outPath, 'w'), open(errPath, 'w')]);
    let child: ChildProcess;
    let exited: Promise<Exit>;
    try {
      if (signal.aborted) return ABORTED;
      child = spawn(spec.command, spec.args, {
        cwd: spec.cwd ?? process.cwd(),
        env: environment(task, spec.env),
        stdio: ['pipe', out.fd, err.fd],
      });
      // Listeners go on before anything awaits: spawn failures are emitted on the next tick.
      exited = exitOf(child);
    } catch (error) {
      return failed('SpawnError', `cannot run '${spec.command}': ${(error as Error).message}`, false);
    } finally {
      // The child has its own copies once spawn() returns.
      await Promise.all([out.close(), err.close()]);
    }

    running.set(child, exited);
    const onAbort = (): void => stop(child, exited);
    signal.addEventListener('abort', onAbort, { once: true });
    // The signal may have fired while the log descriptors were being closed.
    if (signal.aborted) onAbort();

    // Children that never read stdin close it early: EPIPE (or ECONNRESET) is expected, not an error.
    child.stdin?.on('error', () => {});
    child.stdin?.end(JSON.stringify(task.event));

    const exit = await exited;
    running.delete(child);
    signal.removeEventListener('abort', onAbort);

    if ('spawnError' in exit) {
      let message = exit.spawnError.message;
      if (spec.cwd !== undefined && (exit.spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
        // spawn reports a missing cwd as the command being missing.
        const cwdExists = await stat(spec.cwd).then((s) => s.isDirectory(), () => false);
        if (!cwdExists) message = `working directory '${spec.cwd}' does not exist`;
      }
      return failed('SpawnError', `cannot run '${spec.command}': ${message}`, false);
    }
    if (signal.aborted) return ABORTED;
    if (exit.code === 0) {
      const line = await lastLine(outPath);
      if (line === undefined) {
        return failed('OutputTooLarge', `last stdout line of '${spec.command}' exceeds ${MAX_OUTPUT_LINE} bytes (see ${outPath})`, false);
      }
      return { status: 'succeeded', output: parseOutput(line) };
    }
    const how = exit.signal !== null ? `killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
    const stderr = await stderrTail(errPath);
    return failed('ProcessExited', stderr === '' ? how : `${how}: ${stderr}`, true);
  }

  return {
    kind: 'process',
    execute,
    async close(): Promise<void> {
      const exits = [...running].map(([child, exited]) => {
        stop(child, exited);
        return exited;
      });
      await Promise.all(exits);
    },
  };
}
