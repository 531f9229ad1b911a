/**
 * The program of a spawner helper process (see spawner.ts) and the messages it exchanges with the
 * engine over its IPC channel. The program is plain CommonJS run with `node -e`: no loader, no
 * file to locate, and nothing loaded but node:child_process and node:fs, so the helper stays small —
 * which is the point, since fork() copies the page tables of the process that calls it.
 */

/** Engine -> helper: start a command with its logs and stdin. */
export type SpawnRequest = {
  t: 'spawn';
  id: number;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The log directory (created when missing) and the files that receive the child's stdout/stderr. */
  dir: string;
  out: string;
  err: string;
  /** Written to the child's stdin, which is then closed. */
  input: string;
};

/**
 * The end of a child's stdout as the helper saw it: the last non-blank line (trimmed; null when
 * stdout was blank), or `more` when that line starts before the last STDOUT_TAIL_BYTES (read it
 * from the log).
 */
export type StdoutSummary = { line: string | null } | { more: true };

/** The last STDERR_TAIL_BYTES of a child's stderr; `cut` when stderr was longer. */
export type StderrSummary = { tail: string; cut: boolean };

/** How much of stdout the helper keeps to find the last line. */
export const STDOUT_TAIL_BYTES = 64 * 1024;
/** How much of stderr the helper keeps for a failure message. */
export const STDERR_TAIL_BYTES = 2048;
/**
 * After a child exits, how long its pipes may stay open (a grandchild that inherited them) before
 * its exit is reported with the output read so far; the rest still goes to the log.
 */
export const PIPE_GRACE_MS = 100;

/** Engine -> helper: signal a child (ignored once it has exited). */
export type KillRequest = { t: 'kill'; id: number; signal: NodeJS.Signals };

/**
 * Helper -> engine. `log-error`: a log file could not be created or written, so the child was
 * killed. `exit` carries the ends of stdout and stderr.
 */
export type SpawnerReply =
  | { t: 'ready' }
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'error'; id: number; code?: string; message: string }
  | { t: 'log-error'; id: number; code?: string; message: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null; stdout?: StdoutSummary; stderr?: StderrSummary };

/**
 * How a child is started and watched, as CommonJS source shared by the spawner helpers and the
 * in-process launcher (native-launcher.ts), so that both relay output and report exits the same way.
 * It defines `start(m, host)`: `host.spawn(command, args, { cwd, env })` returns a ChildProcess (or
 * an object that behaves like one: pid, stdin, stdout, stderr, exitCode, signalCode, kill(), the
 * 'spawn', 'error' and 'exit' events) or throws; `host.reply(message)` receives the SpawnerReply
 * messages of this request; `host.children` maps request ids to the running children; and
 * `host.reported()` is called after the exit has been reported.
 *
 * A child's stdout and stderr are pipes whose bytes are copied into the log files, and a log file
 * is created when its stream's first byte arrives. Creating a file is not cheap on every
 * filesystem (0.1-1 ms of kernel time on the development machine's journal-less ext4 in a busy
 * /tmp), and this way it is neither on the path from request to exec nor paid at all for a stream
 * that stays empty. The ends of both streams are kept and sent with the exit, so the engine reads
 * no file back either. Writes are synchronous: a log is complete when the exit is reported, and
 * the order of a stream's bytes is kept without buffering.
 */
export const LAUNCH_SOURCE = String.raw`
const { closeSync, mkdirSync, openSync, writeSync } = require('node:fs');
const STDOUT_TAIL_BYTES = ${STDOUT_TAIL_BYTES};
const STDERR_TAIL_BYTES = ${STDERR_TAIL_BYTES};
const PIPE_GRACE_MS = ${PIPE_GRACE_MS};
const made = new Set();

function openLog(path, dir) {
  if (!made.has(dir)) {
    mkdirSync(dir, { recursive: true });
    if (made.size > 1000) made.clear();
    made.add(dir);
  }
  try {
    return openSync(path, 'w');
  } catch (error) {
    // The directory was removed since (joinflow gc): make it again, once.
    if (error.code !== 'ENOENT') throw error;
    mkdirSync(dir, { recursive: true });
    return openSync(path, 'w');
  }
}

/** One output stream: copied into its log (created on the first byte), its last keep bytes kept. */
function relay(stream, path, dir, keep, failed) {
  const log = { fd: undefined, chunks: [], kept: 0, size: 0, ended: false, error: undefined };
  stream.on('data', (chunk) => {
    log.size += chunk.length;
    log.chunks.push(chunk);
    log.kept += chunk.length;
    while (log.kept - log.chunks[0].length >= keep) log.kept -= log.chunks.shift().length;
    if (log.error !== undefined) return;
    try {
      if (log.fd === undefined) log.fd = openLog(path, dir);
      for (let at = 0; at < chunk.length; ) at += writeSync(log.fd, chunk, at);
    } catch (error) {
      log.error = error;
      failed(error);
    }
  });
  // 'end' (all read), not 'close': 'close' waits for the handle's close callback, which comes after
  // the check phase, so after the next spawn of a burst (2-10 ms). A read error ends it too.
  const ended = () => {
    if (log.ended) return;
    log.ended = true;
    try {
      if (log.fd !== undefined) closeSync(log.fd);
    } catch {
      // The bytes were written (writeSync returned); a failed close loses nothing.
    }
    log.fd = undefined;
    if (log.done) log.done();
  };
  stream.once('end', ended);
  stream.on('error', ended);
  stream.once('close', ended);
  return log;
}

function tailOf(log, keep) {
  const all = log.chunks.length === 1 ? log.chunks[0] : Buffer.concat(log.chunks);
  return all.length > keep ? all.subarray(all.length - keep) : all;
}

function isBlank(byte) {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function stdoutSummary(log) {
  if (log.size === 0) return { line: null };
  const tail = tailOf(log, STDOUT_TAIL_BYTES);
  let end = tail.length;
  while (end > 0 && isBlank(tail[end - 1])) end--;
  const whole = tail.length === log.size;
  if (end === 0) return whole ? { line: null } : { more: true };
  const newline = tail.lastIndexOf(0x0a, end - 1);
  if (newline >= 0) return { line: tail.toString('utf8', newline + 1, end).trim() };
  return whole ? { line: tail.toString('utf8', 0, end).trim() } : { more: true };
}

function start(m, host) {
  const reply = host.reply;
  let child;
  try {
    child = host.spawn(m.command, m.args, { cwd: m.cwd, env: m.env });
  } catch (error) {
    reply({ t: 'error', id: m.id, code: error.code, message: error.message });
    return;
  }
  let started = false;
  let logError;
  // Output that cannot be logged is not run blind: the child is stopped and the exit says why.
  const failed = (error) => {
    if (logError !== undefined) return;
    logError = error;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const out = relay(child.stdout, m.out, m.dir, STDOUT_TAIL_BYTES, failed);
  const err = relay(child.stderr, m.err, m.dir, STDERR_TAIL_BYTES, failed);
  host.children.set(m.id, { child, out, err });
  child.once('spawn', () => {
    started = true;
    reply({ t: 'spawned', id: m.id, pid: child.pid });
  });
  child.on('error', (error) => {
    if (started) return; // a failed kill(); the exit still follows
    host.children.delete(m.id);
    reply({ t: 'error', id: m.id, code: error.code, message: error.message });
  });
  child.once('exit', (code, signal) => {
    let reported = false;
    const report = () => {
      if (reported) return;
      reported = true;
      host.children.delete(m.id);
      if (logError !== undefined) reply({ t: 'log-error', id: m.id, code: logError.code, message: logError.message });
      else reply({ t: 'exit', id: m.id, code, signal, stdout: stdoutSummary(out), stderr: { tail: tailOf(err, STDERR_TAIL_BYTES).toString('utf8'), cut: err.size > STDERR_TAIL_BYTES } });
      out.chunks = [];
      err.chunks = [];
      host.reported();
    };
    if (out.ended && err.ended) return report();
    // The child's own output is in the pipes by now; a grandchild may hold them open for long.
    out.done = err.done = () => {
      if (out.ended && err.ended) report();
    };
    // In a helper the wait must not keep it alive without the engine; in the engine (native
    // launcher) it must, as nothing else may: the pipes a grandchild holds no longer do.
    const grace = setTimeout(() => setImmediate(report), PIPE_GRACE_MS);
    if (!host.inProcess) grace.unref();
  });
  child.stdin.on('error', () => {});
  child.stdin.end(m.input);
}
`;

/**
 * The helper's source: LAUNCH_SOURCE with child_process.spawn, and the IPC loop. Requests are
 * handled in arrival order, so the engine's submission order (critical path first) is the order
 * in which children start.
 */
export const SPAWNER_PROGRAM = String.raw`
'use strict';
const { spawn } = require('node:child_process');
${LAUNCH_SOURCE}
const children = new Map();
let connected = true;

function reply(message) {
  // A failed send means the engine is gone; 'disconnect' follows.
  if (process.connected) process.send(message, undefined, undefined, () => {});
}

const host = {
  spawn: (command, args, options) => spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] }),
  reply,
  children,
  reported() {
    if (!connected) maybeExit();
  },
};

/**
 * A burst of spawn requests starts one child per turn of the event loop, so that exits (SIGCHLD is
 * handled in the poll phase) are reported between two spawns of the burst, not after all of them.
 */
const queue = [];
const cancelled = new Map();
let draining = false;

function drain() {
  const m = queue.shift();
  if (m !== undefined) {
    const signal = cancelled.get(m.id);
    cancelled.delete(m.id);
    // Stopped before it started: report it as killed without starting it.
    if (signal !== undefined) reply({ t: 'exit', id: m.id, code: null, signal });
    else start(m, host);
  }
  if (queue.length > 0) setImmediate(drain);
  else draining = false;
}

/**
 * Without the engine nobody learns an exit, but running children keep their logs, as when they
 * wrote to the files themselves: the helper exits once each has exited and its output has been
 * copied. Output of grandchildren that outlive an exited child is dropped then (they see a
 * closed pipe).
 */
function maybeExit() {
  if (children.size === 0) process.exit(0);
}

process.on('message', (m) => {
  if (m.t === 'spawn') {
    if (draining) queue.push(m);
    else {
      draining = true;
      start(m, host);
      setImmediate(drain);
    }
  } else if (m.t === 'kill') {
    const entry = children.get(m.id);
    if (entry) {
      const child = entry.child;
      if (child.exitCode === null && child.signalCode === null) child.kill(m.signal);
    } else if (queue.some((q) => q.id === m.id)) {
      cancelled.set(m.id, m.signal);
    }
  }
});
// Ctrl-C reaches the whole process group: the engine decides what stops, not the helper.
process.on('SIGINT', () => {});
process.on('disconnect', () => {
  connected = false;
  queue.length = 0;
  maybeExit();
});
reply({ t: 'ready' });
`;
