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
  /** The log directory (created when missing) and the files that become the child's stdout/stderr. */
  dir: string;
  out: string;
  err: string;
  /** Written to the child's stdin, which is then closed. */
  input: string;
};

/** Engine -> helper: signal a child (ignored once it has exited). */
export type KillRequest = { t: 'kill'; id: number; signal: NodeJS.Signals };

/** Helper -> engine. `log-error`: a log file could not be opened, nothing was started. */
export type SpawnerReply =
  | { t: 'ready' }
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'error'; id: number; code?: string; message: string }
  | { t: 'log-error'; id: number; code?: string; message: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

/**
 * The helper's source. Requests are handled in arrival order, so the engine's submission order
 * (critical path first) is the order in which children start. Log files are opened synchronously:
 * the open must precede the spawn anyway, and a thread-pool round trip would only let later
 * requests overtake earlier ones.
 */
export const SPAWNER_PROGRAM = String.raw`
'use strict';
const { spawn } = require('node:child_process');
const { closeSync, mkdirSync, openSync } = require('node:fs');
const children = new Map();
const made = new Set();

function reply(message) {
  // A failed send means the engine is gone; 'disconnect' follows and ends this process.
  if (process.connected) process.send(message, undefined, undefined, () => {});
}

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

function start(m) {
  let out;
  let err;
  try {
    out = openLog(m.out, m.dir);
    err = openLog(m.err, m.dir);
  } catch (error) {
    if (out !== undefined) closeSync(out);
    reply({ t: 'log-error', id: m.id, code: error.code, message: error.message });
    return;
  }
  let child;
  try {
    child = spawn(m.command, m.args, { cwd: m.cwd, env: m.env, stdio: ['pipe', out, err] });
  } catch (error) {
    reply({ t: 'error', id: m.id, code: error.code, message: error.message });
    return;
  } finally {
    closeSync(out);
    closeSync(err);
  }
  let started = false;
  children.set(m.id, child);
  child.once('spawn', () => {
    started = true;
    reply({ t: 'spawned', id: m.id, pid: child.pid });
  });
  child.on('error', (error) => {
    if (started) return; // a failed kill(); the exit still follows
    children.delete(m.id);
    reply({ t: 'error', id: m.id, code: error.code, message: error.message });
  });
  child.once('exit', (code, signal) => {
    children.delete(m.id);
    reply({ t: 'exit', id: m.id, code, signal });
  });
  child.stdin.on('error', () => {});
  child.stdin.end(m.input);
}

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
    else start(m);
  }
  if (queue.length > 0) setImmediate(drain);
  else draining = false;
}

process.on('message', (m) => {
  if (m.t === 'spawn') {
    if (draining) queue.push(m);
    else {
      draining = true;
      start(m);
      setImmediate(drain);
    }
  } else if (m.t === 'kill') {
    const child = children.get(m.id);
    if (child) {
      if (child.exitCode === null && child.signalCode === null) child.kill(m.signal);
    } else if (queue.some((q) => q.id === m.id)) {
      cancelled.set(m.id, m.signal);
    }
  }
});
// Ctrl-C reaches the whole process group: the engine decides what stops, not the helper.
process.on('SIGINT', () => {});
// The engine is gone (or closed the executor): children keep running, as direct ones would.
process.on('disconnect', () => process.exit(0));
reply({ t: 'ready' });
`;
