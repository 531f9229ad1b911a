import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeLauncher, envStamp, NATIVE_SPAWN_ADDON, nativeSpawnStatus } from '../../src/adapters/local/native-launcher.ts';
import type { LaunchRequest, Spawner } from '../../src/adapters/local/spawner.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const node = process.execPath;
const run = promisify(execFile);

// Built by `npm ci` (scripts/build-native.mjs); CI sets JOINFLOW_REQUIRE_NATIVE=1, so a failed
// build fails the install there rather than skipping this file.
describe.skipIf(!nativeSpawnStatus().available)('native launcher (posix_spawn + pidfd)', () => {
  let dir: string;
  let launcher: Spawner;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'joinflow-native-'));
    launcher = createNativeLauncher()!;
  });
  afterAll(async () => {
    await launcher.close();
    await rm(dir, { recursive: true, force: true });
  });

  const request = (name: string, command: string, args: string[], extra: Partial<LaunchRequest> = {}): LaunchRequest => ({
    command,
    args,
    cwd: dir,
    env: process.env,
    dir: join(dir, 'logs'),
    out: join(dir, 'logs', `${name}.out`),
    err: join(dir, 'logs', `${name}.err`),
    input: '',
    ...extra,
  });
  const launch = (r: LaunchRequest) => launcher.launch(r)!.exited;

  it('stamps the environment: the same stamp for the same variables, another after any change', () => {
    const before = envStamp();
    expect(typeof before).toBe('number');
    expect(envStamp()).toBe(before);
    const stamps: Array<number | undefined> = [];
    try {
      process.env['JOINFLOW_STAMP_T'] = 'a';
      stamps.push(envStamp());
      process.env['JOINFLOW_STAMP_T'] = 'b';
      stamps.push(envStamp());
      // The same length, one character moved between a name and its value.
      process.env['JOINFLOW_STAMP_T'] = 'a';
      stamps.push(envStamp());
      delete process.env['JOINFLOW_STAMP_T'];
      process.env['JOINFLOW_STAMP_'] = 'Ta';
      stamps.push(envStamp());
    } finally {
      delete process.env['JOINFLOW_STAMP_T'];
      delete process.env['JOINFLOW_STAMP_'];
    }
    expect(new Set([before, stamps[0], stamps[1], stamps[3]]).size).toBe(4);
    // Back to the same variables, back to the same stamp.
    expect(stamps[2]).toBe(stamps[0]);
    expect(envStamp()).toBe(before);
  });

  it('runs the command as a child of this process, with stdin, the environment and the working directory', async () => {
    const script = 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.stringify({ s, ppid: process.ppid, cwd: process.cwd(), v: process.env.JOINFLOW_T })))';
    const exit = await launch(request('basic', node, ['-e', script], { input: 'from stdin', env: { ...process.env, JOINFLOW_T: 'x' } }));
    expect(exit).toMatchObject({ code: 0, signal: null, stderr: { tail: '', cut: false } });
    const line = JSON.parse((exit as { stdout: { line: string } }).stdout.line) as Record<string, unknown>;
    expect(line).toEqual({ s: 'from stdin', ppid: process.pid, cwd: dir, v: 'x' });
  });

  it('delivers a large input in full, and survives a child that never reads it', async () => {
    const input = 'x'.repeat(1_000_000);
    const count = 'let n = 0; process.stdin.on("data", (d) => (n += d.length)).on("end", () => console.log(n))';
    expect(await launch(request('large', node, ['-e', count], { input }))).toMatchObject({ code: 0, stdout: { line: '1000000' } });
    expect(await launch(request('deaf', 'true', [], { input }))).toMatchObject({ code: 0 });
  });

  it('gives the child default signal actions and an empty mask (Node ignores SIGPIPE)', async () => {
    const exit = await launch(request('signals', 'grep', ['-E', '^Sig(Ign|Blk)', '/proc/self/status']));
    const status = (await readFile(join(dir, 'logs', 'signals.out'), 'utf8')).trim().split('\n');
    expect(exit).toMatchObject({ code: 0 });
    const mask = (name: string) => BigInt(`0x${status.find((l) => l.startsWith(name))!.split(/\s+/)[1]}`);
    const SIGPIPE = 1n << 12n;
    expect(mask('SigIgn') & SIGPIPE).toBe(0n);
    expect(mask('SigBlk')).toBe(0n);
  });

  it('looks the command up in the PATH of the environment it is given', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'joinflow-hello'), '#!/bin/sh\necho hello from path\n');
    await chmod(join(bin, 'joinflow-hello'), 0o755);
    await writeFile(join(bin, 'joinflow-not-executable'), '#!/bin/sh\n');
    const env = { ...process.env, PATH: `/nonexistent:${bin}:${process.env['PATH']}` };
    expect(await launch(request('path', 'joinflow-hello', [], { env }))).toMatchObject({ code: 0, stdout: { line: 'hello from path' } });
    expect(await launch(request('path2', 'joinflow-hello', []))).toMatchObject({ spawnError: { code: 'ENOENT', message: 'spawn joinflow-hello ENOENT' } });
    expect(await launch(request('path3', 'joinflow-not-executable', [], { env }))).toMatchObject({ spawnError: { code: 'EACCES' } });
    expect(await launch(request('cwd', 'true', [], { cwd: join(dir, 'no-such-dir') }))).toMatchObject({ spawnError: { code: 'ENOENT' } });
    expect(await launch(request('nul', 'echo', ['a\u0000b']))).toMatchObject({ spawnError: { message: expect.stringContaining('null bytes') } });
  });

  it('runs a script without a "#!" line with /bin/sh, as execvp (and so child_process.spawn) does', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'joinflow-no-shebang'), 'echo "no shebang: $0 $#: $1|$2"\n');
    await chmod(join(bin, 'joinflow-no-shebang'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env['PATH']}` };
    const line = `no shebang: ${join(bin, 'joinflow-no-shebang')} 2: a b|c`;
    expect(await launch(request('noexec', 'joinflow-no-shebang', ['a b', 'c'], { env }))).toMatchObject({ code: 0, stdout: { line } });
    expect(await launch(request('noexec2', join(bin, 'joinflow-no-shebang'), ['a b', 'c']))).toMatchObject({ code: 0, stdout: { line } });
  });

  it('copies output into logs created on their first byte and reports the ends of both streams', async () => {
    const lines = 'for (let i = 1; i <= 3; i++) console.log("line " + i); console.error("warn"); process.exit(2)';
    expect(await launch(request('both', node, ['-e', lines]))).toEqual({ code: 2, signal: null, stdout: { line: 'line 3' }, stderr: { tail: 'warn\n', cut: false } });
    expect(await readFile(join(dir, 'logs', 'both.out'), 'utf8')).toBe('line 1\nline 2\nline 3\n');
    expect(await launch(request('silent', 'true', []))).toEqual({ code: 0, signal: null, stdout: { line: null }, stderr: { tail: '', cut: false } });
    expect((await readdir(join(dir, 'logs'))).filter((f) => f.startsWith('silent'))).toEqual([]);
  });

  it('reports a death by signal, and kill() signals a running child', async () => {
    expect(await launch(request('self-kill', node, ['-e', 'process.kill(process.pid, "SIGKILL")']))).toMatchObject({ code: null, signal: 'SIGKILL' });
    const launched = launcher.launch(request('sleeper', 'sleep', ['30']))!;
    await new Promise((r) => setTimeout(r, 50));
    launched.kill('SIGTERM');
    expect(await launched.exited).toMatchObject({ code: null, signal: 'SIGTERM' });
    launched.kill('SIGTERM'); // after the exit: nothing to signal, no error
  });

  it('runs a burst of children, each reported with its own exit', async () => {
    const exits = await Promise.all(Array.from({ length: 40 }, (_, i) => launch(request(`burst-${i}`, 'sh', ['-c', `echo ${i}; exit ${i % 7}`]))));
    expect(exits.map((e) => [(e as { code: number }).code, (e as { stdout: { line: string } }).stdout.line])).toEqual(
      Array.from({ length: 40 }, (_, i) => [i % 7, String(i)]),
    );
  });

  it('delivers a kill() asked for before the spawn has happened', async () => {
    const launched = launcher.launch(request('early-kill', 'sleep', ['30']))!;
    launched.kill('SIGTERM');
    expect(await launched.exited).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('keeps the process alive between a quick child\'s end of output and the report of its spawn', async () => {
    // The spawn is reported through the loop after the child may already have exited and closed
    // its pipes: the process must not run out of work in between (it did, and then crashed when
    // the exit arrived during teardown).
    const program = `
      import { createNativeLauncher } from './src/adapters/local/native-launcher.ts';
      const launcher = createNativeLauncher();
      const base = { cwd: process.cwd(), env: process.env, dir: ${JSON.stringify(join(dir, 'quick'))}, input: '', out: '/dev/null', err: '/dev/null' };
      let ok = 0;
      for (let i = 0; i < 1000; i++) if ((await launcher.launch({ ...base, command: 'true', args: [] }).exited).code === 0) ok++;
      console.log(ok);
    `;
    const { stdout } = await run(node, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root });
    expect(stdout.trim()).toBe('1000');
  });

  it('lets the process exit while spawns are in flight and children run', async () => {
    const program = (delayMs: number) => `
      import { createNativeLauncher } from './src/adapters/local/native-launcher.ts';
      const launcher = createNativeLauncher();
      const base = { cwd: process.cwd(), env: process.env, dir: ${JSON.stringify(join(dir, 'exiting'))}, input: '', out: '/dev/null', err: '/dev/null' };
      for (let i = 0; i < 20; i++) launcher.launch({ ...base, command: i % 2 ? 'true' : 'sleep', args: i % 2 ? [] : ['0.05'] });
      setTimeout(() => process.exit(7), ${delayMs});
    `;
    for (const delayMs of [0, 1, 5, 20, 60]) {
      const exit = await run(node, ['--import', 'tsx', '--input-type=module', '-e', program(delayMs)], { cwd: root }).then(
        () => 0,
        (e: { code: number | null; signal: string | null }) => e.code ?? e.signal,
      );
      expect(exit, `exit after ${delayMs} ms`).toBe(7);
    }
  });

  it('lets a worker thread that uses it be terminated while its children run', async () => {
    // The addon's handles close before the worker's environment (and the addon's code) goes.
    const program = `
      const { Worker } = require('node:worker_threads');
      const code = \`
        const { parentPort } = require('node:worker_threads');
        const addon = require(${JSON.stringify(NATIVE_SPAWN_ADDON)});
        const env = Object.entries(process.env).map(([k, v]) => k + '=' + v);
        const none = () => {};
        addon.spawn('sleep', ['sleep', '1'], env, null, none, none, none);
        addon.spawn('true', ['true'], env, null, none, none, none);
        parentPort.postMessage('spawned');
      \`;
      (async () => {
        for (let i = 0; i < 5; i++) {
          const worker = new Worker(code, { eval: true });
          await new Promise((r) => worker.once('message', r));
          await new Promise((r) => setTimeout(r, i * 3));
          await worker.terminate();
        }
        console.log('terminated');
      })();
    `;
    const { stdout } = await run(node, ['-e', program], { cwd: root });
    expect(stdout.trim()).toBe('terminated');
  });

  it('keeps the process alive while a child runs, and lets it exit once idle', async () => {
    const program = `
      import { createNativeLauncher } from './src/adapters/local/native-launcher.ts';
      const launcher = createNativeLauncher();
      const base = { cwd: process.cwd(), env: process.env, dir: ${JSON.stringify(join(dir, 'alive'))}, input: '' };
      launcher.launch({ ...base, command: 'sleep', args: ['0.3'], out: ${JSON.stringify(join(dir, 'alive', 'a.out'))}, err: ${JSON.stringify(join(dir, 'alive', 'a.err'))} })
        .exited.then((exit) => console.log(JSON.stringify(exit)));
    `;
    const started = performance.now();
    const { stdout } = await run(node, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root });
    expect(JSON.parse(stdout)).toMatchObject({ code: 0, signal: null });
    // Slept the 0.3 s (the process waited for the child), then exited without being told to.
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });
});

describe('native launcher availability', () => {
  it('is off with JOINFLOW_NATIVE_SPAWN=0, and the process executor then uses spawner helpers', async () => {
    const program = `
      import { nativeSpawnStatus } from './src/adapters/local/native-launcher.ts';
      import { createProcessExecutor } from './src/adapters/local/process-executor.ts';
      const executor = createProcessExecutor({ logDir: () => ${JSON.stringify(join(tmpdir(), 'joinflow-native-off'))} });
      const task = { workflow: 'w', runId: 'r', step: 's', attempt: 1, maxAttempts: 1, event: { input: null, results: {} },
        executor: { type: 'process', command: process.execPath, args: ['-e', 'console.log(process.ppid)'], env: {} } };
      // The first tasks run directly while the helpers start; then a helper is the parent.
      let ppid = process.pid;
      for (let i = 0; i < 100 && ppid === process.pid; i++) {
        ppid = (await executor.execute(task, new AbortController().signal)).output;
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(JSON.stringify({ status: nativeSpawnStatus(), ppid, self: process.pid }));
      await executor.close();
    `;
    const { stdout } = await run(node, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root, env: { ...process.env, JOINFLOW_NATIVE_SPAWN: '0' } });
    const seen = JSON.parse(stdout) as { status: { available: boolean; reason: string }; ppid: number; self: number };
    expect(seen.status).toEqual({ available: false, reason: 'JOINFLOW_NATIVE_SPAWN=0' });
    expect(seen.ppid).not.toBe(seen.self);
  });
});
