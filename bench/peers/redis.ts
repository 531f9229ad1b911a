/**
 * A throw-away Redis server for the HyperFlow peer: found on this machine, started on a free
 * loopback port with no persistence in a temporary directory, and stopped (directory removed)
 * when the bench ends — also when it fails or is interrupted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A running Redis server. */
export type RedisServer = {
  url: string;
  port: number;
  /** Its working directory (empty: nothing is persisted), removed by stop() and kill(). */
  dir: string;
  /** `redis-server --version`, e.g. "7.0.15". */
  version: string;
  /** Milliseconds from spawning the server until it answered PING (reported, never timed in). */
  startMs: number;
  /** Stops the server and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
  /** Synchronous last resort for process exit handlers: signals the server, removes the dir. */
  kill(): void;
};

const INSTALL_HINT =
  'install it with `sudo apt-get install redis-server` (Debian/Ubuntu; the bench starts and stops its own server, ' +
  'the system service is not needed) or point REDIS_SERVER at a redis-server binary';

/** The redis-server binary: $REDIS_SERVER, else the first on PATH, else /usr/bin or /usr/sbin. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string {
  if (env['REDIS_SERVER']) {
    if (!isExecutable(env['REDIS_SERVER'])) throw new Error(`REDIS_SERVER=${env['REDIS_SERVER']} is not an executable file; ${INSTALL_HINT}`);
    return env['REDIS_SERVER'];
  }
  const dirs = [...(env['PATH'] ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(`redis-server not found (looked on PATH and in /usr/bin, /usr/sbin, /usr/local/bin): ${INSTALL_HINT}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A port the kernel just handed out on 127.0.0.1 (another process may still take it: we retry). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}

/** One PING over RESP; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How Redis keeps its data: `none` (no RDB snapshots, no AOF: memory only), or `aof`: every
 * write appended to a file and fsynced once a second (`appendfsync everysec`), which survives a
 * crash of Redis and loses at most the last second on power loss, like joinflow's SQLite state
 * (`synchronous=NORMAL`: a commit survives a crash of the process).
 */
export type RedisPersistence = 'none' | 'aof';

/**
 * Starts redis-server on a free 127.0.0.1 port, its working directory a fresh temp dir, with no
 * RDB snapshots and AOF as `persistence` says. Waits up to `readyTimeoutMs` for PING to answer.
 */
export async function startRedis(options: { binary?: string; readyTimeoutMs?: number; persistence?: RedisPersistence } = {}): Promise<RedisServer> {
  const binary = options.binary ?? findRedisServer();
  const version = /v=(\S+)/.exec(spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown';
  let lastError = '';
  // The port can be taken between freePort() and the server's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-peer-redis-'));
    const t0 = performance.now();
    const child = spawn(binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--save', '', '--daemonize', 'no', '--logfile', '',
      ...(options.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', (e) => ((exited = true), (log += `\n${e.message}`)));
    const deadline = performance.now() + (options.readyTimeoutMs ?? 10_000);
    while (!exited && performance.now() < deadline && !(await ping(port))) await sleep(20);
    if (!exited && performance.now() < deadline) {
      const startMs = performance.now() - t0;
      return handle(child, dir, port, version, startMs);
    }
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    lastError = exited ? `exited during start-up:\n${log.trim()}` : `did not answer PING on port ${port} within the time limit:\n${log.trim()}`;
  }
  throw new Error(`redis-server (${binary}) ${lastError}`);
}

function handle(child: ChildProcess, dir: string, port: number, version: string, startMs: number): RedisServer {
  let stopped = false;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    version,
    startMs,
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGTERM: Redis shuts down cleanly (with `save ""` it writes nothing); SIGKILL if it hangs.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
    kill() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
