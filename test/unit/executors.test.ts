import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFunctionExecutor, inheritedExecArgv } from '../../src/adapters/local/function-executor.ts';
import { createProcessExecutor } from '../../src/adapters/local/process-executor.ts';
import { stuckThreads } from '../../src/adapters/local/stuck-threads.ts';
import { createNativeLauncher, nativeSpawnStatus } from '../../src/adapters/local/native-launcher.ts';
import { createSpawner, type Spawner } from '../../src/adapters/local/spawner.ts';
import { createSimulateExecutor, INSTANT_PER_TURN } from '../../src/adapters/local/simulate-executor.ts';
import type { ExecutorSpec, ProcessExecutor, StepEvent } from '../../src/model/workflow.ts';
import type { Executor, StepOutcome, Task } from '../../src/ports.ts';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const handlers = join(fixtures, 'handlers', 'handlers.ts');
const scripts = join(fixtures, 'scripts');
const never = new AbortController().signal;

function task(executor: ExecutorSpec, extra: Partial<Task> & { input?: unknown } = {}): Task {
  const { input, ...rest } = extra;
  const event: StepEvent = { input: input ?? {}, results: { prev: 1 } };
  return { workflow: 'wf', runId: 'run-1', step: 'step-a', attempt: 1, maxAttempts: 3, executor, event, ...rest };
}

function fn(exportName: string, module = handlers): ExecutorSpec {
  return { type: 'function', module, export: exportName };
}

const ok = (output: unknown): StepOutcome => ({ status: 'succeeded', output });
const ABORTED: StepOutcome = { status: 'aborted' };

/** An outcome without its init time (which the function executor reports for a worker's first task). */
function bare(outcome: StepOutcome): StepOutcome {
  if (outcome.status === 'aborted') return outcome;
  const { initMs: _initMs, ...rest } = outcome;
  return rest;
}

function failure(outcome: StepOutcome): { type: string; message: string; retriable: boolean } {
  if (outcome.status !== 'failed') throw new Error(`expected a failure, got ${JSON.stringify(outcome)}`);
  return { ...outcome.error, retriable: outcome.retriable };
}

/** Whether a process is there (not a zombie), read from /proc. */
function running(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pids still running after up to 10 s (at once when none is). */
async function stillRunning(pids: number[]): Promise<number[]> {
  for (let i = 0; i < 200 && pids.some(running); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return pids.filter(running);
}

/** The children of this process that have exited and that nobody has reaped: zombies (/proc/<pid>/stat state Z). */
function zombies(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' && Number(ppid) === process.pid) found.push(Number(entry));
  }
  return found;
}

/** Which of `pids` are zombies of this process after up to 10 s (at once when none is). */
async function zombiesAmong(pids: number[]): Promise<number[]> {
  const left = () => zombies().filter((pid) => pids.includes(pid));
  for (let i = 0; i < 200 && left().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return left();
}

describe('simulate executor', () => {
  it('returns the canned output, or null without one', async () => {
    const executor = createSimulateExecutor();
    expect(await executor.execute(task({ type: 'simulate', durationMs: 0, output: { a: 1 } }), never)).toEqual(ok({ a: 1 }));
    expect(await executor.execute(task({ type: 'simulate', durationMs: 0 }), never)).toEqual(ok(null));
  });

  /** The simulated milliseconds after which `executor` ends `spec`'s step (fake timers, advanced 1 ms at a time). */
  async function endsAfter(executor: Executor, spec: ExecutorSpec, limit = 10_000): Promise<{ ms: number; outcome: StepOutcome }> {
    let outcome: StepOutcome | undefined;
    void executor.execute(task(spec), never).then((o) => (outcome = o));
    let ms = 0;
    await vi.advanceTimersByTimeAsync(0);
    while (outcome === undefined) {
      if (ms >= limit) throw new Error(`still running after ${limit} simulated ms`);
      await vi.advanceTimersByTimeAsync(1);
      ms++;
    }
    return { ms, outcome };
  }

  it('scales durations by timeScale, rounding a fraction of a millisecond up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      expect(await endsAfter(createSimulateExecutor({ timeScale: 0.01 }), { type: 'simulate', durationMs: 5000, output: 'x' })).toEqual({ ms: 50, outcome: ok('x') });
      expect(await endsAfter(createSimulateExecutor({ timeScale: 1 }), { type: 'simulate', durationMs: 120 })).toEqual({ ms: 120, outcome: ok(null) });
      expect(await endsAfter(createSimulateExecutor({ timeScale: 0.333 }), { type: 'simulate', durationMs: 100 })).toEqual({ ms: 34, outcome: ok(null) });
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs zero-duration steps without a timer, yielding to the event loop', async () => {
    const executor = createSimulateExecutor({ timeScale: 0 });
    const order: string[] = [];
    const done = executor.execute(task({ type: 'simulate', durationMs: 1000 }), never).then(() => order.push('step'));
    void Promise.resolve().then(() => order.push('microtask'));
    await done;
    expect(order).toEqual(['microtask', 'step']);
    let chain = 0;
    for (let i = 0; i < 2000; i++) {
      const outcome = await executor.execute(task({ type: 'simulate', durationMs: 0, output: i }), never);
      if (outcome.status === 'succeeded') chain += outcome.output as number;
    }
    expect(chain).toBe((1999 * 2000) / 2);
  });

  it('ends a wide fan-out of instant steps a slice per turn, letting timers and signals run between slices, in start order', async () => {
    const executor = createSimulateExecutor();
    const n = INSTANT_PER_TURN * 2 + 5;
    const ended: number[] = [];
    for (let i = 0; i < n; i++) executor.start!(task({ type: 'simulate', durationMs: 0 }), never, () => ended.push(i));
    const seen: number[] = [];
    // Queued after the executor's first turn: it sees that turn's slice only.
    await new Promise<void>((resolve) => setImmediate(() => {
      seen.push(ended.length);
      // A step started now ends after those started before it.
      executor.start!(task({ type: 'simulate', durationMs: 0 }), never, () => ended.push(-1));
      resolve();
    }));
    await new Promise<void>((resolve) => setImmediate(resolve));
    seen.push(ended.length);
    while (ended.length < n + 1) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen).toEqual([INSTANT_PER_TURN, INSTANT_PER_TURN * 2]);
    expect(ended).toEqual([...Array.from({ length: n }, (_, i) => i), -1]);
  });

  it('ends an instant step stopped before its turn as stopped (cancel of a wide fan-out)', async () => {
    const executor = createSimulateExecutor();
    const stop = new AbortController();
    const outcomes = Promise.all([executor.execute(task({ type: 'simulate', durationMs: 0, output: 1 }), stop.signal), executor.execute(task({ type: 'simulate', durationMs: 0, output: 2 }), never)]);
    stop.abort();
    expect(await outcomes).toEqual([ABORTED, ok(2)]);
  });

  it('aborts a sleeping step at once, clearing its timer, and rejects a bad timeScale', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const executor = createSimulateExecutor();
      const stop = new AbortController();
      let outcome: StepOutcome | undefined;
      void executor.execute(task({ type: 'simulate', durationMs: 60_000 }), stop.signal).then((o) => (outcome = o));
      await vi.advanceTimersByTimeAsync(10);
      expect([outcome, vi.getTimerCount()]).toEqual([undefined, 1]);
      stop.abort();
      // No simulated time passes: the abort alone ends the step.
      await vi.advanceTimersByTimeAsync(0);
      expect([outcome, vi.getTimerCount()]).toEqual([ABORTED, 0]);
    } finally {
      vi.useRealTimers();
    }
    expect(() => createSimulateExecutor({ timeScale: -1 })).toThrow(/timeScale/);
  });
});

// The same contract whether children are spawned by this process (child_process or posix_spawn)
// or by spawner helpers. The native launcher is built by `npm ci` on Linux; CI requires it.
const native = nativeSpawnStatus();
const modes = [{ mode: 'direct' }, { mode: 'spawner helpers' }, ...(native.available ? [{ mode: 'native' }] : [])];
describe.each(modes)('process executor ($mode)', ({ mode }) => {
  let logRoot: string;
  let executor: Executor;
  let spawner: Spawner | false;
  const node = process.execPath;
  const script = (name: string, ...args: string[]): ProcessExecutor => ({
    type: 'process',
    command: node,
    args: [join(scripts, name), ...args],
    env: {},
  });

  beforeAll(async () => {
    logRoot = await mkdtemp(join(tmpdir(), 'joinflow-process-'));
    spawner = mode === 'direct' ? false : mode === 'native' ? createNativeLauncher()! : createSpawner({ size: 2 });
    // Until a helper is ready the executor spawns directly: wait, so that this suite tests helpers.
    if (spawner) expect(await spawner.ready()).toBe(true);
    executor = createProcessExecutor({ logDir: (t) => join(logRoot, t.runId), killGraceMs: 300, spawner });
  });

  it('starts children from this process, or from a spawner helper', async () => {
    const outcome = await executor.execute(task(script('parent.mjs')), never);
    const { ppid } = (outcome as { output: { ppid: number } }).output;
    if (mode === 'spawner helpers') expect((spawner as Spawner).pids()).toContain(ppid);
    else expect(ppid).toBe(process.pid);
  });
  afterAll(async () => {
    await executor.close();
    await rm(logRoot, { recursive: true, force: true });
  });

  it('passes the event on stdin, sets the environment and cwd, parses the last JSON line', async () => {
    const spec: ExecutorSpec = { ...script('json-last-line.mjs'), env: { CUSTOM: 'yes' }, cwd: tmpdir() };
    const outcome = await executor.execute(task(spec, { input: { x: 5 }, item: 4, attempt: 2 }), never);
    expect(outcome).toEqual({
      status: 'succeeded',
      output: {
        event: { input: { x: 5 }, results: { prev: 1 } },
        env: {
          JOINFLOW_WORKFLOW: 'wf',
          JOINFLOW_RUN_ID: 'run-1',
          JOINFLOW_STEP: 'step-a',
          JOINFLOW_ATTEMPT: '2',
          JOINFLOW_ITEM: '4',
          CUSTOM: 'yes',
        },
        cwd: tmpdir(),
      },
    });
  });

  it('leaves JOINFLOW_ITEM unset for a step that is not an item, even if inherited', async () => {
    process.env['JOINFLOW_ITEM'] = '99';
    try {
      const outcome = await executor.execute(task(script('json-last-line.mjs')), never);
      expect(outcome.status).toBe('succeeded');
      const output = (outcome as { output: { env: Record<string, unknown>; cwd: string } }).output;
      expect(output.env['JOINFLOW_ITEM']).toBeNull();
      expect(output.env['JOINFLOW_ATTEMPT']).toBe('1');
      expect(output.cwd).toBe(process.cwd());
    } finally {
      delete process.env['JOINFLOW_ITEM'];
    }
  });

  it('passes the environment as it is at each start: a variable set, changed, removed, set again', async () => {
    const probe: ExecutorSpec = { type: 'process', command: 'sh', args: ['-c', 'printf "%s\\n" "${JOINFLOW_TEST_PROBE-unset}"'], env: {} };
    const seen: unknown[] = [];
    try {
      for (const value of ['one', 'one', 'two', undefined, 'one']) {
        if (value === undefined) delete process.env['JOINFLOW_TEST_PROBE'];
        else process.env['JOINFLOW_TEST_PROBE'] = value;
        seen.push(((await executor.execute(task(probe), never)) as { output: unknown }).output);
      }
    } finally {
      delete process.env['JOINFLOW_TEST_PROBE'];
    }
    expect(seen).toEqual(['one', 'one', 'two', 'unset', 'one']);
  });

  it('writes stdout and stderr to <logDir>/<step>[.<item>].<attempt>.out/.err', async () => {
    await executor.execute(task(script('json-last-line.mjs'), { runId: 'logs', step: 'gen:x.1', item: 4, attempt: 2 }), never);
    const dir = join(logRoot, 'logs');
    expect((await readdir(dir)).sort()).toEqual(['gen:x.1.4.2.err', 'gen:x.1.4.2.out']);
    const out = await readFile(join(dir, 'gen:x.1.4.2.out'), 'utf8');
    expect(out.split('\n').slice(0, 2)).toEqual(['some progress text', '{"not": "the last line"}']);
    expect(await readFile(join(dir, 'gen:x.1.4.2.err'), 'utf8')).toBe('a warning on stderr\n');
  });

  it('returns the trimmed last line as a string when it is not JSON, and null without output', async () => {
    expect(await executor.execute(task(script('text.mjs')), never)).toEqual(ok('the answer is 42'));
    const silent: ExecutorSpec = { type: 'process', command: node, args: ['-e', ''], env: {} };
    expect(await executor.execute(task(silent), never)).toEqual(ok(null));
  });

  it('finds a last line longer than the read chunk after a large output', async () => {
    const outcome = await executor.execute(task(script('big-output.mjs')), never);
    expect(outcome.status).toBe('succeeded');
    const output = (outcome as { output: { big: string; n: number } }).output;
    expect(output.n).toBe(7);
    expect(output.big).toHaveLength(100_000);
  });

  it('ignores EPIPE when the child does not read a large event from stdin', async () => {
    const spec: ExecutorSpec = { type: 'process', command: node, args: ['-e', 'console.log(JSON.stringify("ok"))'], env: {} };
    const outcome = await executor.execute(task(spec, { input: { blob: 'z'.repeat(4 * 1024 * 1024) } }), never);
    expect(outcome).toEqual(ok('ok'));
  });

  it('fails a non-zero exit with the tail of stderr, retriable', async () => {
    const f = failure(await executor.execute(task(script('fail.mjs')), never));
    expect(f.type).toBe('ProcessExited');
    expect(f.retriable).toBe(true);
    expect(f.message).toMatch(/^exited with code 2: error line 11\n/);
    expect(f.message.endsWith('error line 30')).toBe(true);
    expect(f.message).not.toContain('error line 10\n');
  });

  it('fails a death by signal', async () => {
    const spec: ExecutorSpec = { type: 'process', command: node, args: ['-e', 'process.kill(process.pid, "SIGKILL")'], env: {} };
    const f = failure(await executor.execute(task(spec), never));
    expect(f).toEqual({ type: 'ProcessExited', message: 'killed by signal SIGKILL', retriable: true });
  });

  it('fails a command that cannot be spawned, not retriable', async () => {
    const spec: ExecutorSpec = { type: 'process', command: 'joinflow-no-such-command', args: [], env: {} };
    const f = failure(await executor.execute(task(spec), never));
    expect(f.type).toBe('SpawnError');
    expect(f.retriable).toBe(false);
    expect(f.message).toMatch(/^cannot run 'joinflow-no-such-command': .*ENOENT/);

    const badCwd: ExecutorSpec = { ...script('text.mjs'), cwd: join(logRoot, 'missing-dir') };
    expect(failure(await executor.execute(task(badCwd), never)).message).toContain(
      `working directory '${join(logRoot, 'missing-dir')}' does not exist`,
    );
  });

  it('rejects when the log files cannot be created, as an executor failure', async () => {
    const file = join(logRoot, 'a-file');
    await writeFile(file, '');
    const own = mode === 'native' ? createNativeLauncher()! : spawner && createSpawner({ size: 1 });
    if (own) expect(await own.ready()).toBe(true);
    const blocked = createProcessExecutor({ logDir: () => join(file, 'logs'), spawner: own });
    try {
      await expect(blocked.execute(task(script('text.mjs')), never)).rejects.toThrow(/ENOTDIR/);
    } finally {
      await blocked.close();
    }
  });

  it('runs a burst of tasks with their own outputs, some aborted at once', async () => {
    const controllers = Array.from({ length: 8 }, () => new AbortController());
    const runs = controllers.map((c, i) => {
      const spec: ExecutorSpec = { type: 'process', command: node, args: ['-e', `setTimeout(() => console.log(${i}), 50)`], env: {} };
      return executor.execute(task(spec, { runId: 'burst', step: `s${i}` }), c.signal);
    });
    for (let i = 1; i < 8; i += 2) controllers[i]!.abort();
    const outcomes = await Promise.all(runs);
    expect(outcomes).toEqual(outcomes.map((_, i) => (i % 2 === 1 ? ABORTED : ok(i))));
  });

  /** Resolves once the log file has `text` (the child got that far); a loaded machine may take a while to start it. */
  async function logged(file: string, text: string): Promise<void> {
    for (;;) {
      const now = await readFile(file, 'utf8').catch(() => '');
      if (now.includes(text)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('aborts a sleeping process on timeout and keeps working', async () => {
    const controller = new AbortController();
    const out = join(logRoot, 'abort', 'step-a.1.out');
    const done = executor.execute(task(script('forever.mjs'), { runId: 'abort' }), controller.signal);
    // Aborted once it runs (a fixed 300 ms was too short on a loaded machine for node to print).
    await logged(out, 'started\n');
    controller.abort();
    expect(await done).toEqual(ABORTED);
    expect(await readFile(out, 'utf8')).toBe('started\n');
    expect(await executor.execute(task(script('text.mjs')), never)).toEqual(ok('the answer is 42'));
  });

  it('kills a child that ignores SIGTERM after killGraceMs', async () => {
    const controller = new AbortController();
    const done = executor.execute(task(script('forever.mjs', 'stubborn'), { runId: 'stubborn' }), controller.signal);
    // Its SIGTERM handler is in place once it has printed.
    await logged(join(logRoot, 'stubborn', 'step-a.1.out'), 'started\n');
    const start = performance.now();
    controller.abort();
    expect(await done).toEqual(ABORTED);
    // Resolved only after the SIGKILL that follows the 300 ms grace period.
    expect(performance.now() - start).toBeGreaterThanOrEqual(250);
    expect(await readFile(join(logRoot, 'stubborn', 'step-a.1.out'), 'utf8')).toBe('started\nignoring SIGTERM\n');
  });
});

describe('function executor', () => {
  let executor: Executor;
  beforeAll(() => {
    executor = createFunctionExecutor({ threads: 2 });
  });
  afterAll(async () => {
    await executor.close();
  });

  it('runs a TypeScript handler and returns its result', async () => {
    expect(bare(await executor.execute(task(fn('double'), { input: { x: 21 } }), never))).toEqual(ok(42));
  });

  it('runs a JavaScript handler with the default export name', async () => {
    const spec: ExecutorSpec = { type: 'function', module: join(fixtures, 'handlers', 'plain.mjs'), export: 'handler' };
    expect(bare(await executor.execute(task(spec, { input: { name: 'ada' } }), never))).toEqual(ok({ greeting: 'hello ada', step: 'step-a' }));
  });

  it('turns an undefined result into null', async () => {
    expect(bare(await executor.execute(task(fn('nothing')), never))).toEqual(ok(null));
  });

  it('passes the event and a Lambda-like context', async () => {
    const outcome = await executor.execute(task(fn('ctx'), { item: 3, attempt: 2, timeoutMs: 10_000, input: { q: 1 } }), never);
    expect(outcome.status).toBe('succeeded');
    const out = (outcome as { output: Record<string, unknown> }).output;
    expect(out).toMatchObject({
      workflow: 'wf',
      runId: 'run-1',
      step: 'step-a',
      attempt: 2,
      item: 3,
      event: { input: { q: 1 }, results: { prev: 1 } },
    });
    expect(out['awsRequestId']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(out['remaining']).toBeGreaterThan(5_000);
    expect(out['remaining']).toBeLessThanOrEqual(10_000);
    expect(out['threadId']).not.toBe(0);

    const plain = (await executor.execute(task(fn('ctx')), never)) as { output: Record<string, unknown> };
    expect(plain.output['hasItem']).toBe(false);
    expect(plain.output['remaining']).toBe(2_147_483_647);
    expect(plain.output['awsRequestId']).not.toBe(out['awsRequestId']);
  });

  it('maps thrown errors to failures, retriable unless marked non-retriable', async () => {
    expect(failure(await executor.execute(task(fn('boom')), never))).toEqual({ type: 'Error', message: 'boom', retriable: true });
    expect(failure(await executor.execute(task(fn('fatal')), never))).toEqual({ type: 'NonRetriableStepError', message: 'bad input, do not retry', retriable: false });
    expect(failure(await executor.execute(task(fn('coded')), never))).toEqual({ type: 'QuotaError', message: 'quota exhausted', retriable: false });
    expect(failure(await executor.execute(task(fn('throwsString')), never))).toEqual({ type: 'Error', message: 'just a string', retriable: true });
    // A plain object thrown: its fields (it said "[object Object]").
    expect(failure(await executor.execute(task(fn('throwsObject')), never))).toEqual({ type: 'Error', message: '{"code":"E42","detail":"the quota of project p"}', retriable: true });
  });

  it('fails the step, and does not hang it, when what the handler throws cannot be converted to a string or read', async () => {
    expect(failure(await executor.execute(task(fn('throwsNullPrototype')), never))).toEqual({ type: 'Error', message: '{"code":"E7"}', retriable: true });
    const hostile = failure(await executor.execute(task(fn('throwsHostile')), never));
    expect(hostile).toMatchObject({ type: 'Error', retriable: true });
    expect(hostile.message).toContain('cannot be converted to a string');
  });

  it('fails clearly, not retriable, when the module or export is missing', async () => {
    const missing = join(fixtures, 'handlers', 'nope.ts');
    const m = failure(await executor.execute(task(fn('handler', missing)), never));
    expect(m).toEqual({
      type: 'HandlerNotFound',
      message: `handler module '${missing}' (export 'handler') does not exist`,
      retriable: false,
    });
    const e = failure(await executor.execute(task(fn('nope')), never));
    expect(e.type).toBe('HandlerNotFound');
    expect(e.retriable).toBe(false);
    expect(e.message.startsWith(`handler module '${handlers}' has no function export 'nope'; function exports: `)).toBe(true);
    expect(e.message).toContain('double');
    const n = failure(await executor.execute(task(fn('notAFunction')), never));
    expect(n.message).toContain(`has no function export 'notAFunction' (it is number)`);
  });

  it('says that a module which exists but imports a missing package cannot load, naming the package', async () => {
    // It was "handler module '.../h.mjs' does not exist": Node's message names the importing file too.
    const dir = await mkdtemp(join(tmpdir(), 'joinflow-missing-dep-'));
    try {
      const file = join(dir, 'h.mjs');
      await writeFile(file, "import 'joinflow-no-such-package';\nexport const handler = async () => 1;\n");
      const f = failure(await executor.execute(task(fn('handler', file)), never));
      expect(f.type).toBe('HandlerLoadError');
      expect(f.retriable).toBe(false);
      expect(f.message).toContain(`cannot load handler module '${file}' (export 'handler'): Cannot find package 'joinflow-no-such-package'`);
      expect(f.message).not.toContain('does not exist');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('replaces, on refresh, a worker stuck importing a module at start, so that the fixed module runs the waiting task', async () => {
    // joinflow dev: a handler saved with an endless loop at its top level left a new worker
    // importing it for ever, before it ever took a task. It counted as warming up, so no other
    // worker started: after the fix, every function step of every run waited, until dev restarted.
    const dir = await mkdtemp(join(tmpdir(), 'joinflow-stuck-import-'));
    const pool = createFunctionExecutor({ threads: 2, warming: 1 });
    try {
      const file = join(dir, 'h.mjs');
      const marker = join(dir, 'importing');
      await writeFile(file, 'export const handler = async () => 1;\n');
      expect(bare(await pool.execute(task(fn('handler', file)), never))).toEqual(ok(1));
      pool.refresh!();
      await writeFile(file, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, '');\nwhile (true) {}\nexport const handler = async () => 1;\n`);
      const waiting = pool.execute(task(fn('handler', file)), never);
      // A new worker imports the module before it is ready (the pool's modules are preloaded).
      while (!(await readdir(dir)).includes('importing')) await new Promise((r) => setTimeout(r, 20));
      await writeFile(file, 'export const handler = async () => 2;\n');
      pool.refresh!();
      expect(bare(await waiting)).toEqual(ok(2));
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails a result that JSON cannot write, not retriable', async () => {
    const f = failure(await executor.execute(task(fn('unserializable')), never));
    expect(f.type).toBe('OutputNotSerializable');
    expect(f.retriable).toBe(false);
    expect(f.message).toBe('handler output cannot be written as JSON: a function (at "fn") cannot be written as JSON');
    // Outputs travel as JSON: what JSON cannot write fails the step (the engine crashed on it later).
    for (const name of ['withBigInt', 'circular']) {
      const j = failure(await executor.execute(task(fn(name)), never));
      expect(j).toMatchObject({ type: 'OutputNotSerializable', retriable: false });
      expect(j.message).toMatch(/^handler output cannot be written as JSON: .*(BigInt|circular)/s);
    }
    // A Map would silently become {}.
    expect(failure(await executor.execute(task(fn('withMap')), never)).message).toBe(
      'handler output cannot be written as JSON: a Map (at "counts") would be written as {}: return Object.fromEntries(map) instead',
    );
  });

  it('passes on the output as JSON keeps it: a Date as its string, no undefined fields, NaN as null', async () => {
    const out = await executor.execute(task(fn('notPlainJson')), never);
    expect(bare(out)).toEqual({ status: 'succeeded', output: { at: '2026-01-02T00:00:00.000Z', list: [null, 1], nested: { kept: true } } });
    // Exactly that: no key whose value is undefined is left behind.
    expect(Object.keys((out as { output: object }).output)).toEqual(['at', 'list', 'nested']);
  });

  it('cuts an error message over 32 KiB, saying how much', async () => {
    const f = failure(await executor.execute(task(fn('hugeError')), never));
    expect(f.message).toBe(`${'x'.repeat(32 * 1024)}... (${100_000 - 32 * 1024} more characters cut)`);
  });

  it('refresh(): the workers go (idle ones at once, a busy one after its job), and their modules are imported afresh', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const calls = async () => ((await single.execute(task(fn('counter')), never)) as { output: { calls: number } }).output.calls;
      expect([await calls(), await calls()]).toEqual([1, 2]);
      expect(single.refresh!()).toBe(1);
      expect(await calls()).toBe(1);
      // Busy: its job ends as it would have; the next one is a fresh worker's.
      const busy = single.execute(task(fn('slow'), { input: { ms: 200 } }), never);
      await new Promise((r) => setTimeout(r, 50));
      expect(single.refresh!()).toBe(1);
      expect((await busy).status).toBe('succeeded');
      expect(await calls()).toBe(1);
      expect(single.refresh!()).toBe(1);
      expect(single.refresh!()).toBe(0);
    } finally {
      await single.close();
    }
  });

  it('a rejection a handler leaves unhandled does not fail the next step the worker runs', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      // The next task is handed over at once, as the engine does when the next step is ready.
      const [first, next] = await Promise.all([single.execute(task(fn('leavesRejection')), never), single.execute(task(fn('counter')), never)]);
      expect(bare(first)).toEqual({ status: 'succeeded', output: 1 });
      expect(next).toMatchObject({ status: 'succeeded' });
    } finally {
      await single.close();
    }
  });

  it("tells a callback a finished handler left behind that throws as that step's, and lets the step running on its worker end unaffected", async () => {
    const notes: string[] = [];
    const single = createFunctionExecutor({ threads: 1, warn: (line) => notes.push(line) });
    const dir = await mkdtemp(join(tmpdir(), 'jf-leftover-'));
    const file = (name: string) => join(dir, name);
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    try {
      const left = await single.execute(task(fn('leavesThrow'), { step: 'a', runId: 'r-1', input: { release: file('throw'), message: 'late from a' } }), never);
      expect(bare(left)).toEqual(ok('left'));
      let settled = false;
      const innocent = single.execute(task(fn('waitsForFile'), { step: 'b', runId: 'r-1', input: { started: file('b-started'), release: file('b-release') } }), never);
      void innocent.then(() => (settled = true));
      await until(() => existsSync(file('b-started')));
      // The leftover of step a throws while step b runs on the same worker thread.
      writeFileSync(file('throw'), '');
      await until(() => notes.length > 0 || settled);
      writeFileSync(file('b-release'), '');
      const b = await innocent;
      expect(b).toMatchObject({ status: 'succeeded' });
      expect(notes).toHaveLength(1);
      expect(notes[0]).toContain('the handler of step "a" (attempt 1, run r-1) left behind threw after that step had ended');
      expect(notes[0]).toContain('Error: late from a');
      expect(notes[0]).toContain("once step 'b', which runs on it unaffected, ends");
      // That worker went once b was done: the next task runs on another thread.
      const next = (await single.execute(task(fn('ctx')), never)) as { output: { threadId: number } };
      expect(next.output.threadId).not.toBe((b as { output: number }).output);
      // Thrown while its worker is idle: said, and that worker is replaced too.
      const again = await single.execute(task(fn('leavesThrow'), { step: 'c', input: { release: file('throw-2'), message: 'late from c' } }), never);
      expect(bare(again)).toEqual(ok('left'));
      writeFileSync(file('throw-2'), '');
      await until(() => notes.length > 1);
      expect(notes[1]).toContain('step "c"');
      expect(notes[1]).not.toContain('once step');
      expect(bare(await single.execute(task(fn('double'), { input: { x: 2 } }), never))).toEqual(ok(4));
    } finally {
      await single.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("sends handlers' stdout to `output` when given, from many workers without piling listeners on it", async () => {
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString()));
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const pool = createFunctionExecutor({ threads: 12, warming: 12, output });
    try {
      const module = join(tmpdir(), `jf-loud-${process.pid}.mjs`);
      writeFileSync(module, 'export const handler = async (e) => { console.log(`item ${e.index}`); return e.index; };\n');
      const spec: ExecutorSpec = { type: 'function', module, export: 'handler' };
      const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => pool.execute({ ...task(spec), item: i, event: { input: null, results: {}, item: i, index: i } }, new AbortController().signal)));
      expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true);
      expect(text.trim().split('\n').sort()).toEqual(Array.from({ length: 12 }, (_, i) => `item ${i}`).sort());
      expect(output.listenerCount('error')).toBeLessThanOrEqual(1);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await pool.close();
    }
  });

  it("has all of a handler's output in `output` by the time its outcome comes, even when its worker is ended next", async () => {
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString()));
    const single = createFunctionExecutor({ threads: 1, output });
    try {
      const outcome = await single.execute(task(fn('loud'), { input: { lines: 5000 } }), never);
      expect(bare(outcome)).toEqual(ok(10_000));
      const lines = text.trim().split('\n');
      expect(lines.length).toBe(10_000);
      expect(lines.at(-1)).toBe('write 4999');
    } finally {
      await single.close();
    }
  });

  it('imports a module once per worker', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const a = (await single.execute(task(fn('counter')), never)) as { output: { calls: number; threadId: number } };
      const b = (await single.execute(task(fn('counter')), never)) as { output: { calls: number; threadId: number } };
      expect(a.output.calls).toBe(1);
      expect(b.output).toEqual({ calls: 2, threadId: a.output.threadId });
    } finally {
      await single.close();
    }
  });

  it('warming one worker at a time, tasks that came together run on the first one ready', async () => {
    const pool = createFunctionExecutor({ threads: 2, warming: 1 });
    try {
      const [a, b] = await Promise.all([pool.execute(task(fn('counter')), never), pool.execute(task(fn('counter')), never)]);
      const outputs = [a, b].map((o) => (o as { output: { calls: number; threadId: number } }).output);
      // The second did not wait for a second worker to start and load the module: the first ran both.
      expect(outputs.map((o) => o.calls).sort()).toEqual([1, 2]);
      expect(outputs[0]!.threadId).toBe(outputs[1]!.threadId);
      // Both waited for the pool to warm up: that wait is their init.
      expect(a).toMatchObject({ status: 'succeeded', initMs: expect.any(Number) });
      expect(b).toMatchObject({ status: 'succeeded', initMs: expect.any(Number) });
    } finally {
      await pool.close();
    }
  });

  it('starts the next worker once the first one runs a handler, so a long first task does not hold the others back', async () => {
    const pool = createFunctionExecutor({ threads: 2, warming: 1 });
    try {
      const long = pool.execute(task(fn('slow'), { input: { ms: 2_000 } }), never);
      const short = pool.execute(task(fn('counter')), never);
      // The short task ends while the long one still sleeps: it ran on a second worker.
      const first = await Promise.race([long.then(() => 'long'), short.then(() => 'short')]);
      expect(first).toBe('short');
      expect(await long).toMatchObject({ status: 'succeeded', output: 'slept' });
    } finally {
      await pool.close();
    }
  });

  /** Runs `body` on a pool of 2 (warming 1) whose first worker is busy with a long task. */
  async function withFirstWorkerBusy(body: (pool: Executor) => Promise<void>): Promise<void> {
    const pool = createFunctionExecutor({ threads: 2, warming: 1 });
    const long = new AbortController();
    try {
      const running = pool.execute(task(fn('slow'), { input: { ms: 60_000 } }), long.signal);
      await body(pool);
      long.abort();
      expect(await running).toEqual({ status: 'aborted' });
    } finally {
      await pool.close();
    }
  }

  it('retires a worker stuck importing a module past the warm-up limit, so that the tasks of other modules still run', async () => {
    const pool = createFunctionExecutor({ threads: 2, warming: 1, warmUpLimitMs: 200 });
    const stuck = join(tmpdir(), `jf-stuck-import-${process.pid}.mjs`);
    writeFileSync(stuck, 'await new Promise(() => {});\nexport const handler = () => 1;\n');
    try {
      const hung = new AbortController();
      // The first worker preloads the stuck module, and the next one imports it for its task.
      const first = pool.execute(task({ type: 'function', module: stuck, export: 'handler' }), hung.signal);
      expect(bare(await pool.execute(task(fn('double'), { input: { x: 3 } }), never))).toEqual(ok(6));
      hung.abort();
      expect(await first).toEqual(ABORTED);
      expect(bare(await pool.execute(task(fn('double'), { input: { x: 4 } }), never))).toEqual(ok(8));
    } finally {
      await pool.close();
      await rm(stuck, { force: true });
    }
  });

  it('waits for a worker that starts slowly with no module to import, instead of retiring one after another', async () => {
    // Every thread takes longer than 1 ms to start: the first, preloading the task's module, is
    // retired as stuck; the next imports nothing before it is ready and is only slow. Retired
    // too, each next one was, for ever (a busy machine, in the test above, at its 200 ms).
    const pool = createFunctionExecutor({ threads: 1, warmUpLimitMs: 1 });
    try {
      expect(bare(await pool.execute(task(fn('double'), { input: { x: 3 } }), never))).toEqual(ok(6));
    } finally {
      await pool.close();
    }
  }, 15_000);

  it('has a worker started later import the modules already asked for before it takes a task', () =>
    withFirstWorkerBusy(async (pool) => {
      // The second worker starts while the first runs the long task, knowing both modules.
      const other = await pool.execute(task({ type: 'function', module: join(fixtures, 'handlers', 'plain.mjs'), export: 'handler' }, { input: { name: 'x' } }), never);
      expect(other.status).toBe('succeeded');
      // The second worker, idle now, runs the long task's module for the first time: imported
      // already, so this task has no init.
      expect(await pool.execute(task(fn('double'), { input: { x: 4 } }), never)).toEqual(ok(8));
    }));

  it('does not preload again a module that may have killed a starting worker', () =>
    withFirstWorkerBusy(async (pool) => {
      const exits: ExecutorSpec = { type: 'function', module: join(fixtures, 'handlers', 'exits-on-import.mjs'), export: 'handler' };
      // Its worker dies importing it (preloading it, or for the task): the task fails as a crash.
      expect(await pool.execute(task(exits), never)).toMatchObject({ status: 'failed', error: { type: 'WorkerCrashed' }, retriable: true });
      // The next worker does not import it first: the task of another module runs.
      expect(await pool.execute(task(fn('double'), { input: { x: 5 } }), never)).toMatchObject({ status: 'succeeded', output: 10 });
    }));

  it('warms several workers at once when allowed, and each task goes to the first one ready', async () => {
    const pool = createFunctionExecutor({ threads: 3, warming: 3 });
    try {
      const outcomes = await Promise.all([1, 2, 3].map(() => pool.execute(task(fn('counter')), never)));
      expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('reports the init of a task that waited for its worker to start or its module to load, and only then', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const cold = await single.execute(task(fn('double'), { input: { x: 1 } }), never);
      const warm = await single.execute(task(fn('double'), { input: { x: 2 } }), never);
      // Another module in the same worker: loaded for this task.
      const other = await single.execute(task({ type: 'function', module: join(fixtures, 'handlers', 'plain.mjs'), export: 'handler' }, { input: { name: 'x' } }), never);
      const another = createFunctionExecutor({ threads: 1 });
      const failedCold = await another.execute(task(fn('boom')), never).finally(() => another.close());
      expect(cold).toMatchObject({ status: 'succeeded', output: 2, initMs: expect.any(Number) });
      // A worker takes tens of milliseconds to start at the least; the handler itself well under one.
      expect((cold as { initMs: number }).initMs).toBeGreaterThanOrEqual(5);
      expect(warm).toEqual(ok(4));
      expect(other).toMatchObject({ status: 'succeeded', initMs: expect.any(Number) });
      expect(failedCold).toMatchObject({ status: 'failed', initMs: expect.any(Number) });
    } finally {
      await single.close();
    }
  });

  it('queues tasks beyond the thread limit and runs them on at most that many workers', async () => {
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => executor.execute(task(fn('ctx')), never)));
    const threadIds = new Set(outcomes.map((o) => (o as { output: { threadId: number } }).output.threadId));
    expect(outcomes.every((o) => o.status === 'succeeded')).toBe(true);
    expect(threadIds.size).toBeLessThanOrEqual(2);
    expect(threadIds.size).toBeGreaterThanOrEqual(1);
  });

  it('does not block the main thread while a handler burns CPU', async () => {
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    try {
      const outcome = await executor.execute(task(fn('spin'), { input: { ms: 300 } }), never);
      expect(outcome.status).toBe('succeeded');
      expect((outcome as { output: number }).output).toBeGreaterThanOrEqual(300);
    } finally {
      clearInterval(interval);
    }
    // Blocked, the interval would tick at most once; free, about 30 times.
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('aborts a busy-looping handler on timeout by terminating its worker, then keeps working', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const before = (await single.execute(task(fn('ctx')), never)) as { output: { threadId: number } };
      // An hour of spinning: only terminating the worker ends it within the test's timeout.
      expect(await single.execute(task(fn('spin'), { input: { ms: 3_600_000 } }), AbortSignal.timeout(200))).toEqual(ABORTED);
      const after = (await single.execute(task(fn('ctx')), never)) as { output: { threadId: number } };
      expect(after.output.threadId).not.toBe(before.output.threadId);
      expect(bare(await single.execute(task(fn('double'), { input: { x: 4 } }), never))).toEqual(ok(8));
    } finally {
      await single.close();
    }
  });

  it.runIf(process.platform === 'linux')('ends an aborted attempt whose thread waits for a synchronous child (execFileSync) by stopping that child, which lets the thread stop', async () => {
    const single = createFunctionExecutor({ threads: 1, terminateGraceMs: 100, warn: () => {} });
    const dir = await mkdtemp(join(tmpdir(), 'jf-native-'));
    const started = join(dir, 'started');
    let pid: number | undefined;
    try {
      const stop = new AbortController();
      const blocked = single.execute(task(fn('blockNative'), { input: { started, release: join(dir, 'release') } }), stop.signal);
      while (!existsSync(started) || readFileSync(started, 'utf8').trim() === '') await new Promise((resolve) => setTimeout(resolve, 10));
      pid = Number(readFileSync(started, 'utf8'));
      stop.abort();
      expect(await blocked).toEqual(ABORTED);
      // The child is gone (nothing wrote the release file), and so is the thread that waited for it.
      expect(await stillRunning([pid])).toEqual([]);
      expect(stuckThreads()).toEqual([]);
      expect(bare(await single.execute(task(fn('double'), { input: { x: 6 } }), never))).toEqual(ok(12));
    } finally {
      if (pid !== undefined && running(pid)) process.kill(pid, 'SIGKILL');
      await single.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.runIf(process.platform !== 'win32')('ends an aborted attempt whose thread is blocked in a native call that terminate() cannot stop, and runs the next task on another worker', async () => {
    const single = createFunctionExecutor({ threads: 1, terminateGraceMs: 100 });
    const dir = await mkdtemp(join(tmpdir(), 'jf-native-'));
    const started = join(dir, 'started');
    const fifo = join(dir, 'fifo');
    await promisify(execFile)('mkfifo', [fifo]);
    try {
      const stop = new AbortController();
      const blocked = single.execute(task(fn('blockRead'), { step: 'reads', input: { started, fifo } }), stop.signal);
      while (!existsSync(started)) await new Promise((resolve) => setTimeout(resolve, 10));
      stop.abort();
      // The thread is still blocked (nothing opened the FIFO to write), and the attempt has ended.
      expect(await blocked).toEqual(ABORTED);
      expect(stuckThreads()).toEqual([expect.stringContaining("#blockRead of step 'reads' (attempt 1, run run-1)")]);
      expect(bare(await single.execute(task(fn('double'), { input: { x: 6 } }), never))).toEqual(ok(12));
    } finally {
      // A writer that opens and closes: the read ends (empty), and so does the thread.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader (any more).
      }
      await single.close();
      for (let i = 0; i < 200 && stuckThreads().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stuckThreads()).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('aborts a sleeping handler, and a queued task without running it', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const first = new AbortController();
      const second = new AbortController();
      const running = single.execute(task(fn('slow')), first.signal);
      const queued = single.execute(task(fn('double'), { input: { x: 1 } }), second.signal);
      second.abort();
      expect(await queued).toEqual(ABORTED);
      first.abort();
      expect(await running).toEqual(ABORTED);
      expect(bare(await single.execute(task(fn('slow'), { input: { ms: 10 } }), never))).toEqual(ok('slept'));
    } finally {
      await single.close();
    }
  });

  it.runIf(process.platform === 'linux')('stops the processes a handler started and left running when the executor closes, a detached child\'s own children included', async () => {
    const notes: string[] = [];
    const single = createFunctionExecutor({ threads: 1, warn: (line) => notes.push(line) });
    let pids: number[] = [];
    try {
      const outcome = await single.execute(task(fn('leavesChildren'), { step: 'a', runId: 'r-2' }), never);
      expect(outcome.status).toBe('succeeded');
      pids = (outcome as { output: number[] }).output;
      expect(pids.filter(running)).toEqual(pids);
      await single.close();
      expect(await stillRunning(pids)).toEqual([]);
      // Said once, with the three (not the command run to its end before).
      expect(notes).toHaveLength(1);
      expect(notes[0]).toContain('stopping 3 processes that function handlers started and left running');
      expect(notes[0]).toContain(`pids ${pids[0]}, ${pids[1]} (started by the handler of step "a" (attempt 1, run r-2)); pid ${pids[2]}`);
    } finally {
      for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
      await single.close();
    }
  });

  it.runIf(process.platform === 'linux')('stops the processes a handler started when its attempt is aborted, and keeps working', async () => {
    const single = createFunctionExecutor({ threads: 1, warn: () => {} });
    const dir = await mkdtemp(join(tmpdir(), 'jf-children-'));
    const file = join(dir, 'pids.json');
    let pids: number[] = [];
    try {
      const stop = new AbortController();
      const hanging = single.execute(task(fn('leavesChildren'), { input: { pids: file } }), stop.signal);
      while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 10));
      pids = JSON.parse(await readFile(file, 'utf8')) as number[];
      stop.abort();
      expect(await hanging).toEqual(ABORTED);
      expect(await stillRunning(pids)).toEqual([]);
      expect(bare(await single.execute(task(fn('double'), { input: { x: 3 } }), never))).toEqual(ok(6));
    } finally {
      for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
      await single.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.runIf(process.platform === 'linux')('reaps the children a handler left, stopped after their worker thread ended: no zombies are left, on abort or on close', async () => {
    const pool = createFunctionExecutor({ threads: 1, terminateGraceMs: 100, warn: () => {} });
    const dir = await mkdtemp(join(tmpdir(), 'jf-zombies-'));
    let pids: number[] = [];
    try {
      // Aborted: the thread is terminated while its children are still being stopped.
      const file = join(dir, 'pids.json');
      const stop = new AbortController();
      const hanging = pool.execute(task(fn('leavesChildren'), { input: { pids: file } }), stop.signal);
      while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 10));
      pids = JSON.parse(await readFile(file, 'utf8')) as number[];
      stop.abort();
      expect(await hanging).toEqual(ABORTED);
      expect(await stillRunning(pids)).toEqual([]);
      // The sleep and the detached shell are this process's children; the shell's own child is not.
      expect(await zombiesAmong(pids)).toEqual([]);
      // Left by a handler that returned: stopped when the executor closes, after the thread is told to end.
      const left = await pool.execute(task(fn('leavesChildren')), never);
      const more = (left as { output: number[] }).output;
      pids.push(...more);
      await pool.close();
      expect(await stillRunning(more)).toEqual([]);
      expect(await zombiesAmong(more)).toEqual([]);
    } finally {
      for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails the task of a worker that exits or throws uncaught, and replaces the worker', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    try {
      const exit = failure(await single.execute(task(fn('exitHard')), never));
      expect(exit.type).toBe('WorkerCrashed');
      expect(exit.retriable).toBe(true);
      expect(exit.message).toContain('exited with code 3');
      expect(exit.message).toContain(`#exitHard for step 'step-a'`);
      const uncaught = failure(await single.execute(task(fn('crashLater')), never));
      expect(uncaught).toMatchObject({ type: 'WorkerCrashed', retriable: true });
      expect(uncaught.message).toContain('Error: thrown from a timer');
      expect(bare(await single.execute(task(fn('double'), { input: { x: 5 } }), never))).toEqual(ok(10));
    } finally {
      await single.close();
    }
  });

  it("caps a worker's heap at its task's memoryMb, on workers kept apart by their cap; the others keep V8's own limit", async () => {
    const pool = createFunctionExecutor({ threads: 1 });
    type Limit = { output: { limitMb: number; threadId: number } };
    try {
      const free = ((await pool.execute(task(fn('heapLimit')), never)) as Limit).output;
      const capped = ((await pool.execute(task(fn('heapLimit'), { memoryMb: 256 }), never)) as Limit).output;
      const again = ((await pool.execute(task(fn('heapLimit'), { memoryMb: 256 }), never)) as Limit).output;
      const freeAgain = ((await pool.execute(task(fn('heapLimit')), never)) as Limit).output;
      // V8's limit counts the young generation too: a little more than the old generation's cap.
      expect(capped.limitMb).toBeGreaterThanOrEqual(256);
      expect(capped.limitMb).toBeLessThan(free.limitMb);
      expect(free.limitMb).toBeGreaterThan(300);
      // One thread: the idle uncapped worker made room for a capped one, which was kept for the next capped task.
      expect(capped.threadId).not.toBe(free.threadId);
      expect(again.threadId).toBe(capped.threadId);
      expect(freeAgain.threadId).not.toBe(capped.threadId);
      expect(freeAgain.limitMb).toBe(free.limitMb);
    } finally {
      await pool.close();
    }
  });

  it('runs tasks of different caps in the order they came: a full pool makes room for the cap of the task that waited longest', async () => {
    const pool = createFunctionExecutor({ threads: 1 });
    const order: string[] = [];
    const run = (name: string, memoryMb?: number) => pool.execute(task(fn('slow'), { input: { ms: 20 }, ...(memoryMb === undefined ? {} : { memoryMb }) }), never).then((o) => {
      order.push(name);
      return o.status;
    });
    try {
      const all = [run('first'), run('capped', 256), run('second'), run('capped again', 256)];
      expect(await Promise.all(all)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      expect(order).toEqual(['first', 'capped', 'second', 'capped again']);
    } finally {
      await pool.close();
    }
  });

  it('fails a task whose handler exceeds its memoryMb, naming the step, the attempt and the limit, and replaces its worker', async () => {
    const pool = createFunctionExecutor({ threads: 2 });
    try {
      const [hoarder, other] = await Promise.all([
        pool.execute(task(fn('hoards'), { step: 'greedy', attempt: 2, memoryMb: 128 }), never),
        pool.execute(task(fn('slow'), { input: { ms: 50 } }), never),
      ]);
      const error = failure(hoarder);
      expect(error).toMatchObject({ type: 'OutOfMemory', retriable: true });
      expect(error.message).toContain("step 'greedy' (attempt 2, run run-1)");
      expect(error.message).toContain('128 MB');
      expect(error.message).toContain('resources.memoryMb');
      // The task beside it was not disturbed, and the pool goes on, capped or not.
      expect(bare(other)).toEqual(ok('slept'));
      expect(bare(await pool.execute(task(fn('double'), { input: { x: 2 }, memoryMb: 128 }), never))).toEqual(ok(4));
      expect(bare(await pool.execute(task(fn('double'), { input: { x: 3 } }), never))).toEqual(ok(6));
    } finally {
      await pool.close();
    }
  });

  it('fails running and queued tasks on close', async () => {
    const single = createFunctionExecutor({ threads: 1 });
    const running = single.execute(task(fn('slow')), never);
    const queued = single.execute(task(fn('double')), never);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await single.close();
    expect(failure(await running).type).toBe('ExecutorClosed');
    expect(failure(await queued).type).toBe('ExecutorClosed');
    expect(failure(await single.execute(task(fn('double')), never)).type).toBe('ExecutorClosed');
  });

  it('keeps only worker-safe node options', () => {
    const argv = ['--conditions', 'development', '--import', 'tsx', '--inspect', '--enable-source-maps', '-C=x', '--max-old-space-size=100', '--conditions=a'];
    expect(inheritedExecArgv(argv, false)).toEqual(['--conditions', 'development', '--enable-source-maps', '--conditions=a']);
    // A worker of the sources resolves `joinflow` to them (package.json's exports), once.
    expect(inheritedExecArgv(argv, true)).toEqual(['--conditions', 'development', '--enable-source-maps', '--conditions=a', '--conditions=joinflow-source']);
    expect(inheritedExecArgv(['--conditions', 'joinflow-source'], true)).toEqual(['--conditions', 'joinflow-source']);
    // Here, under vitest, this module is the sources.
    expect(inheritedExecArgv([])).toEqual(['--conditions=joinflow-source']);
  });

  it('loads .ts handlers when the main process runs under `node --import tsx`', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(scripts, 'run-function-executor.ts')], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { outcome: StepOutcome; execArgv: string[] };
    expect(result.execArgv).toEqual(['--import', 'tsx']);
    expect(bare(result.outcome)).toEqual(ok(42));
  });
});
