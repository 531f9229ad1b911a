/** createEngine used wrongly: each mistake is a UsageError naming it, at the call that made it. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine, type EngineOptions } from '../../src/adapters/local/engine.ts';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { MAX_WARNED_SOURCES, runsRequested } from '../../src/adapters/local/outside-run-requests.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import { plan } from '../helpers/plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-misuse-');
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const ECHO = plan({ name: 'echo', steps: { a: { executor: { type: 'function', module: 'x.mjs', export: 'h' } } } });
const QUICK = plan({ name: 'quick', steps: { a: { executor: { type: 'simulate', durationMs: 0, output: 1 } } } });
const SLOW = plan({ name: 'slow', steps: { a: { executor: { type: 'simulate', durationMs: 60_000 } } } });

describe('createEngine options', () => {
  it.each([
    [{ concurrency: 4 }, 'concurrency: limits per executor kind, such as { function: 4, process: 2 } (got 4;'],
    [{ groupCommitMs: Infinity }, 'groupCommitMs: a number of ms, 0 or more (0 commits every batch), got null'],
    [{ groupCommitMs: -1 }, 'groupCommitMs: a number of ms, 0 or more (0 commits every batch), got -1'],
    [{ handlerOutput: 'stderr' }, 'handlerOutput: a writable stream (such as process.stderr), got "stderr"'],
    [{ store: {} }, 'store: a TriggerStore (createMemoryStore(), or openDurableState({ dir }).store)'],
    // Misspellings: each would otherwise be ignored, and the engine run with the default.
    [{ concurency: 4 }, 'unknown option "concurency" (did you mean "concurrency"?); createEngine takes store, concurrency,'],
    [{ concurrency: { functon: 2 } }, 'concurrency.functon: not an executor kind (did you mean "function"?); the kinds are function, process, simulate, batch, container'],
    [{ concurrency: { lambda: 2 } }, 'concurrency.lambda: not an executor kind; the kinds are function, process, simulate, batch, container'],
    // Each of these was taken, and failed later: a crash at the first large output, NaN limits, a TypeError from path.
    [{ blobs: {} }, 'blobs: a BlobStore with put(key, body) and get(ref) (openDurableState({ dir }).blobs)'],
    [{ maxPayloadBytes: '1mb' }, 'maxPayloadBytes: a whole number of bytes, 0 or more (default 1,048,576), got "1mb"'],
    [{ maxPayloadBytes: -1 }, 'maxPayloadBytes: a whole number of bytes, 0 or more (default 1,048,576), got -1'],
    [{ timeScale: '1' }, 'timeScale: a number, 0 or more (0 runs simulated steps at once), got "1"'],
    [{ stateDir: 5 }, 'stateDir: a directory\'s path, got 5'],
    [{ root: '' }, 'root: a directory\'s path, got ""'],
    [{ log: {} }, 'log: a durable log (openDurableState({ dir }).log)'],
  ])('refuses %j', (options, message) => {
    expect(() => createEngine(options as unknown as EngineOptions)).toThrow(message);
  });

  // The log writes a run's facts into its store's database: beside the default memory store it
  // found no run ("journal store: no run ..." on stderr) and run() never settled.
  it('refuses a durable log without the store of its state', () => {
    const state = openJournalState({ dir: tmp() });
    closers.push(() => state.close());
    expect(() => createEngine({ log: state.log })).toThrow('log: a durable log needs the store of the same state: const state = openDurableState({ dir }); createEngine({ store: state.store, log: state.log, blobs: state.blobs })');
  });

  it('takes null as no options', async () => {
    const engine = createEngine(null as unknown as EngineOptions);
    closers.push(() => engine.close());
    engine.register(QUICK);
    expect((await engine.run('quick', null)).status).toBe('succeeded');
  });

  it('run() of a workflow not registered names the nearest registered one', async () => {
    const engine = createEngine();
    closers.push(() => engine.close());
    engine.register(QUICK);
    await expect(engine.run('quik', null)).rejects.toThrow('unknown workflow "quik" (did you mean "quick"?): register its plan first');
    await expect(engine.start('other', null)).rejects.toThrow(/^unknown workflow "other": register its plan first$/);
  });

  it('register() refuses what is not a compiled plan, saying how to get one', () => {
    const engine = createEngine();
    closers.push(() => engine.close());
    for (const bad of [{}, null, { name: 'w', steps: {} }]) {
      expect(() => engine.register(bad as unknown as TriggerPlan)).toThrow('register() takes a compiled plan: compileFile(file), or compileWorkflow(definition)');
    }
    expect(ECHO.workflow).toBe('echo');
  });
});

describe('a closed engine', () => {
  it('refuses new runs at once, and rejects the waits of runs it stopped', async () => {
    const engine = createEngine();
    engine.register(QUICK);
    engine.register(SLOW);
    const going = engine.run('slow', null);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await engine.close();
    await expect(going).rejects.toMatchObject({ code: 'ENGINE_CLOSED', message: 'the engine was closed before the run ended' });
    await expect(engine.run('quick', null)).rejects.toThrow('the engine is closed: create another to start runs');
    await expect(engine.start('quick', null)).rejects.toThrow('the engine is closed');
  });

  it('a durable one says that recover() continues the run it stopped', async () => {
    const s = openJournalState({ dir: tmp() });
    closers.push(() => s.close());
    const engine = createEngine({ store: s.store, log: s.log });
    engine.register(SLOW);
    const going = engine.run('slow', null, { runId: 's-1' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await engine.close();
    await expect(going).rejects.toThrow('the engine was closed before the run ended: recover() (joinflow resume) continues it');
  });
});

describe("a run's input", () => {
  it('is refused when JSON cannot write it, and the engine goes on with other runs (durable too)', async () => {
    const s = openJournalState({ dir: tmp() });
    closers.push(() => s.close());
    for (const engine of [createEngine(), createEngine({ store: s.store, log: s.log })]) {
      closers.push(() => engine.close());
      engine.register(QUICK);
      await expect(engine.run('quick', { n: 10n })).rejects.toThrow("the run's input cannot be written as JSON: Do not know how to serialize a BigInt");
      expect((await engine.run('quick', { ok: true })).status).toBe('succeeded');
    }
  });

  it('reaches the steps as JSON keeps it, in memory as on the durable store', async () => {
    const at = new Date('2026-11-23T10:00:00.000Z');
    const s = openJournalState({ dir: tmp() });
    closers.push(() => s.close());
    const echo = plan({ name: 'input', steps: { a: { executor: { type: 'simulate', durationMs: 0 } } } });
    for (const engine of [createEngine(), createEngine({ store: s.store, log: s.log })]) {
      closers.push(() => engine.close());
      engine.register(echo);
      const runId = await engine.start('input', { at, gone: undefined });
      expect((await engine.store.getRun(runId))?.input).toEqual({ at: '2026-11-23T10:00:00.000Z' });
    }
  });
});

describe('a Run Requested from outside over the size limit', () => {
  it('is dead-lettered and starts no run that could be waited for forever (a subscription run left `joinflow run` exiting 13)', async () => {
    const dead: string[] = [];
    const engine = createEngine({ maxPayloadBytes: 1_000, onDeadLetter: (_e, reason) => dead.push(reason) });
    closers.push(() => engine.close());
    engine.register(QUICK);
    const request = { id: 'big-1', source: 'joinflow', 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow: 'quick', runId: 'big-run', input: 'x'.repeat(2_000) } };
    await engine.publish([request]);
    await engine.bus.idle();
    expect(dead).toEqual([expect.stringMatching(/^event of \d+ bytes exceeds the size limit of 1000 bytes$/)]);
    let guard: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      engine.wait('big-run').then(() => 'ended', (e: Error) => e.message),
      new Promise((resolve) => (guard = setTimeout(() => resolve('still waiting after 5 s'), 5_000))),
    ]);
    clearTimeout(guard);
    expect(waited).toBe('unknown run "big-run"');
  });
});

describe('a Run Requested from outside of a source other than joinflow', () => {
  it('starts no run, and says so on stderr once per source, naming the source and detail-type that start runs', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const engine = createEngine();
    closers.push(() => engine.close());
    engine.register(QUICK);
    const request = (id: string, source: string) => ({ id, source, 'detail-type': 'Run Requested', time: new Date().toISOString(), detail: { workflow: 'quick', runId: id, input: null } });
    try {
      await engine.publish([request('mine-1', 'myapp.orders'), request('mine-2', 'myapp.orders')]);
      await engine.publish([request('mine-3', 'myapp.orders'), request('other-1', 'other\u001b[31m'), request('ours-1', 'joinflow')]);
      await engine.bus.idle();
      expect((await engine.wait('ours-1')).status).toBe('succeeded');
    } finally {
      spy.mockRestore();
    }
    for (const id of ['mine-1', 'mine-2', 'mine-3', 'other-1']) expect(await engine.store.getRun(id)).toBeUndefined();
    const said = lines.filter((l) => l.includes('starts no run'));
    expect(said).toEqual([
      'joinflow: a "Run Requested" event of source "myapp.orders" starts no run: runs are started by events of source "joinflow" with detail-type "Run Requested" and detail {"workflow", "runId"?, "input"?} (subscriptions whose pattern matches the event still get it). Said once for this source\n',
      // The escape sequence is shown, not sent to the terminal.
      expect.stringMatching(/^joinflow: a "Run Requested" event of source "other\\u001b\[31m" starts no run: /),
    ]);
  });

  it('reports at most 100 sources, then says that further ones are not reported', () => {
    const said: string[] = [];
    const warned = new Set<string>();
    const events = Array.from({ length: 103 }, (_, i) => ({ id: `e${i}`, source: `app.${i}`, 'detail-type': 'Run Requested', time: '', detail: { workflow: 'quick', input: null } }));
    expect(runsRequested(events, 1_000_000, warned, (line) => said.push(line))).toEqual([]);
    expect(runsRequested(events, 1_000_000, warned, (line) => said.push(line))).toEqual([]);
    expect(said).toHaveLength(MAX_WARNED_SOURCES + 1);
    expect(said.at(-1)).toBe('joinflow: "Run Requested" events of more than 100 sources other than "joinflow" have started no run; the first 100 were reported, further ones are not');
  });
});

describe('compileFile misuse', () => {
  it('names a workflow file that does not exist, as the CLI does (not the module loader\'s "Cannot find module" or ENOENT)', async () => {
    for (const file of ['workflows/missing.ts', 'workflows/missing.yaml']) {
      await expect(compileFile(file)).rejects.toThrow(`workflow file ${file} not found`);
    }
  });
});
