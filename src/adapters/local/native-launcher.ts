/**
 * The in-process launcher: the process executor's children started from the engine itself with
 * posix_spawn (the `native/spawn` addon, built by `npm ci` on Linux), with their exits watched
 * through pidfds on the engine's own event loop.
 *
 * child_process.spawn() forks: from the ~100 MB engine that cost ~1.2 ms of CPU and ~2.3 ms
 * blocked per child, which is why the spawner helpers exist. posix_spawn (vfork + exec) copies
 * nothing: ~0.11 ms of CPU per child from a process of the engine's size, measured on the
 * development machine (300 spawns of `sleep 0`, three rounds), so neither the helpers nor their
 * IPC hops are needed. The spawns run in order on a thread of the addon (posix_spawn holds its
 * caller until the child has exec'd), the addon reads the children's stdout and stderr, and the
 * output is relayed and exits are reported by the same code as in the helpers (LAUNCH_SOURCE), so
 * the two behave alike.
 *
 * Unavailable (and the executor falls back to the helpers) when the addon was not built (no
 * compiler, not Linux), the kernel has no pidfd_open (before Linux 5.3), or JOINFLOW_NATIVE_SPAWN=0.
 */
import { EventEmitter } from 'node:events';
import { closeSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { launchExitOf, type LaunchExit, type Spawner } from './spawner.ts';
import { LAUNCH_SOURCE, type SpawnerReply, type SpawnRequest } from './spawner-program.ts';

type Addon = {
  /**
   * Returns the parent's end of the child's stdin at once; the spawn happens on the addon's thread,
   * and stdout and stderr are read by the addon and passed to onOutput (chunk null: the stream ended).
   */
  spawn(
    file: string,
    argv: string[],
    envp: string[],
    cwd: string | null,
    onSpawn: (error: NodeJS.ErrnoException | null, pid: number | null) => void,
    onOutput: (stream: 0 | 1, chunk: Buffer | null) => void,
    onExit: (code: number | null, signal: number | null) => void,
  ): number;
  supported(): boolean;
  /** A hash of the process's environment (native/spawn/env.c); absent from builds before it. */
  envStamp?(): number;
};

/** Where `npm ci` (scripts/build-native.mjs) puts the addon. */
export const NATIVE_SPAWN_ADDON = fileURLToPath(new URL('../../../native/spawn/build/Release/joinflow_spawn.node', import.meta.url));

let loaded: { addon: Addon } | { reason: string } | undefined;
let required: { addon: Addon } | { reason: string } | undefined;

/** The addon module itself, or why it cannot be loaded. */
function requireAddon(): { addon: Addon } | { reason: string } {
  if (required) return required;
  if (process.platform !== 'linux') return (required = { reason: `posix_spawn with pidfds is Linux-only (this is ${process.platform})` });
  try {
    return (required = { addon: createRequire(import.meta.url)(NATIVE_SPAWN_ADDON) as Addon });
  } catch (error) {
    return (required = { reason: `the native/spawn addon is not built (npm run build:native): ${(error as Error).message.split('\n')[0]}` });
  }
}

function load(): { addon: Addon } | { reason: string } {
  if (loaded) return loaded;
  if (process.env['JOINFLOW_NATIVE_SPAWN'] === '0') return (loaded = { reason: 'JOINFLOW_NATIVE_SPAWN=0' });
  const r = requireAddon();
  if (!('addon' in r)) return (loaded = r);
  if (!r.addon.supported()) return (loaded = { reason: 'the kernel has no pidfd_open (Linux 5.3 or later needed)' });
  return (loaded = r);
}

let stamp: (() => number) | null | undefined;

/**
 * A number that changes whenever this process's environment changes (native/spawn/env.c), or
 * undefined where there is none: the addon not built (or built before envStamp), or a worker
 * thread, whose process.env is a copy of its own rather than the C environment the stamp reads.
 */
export function envStamp(): number | undefined {
  if (stamp === undefined) {
    const r = requireAddon();
    stamp = isMainThread && 'addon' in r && typeof r.addon.envStamp === 'function' ? r.addon.envStamp.bind(r.addon) : null;
  }
  return stamp === null ? undefined : stamp();
}

/** Whether children can be started in-process with posix_spawn; else why not. */
export function nativeSpawnStatus(): { available: true } | { available: false; reason: string } {
  const l = load();
  return 'addon' in l ? { available: true } : { available: false, reason: l.reason };
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
/** Input up to this size is written before spawn() returns: a fresh pipe takes it without blocking. */
const PIPE_BUF = 4096;

/**
 * A child started by posix_spawn, with the parts of ChildProcess that LAUNCH_SOURCE uses. As with
 * ChildProcess, the spawn is reported by a 'spawn' or an 'error' event, and the pid is known from
 * then on; a kill() before that is delivered once the child has started.
 */
class NativeChild extends EventEmitter {
  pid: number | undefined;
  /** 'data' (Buffer) and 'end' events, as from a readable stream; the addon reads the pipes. */
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  readonly stdin: { on(event: string, listener: () => void): void; end(input: string): void };
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  #pendingSignal: NodeJS.Signals | undefined;

  constructor(addon: Addon, command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    super();
    const envp: string[] = [];
    for (const key in options.env) {
      const value = options.env[key];
      if (value !== undefined) envp.push(`${key}=${value}`);
    }
    const onSpawn = (error: NodeJS.ErrnoException | null, pid: number | null): void => {
      if (error) return void this.emit('error', Object.assign(error, { path: command, spawnargs: args }));
      this.pid = pid!;
      this.emit('spawn');
      if (this.#pendingSignal !== undefined) this.kill(this.#pendingSignal);
    };
    const onExit = (code: number | null, signal: number | null): void => {
      this.exitCode = code;
      this.signalCode = signal === null ? null : (SIGNAL_NAMES.get(signal) ?? (`SIG${signal}` as NodeJS.Signals));
      this.emit('exit', this.exitCode, this.signalCode);
    };
    const onOutput = (stream: 0 | 1, chunk: Buffer | null): void => {
      const to = stream === 0 ? this.stdout : this.stderr;
      if (chunk === null) to.emit('end');
      else to.emit('data', chunk);
    };
    const stdin = addon.spawn(command, [command, ...args], envp, options.cwd, onSpawn, onOutput, onExit);
    this.stdin = { on() {}, end: (input) => writeInput(stdin, input) };
  }

  /** As ChildProcess.kill: false when the child has exited or the signal could not be sent. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    if (this.pid === undefined) {
      this.#pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Writes the step event to the child's stdin and closes it; a child that never reads is no error. */
function writeInput(fd: number, input: string): void {
  const bytes = Buffer.from(input);
  if (bytes.length <= PIPE_BUF) {
    try {
      writeSync(fd, bytes);
    } catch {
      // EPIPE: the child has closed its stdin (or exited) already.
    }
    closeSync(fd);
    return;
  }
  const socket = new Socket({ fd, readable: false, writable: true });
  socket.on('error', () => {});
  socket.end(bytes);
}

type Host = {
  spawn(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): NativeChild;
  reply(message: SpawnerReply): void;
  children: Map<number, { child: NativeChild }>;
  reported(): void;
  /** The engine's own process: the wait for a child's output after its exit keeps it alive. */
  inProcess: true;
};
type Start = (m: SpawnRequest, host: Host) => void;

let startFn: Start | undefined;
/** LAUNCH_SOURCE is CommonJS text (the helpers run it with `node -e`); here it is compiled once. */
function compiledStart(): Start {
  startFn ??= new Function('require', `'use strict';\n${LAUNCH_SOURCE}\nreturn start;`)(createRequire(import.meta.url)) as Start;
  return startFn;
}

/**
 * A launcher that starts children in this process, or undefined (with the reason in
 * nativeSpawnStatus) where posix_spawn with pidfds is not available.
 */
export function createNativeLauncher(): Spawner | undefined {
  const l = load();
  if (!('addon' in l)) return undefined;
  const addon = l.addon;
  const start = compiledStart();
  const waiting = new Map<number, (exit: LaunchExit) => void>();
  const host: Host = {
    spawn: (command, args, options) => new NativeChild(addon, command, args, options),
    reply(m) {
      if (m.t === 'ready' || m.t === 'spawned') return;
      const resolve = waiting.get(m.id);
      if (!resolve) return;
      waiting.delete(m.id);
      resolve(launchExitOf(m));
    },
    children: new Map(),
    reported() {},
    inProcess: true,
  };
  let nextId = 1;
  return {
    launch(request) {
      const id = nextId++;
      const exited = new Promise<LaunchExit>((resolve) => waiting.set(id, resolve));
      start({ t: 'spawn', id, ...request }, host);
      return {
        exited,
        kill(signal) {
          host.children.get(id)?.child.kill(signal);
        },
      };
    },
    ready: async () => true,
    pids: () => [],
    close: async () => {},
  };
}
