import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { createFileBlobStore } from '../../src/adapters/local/file-blobs.ts';

const root = path.resolve(import.meta.dirname, '../..');
const engines: Engine[] = [];
const dirs: string[] = [];

async function engineFor(files: string[], options: Parameters<typeof createEngine>[0] = {}): Promise<Engine> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'jf-'));
  dirs.push(stateDir);
  const engine = createEngine({ root, trace: true, stateDir, ...options });
  engines.push(engine);
  for (const f of files) engine.register(await compileFile(path.resolve(root, f), root));
  return engine;
}

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('embedded engine, whole runs', () => {
  it('runs the diamond example: nodeC joins nodeA and nodeB, which run in parallel', async () => {
    const engine = await engineFor(['workflows/diamond.ts']);
    const r = await engine.run('diamond', { x: 1 });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ nodeC: { sum: 12 } });
    expect(r.steps).toEqual({ total: 3, succeeded: 3, failed: 0, cancelled: 0, retried: 0 });
    const by = Object.fromEntries(r.trace.map((t) => [t.step, t]));
    expect(by['nodeC']!.start).toBeGreaterThanOrEqual(Math.max(by['nodeA']!.end, by['nodeB']!.end));
    // Run Requested, 3 x (Started + Completed), Run Succeeded.
    expect(r.events).toBe(8);
  });

  it('delivers Step Started to bus subscribers, and counts it when no one but the engine listens', async () => {
    const quiet = await engineFor(['workflows/diamond.ts']);
    expect((await quiet.run('diamond', { x: 1 })).events).toBe(8);
    const heard = await engineFor(['workflows/diamond.ts']);
    const started: string[] = [];
    heard.bus.subscribe({ 'detail-type': ['Step Started'] }, (events) => void started.push(...events.map((e) => (e.detail as { step: string }).step)));
    expect((await heard.run('diamond', { x: 1 })).events).toBe(8);
    expect(started.sort()).toEqual(['nodeA', 'nodeB', 'nodeC']);
  });

  it.each([0, 1, 10_000])('runs fanout with n = %i', async (n) => {
    const engine = await engineFor(['workflows/fanout.ts']);
    const r = await engine.run('fanout', { n });
    expect(r.status).toBe('succeeded');
    let sum = 0;
    for (let i = 0; i < n; i++) sum += i * i;
    expect(r.output).toEqual({ count: n, sum });
    expect(r.steps.total).toBe(n + 2);
    expect(r.trace.filter((t) => t.step === 'square')).toHaveLength(n);
    const items = new Set(r.trace.filter((t) => t.step === 'square').map((t) => t.item));
    expect(items.size).toBe(n);
  });

  it('retries a step that fails twice, then succeeds', async () => {
    const engine = await engineFor(['test/fixtures/workflows/retry.yaml']);
    const r = await engine.run('retry-demo', null);
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ flaky: { attempt: 3 } });
    expect(r.steps).toEqual({ total: 1, succeeded: 1, failed: 0, cancelled: 0, retried: 2 });
    expect(r.trace.map((t) => [t.attempt, t.status])).toEqual([[1, 'failed'], [2, 'failed'], [3, 'succeeded']]);
  });

  it('times a step out, retries it, then fails the run with a StepTimeout', async () => {
    const engine = await engineFor(['test/fixtures/workflows/timeout.yaml']);
    const r = await engine.run('timeout-demo', null);
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ type: 'StepTimeout', step: 'sleepy' });
    expect(r.error!.message).toContain('timed out after 200 ms');
    expect(r.trace.map((t) => [t.step, t.attempt, t.status])).toEqual([['sleepy', 1, 'failed'], ['sleepy', 2, 'failed']]);
    for (const t of r.trace) expect(t.end - t.start).toBeGreaterThanOrEqual(190);
  });

  it('fails the run when a process step fails, with the tail of its stderr, and stops the others', async () => {
    const engine = await engineFor(['test/fixtures/workflows/process-fail.yaml']);
    const r = await engine.run('process-fail', null);
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ step: 'bad', type: 'ProcessExited' });
    expect(r.error!.message).toContain('code 3');
    expect(r.error!.message).toContain('line 40');
    expect(r.error!.message).not.toContain('line 1\n');
    const slow = r.trace.find((t) => t.step === 'slow');
    expect(slow?.status).toBe('cancelled');
  });

  it('keeps two runs of the same workflow apart', async () => {
    const engine = await engineFor(['test/fixtures/workflows/mix.yaml']);
    const [one, two] = await Promise.all([engine.run('mix', { tag: 'one' }), engine.run('mix', { tag: 'two' })]);
    for (const [r, tag] of [[one, 'one'], [two, 'two']] as const) {
      expect(r.status).toBe('succeeded');
      const c = (r.output as { c: { tag: string; runId: string; results: { a: { tag: string; runId: string } } } }).c;
      expect(c.tag).toBe(tag);
      expect(c.runId).toBe(r.runId);
      expect(c.results.a).toMatchObject({ tag, runId: r.runId });
    }
    expect(one.runId).not.toBe(two.runId);
  });

  it('treats a given run id as an idempotency key', async () => {
    const engine = await engineFor(['workflows/diamond.ts']);
    const first = await engine.run('diamond', { x: 2 }, { runId: 'fixed-id' });
    expect(first.output).toEqual({ nodeC: { sum: 23 } });
    await engine.bus.publish([{ id: 'again', source: 'joinflow', 'detail-type': 'Run Requested', time: '', detail: { workflow: 'diamond', runId: 'fixed-id', input: { x: 5 } } }]);
    await engine.bus.idle();
    const again = await engine.wait('fixed-id');
    expect(again.output).toEqual({ nodeC: { sum: 23 } });
    expect(engine.deadLetters).toEqual([]);
  });

  it('refuses run ids that cannot name a directory, whether given or taken from the event id', async () => {
    const engine = await engineFor(['workflows/diamond.ts']);
    for (const bad of ['..', '.', 'a/b', '']) {
      await expect(engine.run('diamond', { x: 1 }, { runId: bad })).rejects.toThrow(bad === '' ? /run id "": from 1 to 128 characters/ : /letters, digits, .* and not "\." or "\.\."/);
    }
    // A Run Requested without a runId is named by its event id: one that cannot name a run is dead-lettered.
    await engine.bus.publish([{ id: '../escape', source: 'joinflow', 'detail-type': 'Run Requested', time: '', detail: { workflow: 'diamond', input: { x: 1 } } }]);
    await engine.bus.idle();
    expect(engine.deadLetters.map((d) => d.reason)).toEqual([expect.stringMatching(/^Run Requested without a runId, and its event id "\.\.\/escape" cannot name the run \(.*\): give a runId$/)]);
    expect(await engine.store.getRun('../escape')).toBeUndefined();
    // Dots inside a name are fine.
    expect((await engine.run('diamond', { x: 1 }, { runId: 'a..b' })).status).toBe('succeeded');
  });

  it('runs batch steps by their local command and container steps in the worker pool', async () => {
    const engine = await engineFor(['test/fixtures/workflows/hybrid.yaml']);
    const r = await engine.run('hybrid', { n: 21, tag: 'h' });
    expect(r.status).toBe('succeeded');
    const out = (r.output as { summarize: { tag: string; results: Record<string, unknown> } }).summarize;
    expect(out.tag).toBe('h');
    expect(out.results).toEqual({ detect: { boxes: 42, gpu: 'detect' }, count: { items: 3 } });
  });

  it('fails a batch step without a local command with a message saying what to add', async () => {
    const engine = await engineFor(['test/fixtures/workflows/batch-no-local.yaml']);
    const r = await engine.run('batch-no-local', null);
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ step: 'train', type: 'NoLocalCommand' });
    expect(r.error!.message).toContain('add executor.local');
  });

  it('dead-letters an incoming event over the size limit, and keeps running', async () => {
    const engine = await engineFor(['workflows/diamond.ts'], { maxPayloadBytes: 10_000 });
    const huge = { id: 'big', source: 'joinflow', 'detail-type': 'Run Requested', time: '', detail: { workflow: 'diamond', input: 'x'.repeat(20_000) } };
    await engine.bus.publish([huge]);
    await engine.bus.idle();
    expect(engine.deadLetters.map((d) => d.reason)).toEqual([expect.stringMatching(/^event of 20\d{3} bytes exceeds the size limit of 10000 bytes$/)]);
    const r = await engine.run('diamond', { x: 1 });
    expect(r.output).toEqual({ nodeC: { sum: 12 } });
  });

  it('passes a step output over the size limit by reference (a file in the state dir)', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'jf-'));
    dirs.push(stateDir);
    const engine = createEngine({ root, maxPayloadBytes: 1000, blobs: createFileBlobStore(path.join(stateDir, 'blobs')) });
    engines.push(engine);
    engine.register(compileWorkflow({
      name: 'bigout',
      steps: {
        big: { executor: { type: 'simulate', durationMs: 0, output: 'y'.repeat(5000) } },
        next: { needs: ['big'], executor: { type: 'function', module: './test/fixtures/workflows/handlers/flaky.ts', export: 'echo' } },
      },
    }, { source: 'bigout.yaml' }));
    const seen: unknown[] = [];
    engine.bus.subscribe({ 'detail-type': ['Step Completed'], detail: { step: ['big'] } }, (events) => void seen.push(...events.map((e) => e.detail)));
    const r = await engine.run('bigout', { tag: 't' });
    expect(r.status).toBe('succeeded');
    expect((r.output as { next: { results: { big: string } } }).next.results.big).toBe('y'.repeat(5000));
    expect(seen).toEqual([expect.objectContaining({ outputRef: expect.stringMatching(/^file:\/\//) })]);
    expect(seen[0]).not.toHaveProperty('output');
  });

  it('limits concurrency per executor kind', async () => {
    const engine = createEngine({ root, trace: true, concurrency: { simulate: 2 } });
    engines.push(engine);
    const steps: Record<string, { executor: { type: 'simulate'; durationMs: number } }> = {};
    for (let i = 0; i < 6; i++) steps[`s${i}`] = { executor: { type: 'simulate', durationMs: 30 } };
    engine.register(compileWorkflow({ name: 'wide', steps }, { source: 'wide.yaml' }));
    const r = await engine.run('wide', null);
    expect(r.status).toBe('succeeded');
    // At any instant at most two executions overlap, so six 30 ms steps take three rounds.
    // Sweep line over starts (+1) and ends (-1); at equal times an end comes first, because a
    // queued task starts only after a running one ended.
    const edges = r.trace.flatMap((t) => [[t.start, 1], [t.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    let most = 0;
    for (const [, delta] of edges) most = Math.max(most, (running += delta));
    expect(most).toBe(2);
    expect(r.durationMs).toBeGreaterThanOrEqual(90);
  });

  it('releases the working state of finished runs', async () => {
    const engine = await engineFor(['workflows/fanout.ts']);
    const engine2 = createEngine({ root, store: createMemoryStore({ keepFinished: 5 }) });
    engines.push(engine2);
    engine2.register(await compileFile(path.resolve(root, 'workflows/fanout.ts'), root));
    for (let i = 0; i < 20; i++) await engine.run('fanout', { n: 5 });
    for (let i = 0; i < 8; i++) await engine2.run('fanout', { n: 5 });
    const stats = (store: unknown) => (store as { stats(): { runs: number; finished: number } }).stats();
    expect(stats(engine.store)).toEqual({ runs: 0, finished: 20 });
    // Only the newest final records are kept.
    expect(stats(engine2.store)).toEqual({ runs: 0, finished: 5 });
  });
});
