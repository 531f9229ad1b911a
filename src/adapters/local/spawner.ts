/**
 * Spawner helpers: small Node processes that start the process executor's children for it.
 *
 * Why: child_process.spawn() forks the calling process and blocks until the child has exec'd.
 * From the engine — a ~100 MB process with SQLite, V8 heap and threads — that cost ~2 ms of
 * blocked event loop and ~1 ms of system time per child on the project's 2-core machine (page
 * tables copied, then ~250 copy-on-write faults as the engine writes its memory again), and a
 * burst of a dozen spawns stalled the loop for 40-60 ms while exits waited. A bare helper forks
 * in about half the time, and the engine's loop stays free to handle exits and events.
 *
 * Where the native launcher is available (native-launcher.ts: posix_spawn from the engine, on
 * Linux) the process executor uses it instead, and the helpers are the fallback.
 *
 * Helpers are started lazily and replaced when they die; while none is ready, `launch` returns
 * undefined and the caller spawns directly. A helper that dies takes its children's exit statuses
 * with it: those children are killed and their tasks end as `lost`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SPAWNER_PROGRAM, type KillRequest, type SpawnerReply, type SpawnRequest, type StderrSummary, type StdoutSummary } from './spawner-program.ts';

/**
 * How a launched process ended; `lost`: its helper died, so its exit status is unknown. An exit
 * reported by a helper comes with the ends of stdout and stderr; without them, read the logs.
 */
export type LaunchExit =
  | { spawnError: { message: string; code?: string } }
  | { logError: { message: string; code?: string } }
  | { code: number | null; signal: NodeJS.Signals | null; stdout?: StdoutSummary; stderr?: StderrSummary }
  | { lost: string };

/** A started command, through a helper or directly. */
export type Launched = {
  readonly exited: Promise<LaunchExit>;
  /** Signals the child unless it has exited (or never started). */
  kill(signal: NodeJS.Signals): void;
};

/** What to start: a spawn request without its id. */
export type LaunchRequest = Omit<SpawnRequest, 't' | 'id'>;

/** A pool of spawner helpers. */
export interface Spawner {
  /** Starts `request` in a ready helper, or returns undefined (starting helpers) when none is. */
  launch(request: LaunchRequest): Launched | undefined;
  /** Starts the helpers if needed; true once one is ready, false if they cannot start. */
  ready(): Promise<boolean>;
  /** Process ids of the live helpers (diagnostics, tests). */
  pids(): number[];
  /** Stops the helpers (their children are left alone: stop those first). Later use restarts them. */
  close(): Promise<void>;
}

/** Options of {@link createSpawner}. */
export type SpawnerOptions = {
  /** Number of helper processes; default 2 (spawns of a burst proceed two at a time). */
  size?: number;
};

/** Helpers that die before they are ready, in a row, before the pool gives up and stays direct. */
const MAX_FAILED_STARTS = 3;

type Pending = { resolve: (exit: LaunchExit) => void; pid?: number; acked: boolean };

type Helper = {
  child: ChildProcess;
  ready: boolean;
  /** Requests sent and not yet answered with spawned/error: the helper's queue. */
  queued: number;
  pending: Map<number, Pending>;
  whenReady: Promise<boolean>;
  /** Exited (or closed by us): no longer in the pool. */
  closed: boolean;
};

/** Creates a pool of spawner helpers (started on first use). */
export function createSpawner(options: SpawnerOptions = {}): Spawner {
  const size = Math.max(1, options.size ?? 2);
  const helpers = new Set<Helper>();
  let nextId = 1;
  let failedStarts = 0;

  function startHelper(): Helper {
    const env = { ...process.env };
    // Preloads (tsx, --require hooks) would only make the helper bigger and slower to start.
    delete env['NODE_OPTIONS'];
    // One V8 worker thread instead of four (and no parallel GC tasks for it): 4 threads instead of
    // 7 and fewer mappings for each fork to copy. A spawn blocked the helper ~0.8 ms instead of
    // ~0.95 ms, measured on the 2-core development machine (medians of 5 alternating runs of 200
    // spawns each).
    const flags = ['--max-semi-space-size=1', '--v8-pool-size=1', '--single-threaded-gc'];
    const child = spawn(process.execPath, [...flags, '-e', SPAWNER_PROGRAM], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
      serialization: 'json',
    });
    let settle: (ok: boolean) => void = () => {};
    const helper: Helper = { child, ready: false, queued: 0, pending: new Map(), whenReady: new Promise((r) => (settle = r)), closed: false };
    helpers.add(helper);
    // An idle helper must not keep the engine alive; a helper with children does (see refresh).
    child.unref();
    refresh(helper);
    child.on('message', (m: SpawnerReply) => onReply(helper, m, settle));
    // Gone = exited and disconnected: replies sent just before the exit are read first.
    let exit: string | undefined;
    let isGone = false;
    const gone = (why: string): void => {
      if (isGone) return;
      isGone = true;
      helpers.delete(helper);
      // One closed by us is not a failed start.
      if (!helper.ready && !helper.closed) failedStarts++;
      helper.closed = true;
      settle(false);
      for (const p of helper.pending.values()) {
        // Nobody can learn this child's exit any more: stop it rather than leave it unobserved.
        if (p.pid !== undefined) killQuietly(p.pid);
        p.resolve({ lost: p.pid === undefined ? why : `${why}; its child (pid ${p.pid}) was killed` });
      }
      helper.pending.clear();
    };
    child.on('error', (error) => {
      // Failed sends surface here too; only a helper that never started is gone because of it.
      if (child.pid === undefined) gone(`the spawner helper process could not start: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      exit = `the spawner helper process (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
      if (!child.connected) gone(exit);
      // Its channel closes with it (children do not inherit it); this is only a backstop.
      else setTimeout(() => gone(exit!), 1000).unref();
    });
    child.once('disconnect', () => {
      if (exit !== undefined) gone(exit);
    });
    return helper;
  }

  function onReply(helper: Helper, m: SpawnerReply, settle: (ok: boolean) => void): void {
    if (m.t === 'ready') {
      helper.ready = true;
      failedStarts = 0;
      settle(true);
      return;
    }
    const p = helper.pending.get(m.id);
    if (!p) return;
    if (m.t === 'spawned') {
      p.pid = m.pid;
      ack(helper, p);
      return;
    }
    ack(helper, p);
    helper.pending.delete(m.id);
    refresh(helper);
    p.resolve(launchExitOf(m));
  }

  function ack(helper: Helper, p: Pending): void {
    if (p.acked) return;
    p.acked = true;
    helper.queued--;
  }

  /** The IPC channel keeps the engine alive exactly while the helper has work. */
  function refresh(helper: Helper): void {
    const channel = helper.child.channel;
    if (!channel) return;
    if (helper.pending.size > 0) channel.ref();
    else channel.unref();
  }

  function ensureStarted(): void {
    if (failedStarts >= MAX_FAILED_STARTS) return;
    while (helpers.size < size) startHelper();
  }

  function send(helper: Helper, message: SpawnRequest | KillRequest): boolean {
    if (!helper.child.connected) return false;
    try {
      helper.child.send(message);
      return true;
    } catch {
      return false;
    }
  }

  return {
    launch(request) {
      ensureStarted();
      let best: Helper | undefined;
      for (const h of helpers) if (h.ready && h.child.connected && (!best || h.queued < best.queued)) best = h;
      if (!best) return undefined;
      const helper = best;
      const id = nextId++;
      let resolve: (exit: LaunchExit) => void = () => {};
      const exited = new Promise<LaunchExit>((r) => (resolve = r));
      const p: Pending = { resolve, acked: false };
      if (!send(helper, { t: 'spawn', id, ...request })) return undefined;
      helper.pending.set(id, p);
      helper.queued++;
      refresh(helper);
      let done = false;
      void exited.then(() => (done = true));
      return {
        exited,
        kill(signal) {
          if (!done) send(helper, { t: 'kill', id, signal });
        },
      };
    },
    async ready() {
      ensureStarted();
      if (helpers.size === 0) return false;
      // Whoever waits for the helpers keeps the process alive meanwhile.
      const results = await Promise.all(
        [...helpers].map((h) => {
          h.child.channel?.ref();
          return h.whenReady.finally(() => refresh(h));
        }),
      );
      return results.some(Boolean);
    },
    pids() {
      return [...helpers].flatMap((h) => (h.child.pid === undefined || h.child.exitCode !== null ? [] : [h.child.pid]));
    },
    async close() {
      const closing = [...helpers].map(
        (h) =>
          new Promise<void>((resolve) => {
            h.closed = true;
            if (h.child.exitCode !== null || h.child.signalCode !== null || h.child.pid === undefined) return resolve();
            h.child.once('exit', () => resolve());
            // Disconnecting makes the helper exit; a wedged one is killed.
            const timer = setTimeout(() => h.child.kill('SIGKILL'), 2000);
            h.child.once('exit', () => clearTimeout(timer));
            h.child.channel?.ref();
            if (h.child.connected) h.child.disconnect();
          }),
      );
      helpers.clear();
      failedStarts = 0;
      await Promise.all(closing);
    },
  };
}

/** The LaunchExit that a final reply (exit, error, log-error) of a spawn request stands for. */
export function launchExitOf(m: Extract<SpawnerReply, { t: 'exit' | 'error' | 'log-error' }>): LaunchExit {
  if (m.t === 'exit') return m.stdout && m.stderr ? { code: m.code, signal: m.signal, stdout: m.stdout, stderr: m.stderr } : { code: m.code, signal: m.signal };
  const error = { message: m.message, ...(m.code ? { code: m.code } : {}) };
  return m.t === 'error' ? { spawnError: error } : { logError: error };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
