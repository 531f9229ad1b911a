import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcessExecutor } from '../../src/adapters/local/process-executor.ts';
import { createSpawner, type LaunchRequest } from '../../src/adapters/local/spawner.ts';
import type { ExecutorSpec, StepEvent } from '../../src/model/workflow.ts';
import type { StepOutcome, Task } from '../../src/ports.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scripts = fileURLToPath(new URL('../fixtures/scripts/', import.meta.url));
const never = new AbortController().signal;
const node = process.execPath;

function task(executor: ExecutorSpec, extra: Partial<Task> = {}): Task {
  const event: StepEvent = { input: {}, results: {} };
  return { workflow: 'wf', runId: 'run-1', step: 'step-a', attempt: 1, maxAttempts: 3, executor, event, ...extra };
}

const script = (name: string, ...args: string[]): ExecutorSpec => ({ type: 'process', command: node, args: [join(scripts, name), ...args], env: {} });

/** Whether a process is gone; a zombie (killed, not yet reaped by its new parent) counts as gone. */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting until ${what}`);
}

async function waitForFile(file: string, text: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const content = await readFile(file, 'utf8').catch(() => '');
    if (content.includes(text)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file} never contained ${JSON.stringify(text)}`);
}

describe('spawner helpers', () => {
  let logRoot: string;
  beforeAll(async () => {
    logRoot = await mkdtemp(join(tmpdir(), 'joinflow-spawner-'));
  });
  afterAll(async () => {
    await rm(logRoot, { recursive: true, force: true });
  });

  const request = (name: string, command: string, args: string[], input = ''): LaunchRequest => ({
    command,
    args,
    cwd: logRoot,
    env: process.env,
    dir: join(logRoot, 'direct'),
    out: join(logRoot, 'direct', `${name}.out`),
    err: join(logRoot, 'direct', `${name}.err`),
    input,
  });

  it('starts lazily: no helper before the first launch, which is declined while they start', async () => {
    const spawner = createSpawner({ size: 2 });
    try {
      expect(spawner.pids()).toEqual([]);
      expect(spawner.launch(request('lazy', 'true', []))).toBeUndefined();
      expect(await spawner.ready()).toBe(true);
      expect(spawner.pids()).toHaveLength(2);
      const launched = spawner.launch(request('cat', 'cat', [], 'from stdin'));
      expect(launched).toBeDefined();
      expect(await launched!.exited).toEqual({ code: 0, signal: null, stdout: { line: 'from stdin' }, stderr: { tail: '', cut: false } });
      expect(await readFile(join(logRoot, 'direct', 'cat.out'), 'utf8')).toBe('from stdin');
    } finally {
      await spawner.close();
    }
  });

  it('reports spawn errors with their code and a signal death as such', async () => {
    const spawner = createSpawner({ size: 1 });
    try {
      expect(await spawner.ready()).toBe(true);
      const missing = await spawner.launch(request('missing', 'joinflow-no-such-command', []))!.exited;
      expect(missing).toMatchObject({ spawnError: { code: 'ENOENT' } });
      const killed = await spawner.launch(request('kill', node, ['-e', 'process.kill(process.pid, "SIGKILL")']))!.exited;
      expect(killed).toMatchObject({ code: null, signal: 'SIGKILL' });
    } finally {
      await spawner.close();
    }
  });

  it('fails the task of a helper that dies as lost and retriable, kills its child, and replaces the helper', async () => {
    const spawner = createSpawner({ size: 1 });
    const executor = createProcessExecutor({ logDir: (t) => join(logRoot, t.runId), spawner });
    try {
      expect(await spawner.ready()).toBe(true);
      const [helper] = spawner.pids();
      const running = executor.execute(task(script('forever.mjs'), { runId: 'lost' }), never);
      await waitForFile(join(logRoot, 'lost', 'step-a.1.out'), 'started');
      process.kill(helper!, 'SIGKILL');
      const outcome = await running;
      expect(outcome.status).toBe('failed');
      const failure = outcome as Extract<StepOutcome, { status: 'failed' }>;
      expect(failure.retriable).toBe(true);
      expect(failure.error.type).toBe('ProcessLost');
      expect(failure.error.message).toMatch(new RegExp(`spawner helper process \\(pid ${helper}\\) was killed by SIGKILL; its child \\(pid \\d+\\) was killed`));
      const child = Number(/its child \(pid (\d+)\)/.exec(failure.error.message)![1]);
      await eventually(() => gone(child), `the orphaned child ${child} is gone`);

      // The next task runs (directly while a new helper starts), then through the new helper.
      expect(await executor.execute(task(script('text.mjs')), never)).toEqual({ status: 'succeeded', output: 'the answer is 42' });
      expect(await spawner.ready()).toBe(true);
      const [replacement] = spawner.pids();
      expect(replacement).toBeDefined();
      expect(replacement).not.toBe(helper);
      expect(await executor.execute(task(script('parent.mjs')), never)).toEqual({ status: 'succeeded', output: { ppid: replacement } });
    } finally {
      await executor.close();
    }
  });

  it('copies output into logs created on its first byte, and sends the ends of both streams with the exit', async () => {
    const spawner = createSpawner({ size: 1 });
    const dir = join(logRoot, 'relay');
    const at = (name: string): LaunchRequest => ({ ...request(name, 'true', []), dir, out: join(dir, `${name}.out`), err: join(dir, `${name}.err`) });
    try {
      expect(await spawner.ready()).toBe(true);
      const lines = 'for (let i = 1; i <= 3; i++) console.log("line " + i); console.log("  "); console.error("warn"); process.exit(2)';
      const exit = await spawner.launch({ ...at('both'), command: node, args: ['-e', lines] })!.exited;
      expect(exit).toEqual({ code: 2, signal: null, stdout: { line: 'line 3' }, stderr: { tail: 'warn\n', cut: false } });
      expect(await readFile(join(dir, 'both.out'), 'utf8')).toBe('line 1\nline 2\nline 3\n  \n');
      expect(await readFile(join(dir, 'both.err'), 'utf8')).toBe('warn\n');

      // Nothing written, nothing created (not even the directory).
      expect(await spawner.launch(at('silent'))!.exited).toEqual({ code: 0, signal: null, stdout: { line: null }, stderr: { tail: '', cut: false } });
      expect(await readdir(dir)).toEqual(['both.err', 'both.out']);

      // The stderr sent is its end; `cut` tells that the first line may be partial.
      const long = await spawner.launch({ ...at('long'), command: node, args: ['-e', 'for (let i = 0; i < 500; i++) console.error("error line " + i)'] })!.exited;
      const stderr = (long as { stderr: { tail: string; cut: boolean } }).stderr;
      expect(stderr.cut).toBe(true);
      expect(stderr.tail.endsWith('error line 499\n')).toBe(true);
      expect(Buffer.byteLength(stderr.tail)).toBe(2048);
      expect((await readFile(join(dir, 'long.err'), 'utf8')).split('\n')).toHaveLength(501);
    } finally {
      await spawner.close();
    }
  });

  it('reports an exit while a grandchild holds the pipes open, and keeps copying what the grandchild writes', async () => {
    const spawner = createSpawner({ size: 1 });
    const executor = createProcessExecutor({ logDir: (t) => join(logRoot, t.runId), spawner });
    const go = join(logRoot, 'grandchild-go');
    // The grandchild inherits stdout and writes only after the test has seen the step end.
    const spec: ExecutorSpec = { type: 'process', command: 'sh', args: ['-c', `(while [ ! -e '${go}' ]; do sleep 0.02; done; echo late) & echo '"early"'`], env: {} };
    try {
      expect(await spawner.ready()).toBe(true);
      expect(await executor.execute(task(spec, { runId: 'grandchild' }), never)).toEqual({ status: 'succeeded', output: 'early' });
      await writeFile(go, '');
      await waitForFile(join(logRoot, 'grandchild', 'step-a.1.out'), 'late');
      expect(await readFile(join(logRoot, 'grandchild', 'step-a.1.out'), 'utf8')).toBe('"early"\nlate\n');
    } finally {
      await executor.close();
    }
  });

  it('lets its children run on, still logging, when the engine goes away', async () => {
    const dir = join(logRoot, 'orphans');
    const go = join(logRoot, 'orphans-go');
    // The engine launches a child through a helper and exits without closing anything.
    const program = `
      import { createSpawner } from './src/adapters/local/spawner.ts';
      const spawner = createSpawner({ size: 1 });
      await spawner.ready();
      const script = "console.log('before'); const { existsSync } = require('node:fs'); const t = setInterval(() => { if (existsSync(${JSON.stringify(JSON.stringify(go)).slice(1, -1)})) { console.log('after'); clearInterval(t); } }, 20)";
      spawner.launch({ command: process.execPath, args: ['-e', script], cwd: process.cwd(), env: process.env, dir: ${JSON.stringify(dir)},
        out: ${JSON.stringify(join(dir, 'orphan.out'))}, err: ${JSON.stringify(join(dir, 'orphan.err'))}, input: '' });
      const until = Date.now() + 15_000;
      const { readFileSync } = await import('node:fs');
      const wait = () => { try { if (readFileSync(${JSON.stringify(join(dir, 'orphan.out'))}, 'utf8').includes('before')) return process.exit(0); } catch {} if (Date.now() < until) setTimeout(wait, 20); };
      wait();
    `;
    // Not execFile: the helper inherits the engine's stdout and stderr, and keeps them open.
    const engine = spawn(node, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root, stdio: 'ignore' });
    expect(await new Promise((resolve) => engine.once('exit', resolve))).toBe(0);
    await writeFile(go, '');
    await waitForFile(join(dir, 'orphan.out'), 'after');
    expect(await readFile(join(dir, 'orphan.out'), 'utf8')).toBe('before\nafter\n');
  });

  it('stops its helpers on close, and starts new ones when used again', async () => {
    const spawner = createSpawner({ size: 2 });
    expect(await spawner.ready()).toBe(true);
    const before = spawner.pids();
    expect(before).toHaveLength(2);
    await spawner.close();
    expect(spawner.pids()).toEqual([]);
    await eventually(() => before.every(gone), 'the helpers are gone');
    expect(await spawner.ready()).toBe(true);
    const after = spawner.pids();
    expect(after).toHaveLength(2);
    expect(after.some((p) => before.includes(p))).toBe(false);
    await spawner.close();
  });

  it('close() of the executor stops running children started by helpers, then the helpers', async () => {
    const spawner = createSpawner({ size: 1 });
    const executor = createProcessExecutor({ logDir: (t) => join(logRoot, t.runId), spawner, killGraceMs: 200 });
    expect(await spawner.ready()).toBe(true);
    const helpers = spawner.pids();
    const running = executor.execute(task(script('forever.mjs', 'stubborn'), { runId: 'close' }), never);
    await waitForFile(join(logRoot, 'close', 'step-a.1.out'), 'started');
    await executor.close();
    // Not aborted (no signal fired): the executor reports what happened to the process.
    expect(await running).toEqual({ status: 'failed', error: { type: 'ProcessExited', message: 'killed by signal SIGKILL' }, retriable: true });
    expect(await readFile(join(logRoot, 'close', 'step-a.1.out'), 'utf8')).toBe('started\nignoring SIGTERM\n');
    await eventually(() => helpers.every(gone), 'the helper is gone');
  });

  it('keeps the process alive while a child runs through a helper, and not once idle', async () => {
    // A program with nothing else to wait for: it must print the outcome, then exit on its own.
    const program = `
      import { createProcessExecutor } from './src/adapters/local/process-executor.ts';
      import { createSpawner } from './src/adapters/local/spawner.ts';
      const spawner = createSpawner({ size: 1 });
      await spawner.ready();
      const executor = createProcessExecutor({ logDir: () => ${JSON.stringify(join(logRoot, 'alive'))}, spawner });
      const task = { workflow: 'wf', runId: 'r', step: 's', attempt: 1, maxAttempts: 1, event: { input: {}, results: {} },
        executor: { type: 'process', command: 'sh', args: ['-c', 'sleep 0.3; echo \\'"done"\\''], env: {} } };
      executor.execute(task, new AbortController().signal).then((outcome) => console.log(JSON.stringify({ outcome, helpers: spawner.pids() })));
    `;
    // A process kept alive by an idle helper would hit the timeout and fail the test.
    const { stdout } = await promisify(execFile)(node, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: root, timeout: 20_000 });
    const result = JSON.parse(stdout.trim()) as { outcome: StepOutcome; helpers: number[] };
    expect(result.outcome).toEqual({ status: 'succeeded', output: 'done' });
    expect(result.helpers).toHaveLength(1);
  });
});
