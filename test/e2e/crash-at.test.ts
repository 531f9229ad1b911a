/**
 * --chaos crash-at=N: the processor "dies" right before its N-th effect; the effects before it
 * happened, the later ones are lost, and the events it was handling are redelivered. Whatever N,
 * the run must end with the same output (steps may run twice: dispatch is at-least-once).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { DEFAULT_LEASE_MS } from '../../src/runtime/join.ts';
import { fanoutDef, plan } from '../helpers/plans.ts';

const root = path.resolve(import.meta.dirname, '../..');
const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

describe('simulated processor crashes (--chaos crash-at=N)', () => {
  it.each(Array.from({ length: 14 }, (_, i) => i + 1))('diamond survives a crash before effect %i', async (n) => {
    const engine = createEngine({ root, chaos: { crashAt: n } });
    engines.push(engine);
    engine.register(await compileFile(path.join(root, 'workflows/diamond.ts'), root));
    const r = await engine.run('diamond', { x: 1 });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ nodeC: { sum: 12 } });
    // Each step completed at least once; a crash may make one run twice, never thrice.
    expect(r.steps.total).toBe(3);
    expect(r.steps.succeeded).toBeGreaterThanOrEqual(3);
    expect(r.steps.succeeded).toBeLessThanOrEqual(4);
    // The run's record has the times it ran at: the crash makes leases expire, not the clock jump.
    const record = (await engine.store.getRun(r.runId))!;
    expect(record.finishedAt!).toBeLessThanOrEqual(Date.now());
    expect(record.finishedAt! - record.startedAt).toBeLessThan(DEFAULT_LEASE_MS);
  });

  it.each([1, 3, 7, 20, 40])('a fan-out of 30 items survives a crash before effect %i, with duplicated and reordered delivery', async (n) => {
    const p = plan(fanoutDef);
    const withItems = { ...p, steps: { ...p.steps, split: { ...p.steps['split']!, executor: { type: 'simulate' as const, durationMs: 0, output: Array.from({ length: 30 }, (_, i) => i) } }, sum: { ...p.steps['sum']!, executor: { type: 'simulate' as const, durationMs: 0, output: 'summed' } } } };
    const engine = createEngine({ chaos: { crashAt: n, duplicate: 1, reorder: 8, seed: n } });
    engines.push(engine);
    engine.register(withItems);
    const r = await engine.run('fan', null);
    expect(r.status).toBe('succeeded');
    expect(r.output).toBe('summed');
    expect(r.steps.total).toBe(32);
  });
});

describe('simulated processor crashes with steps that wait for some of their needs', () => {
  // The process steps' logs go under a state dir of the test's own.
  const stateDir = mkdtempSync(path.join(tmpdir(), 'jf-crash-at-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  const sim = (durationMs: number, output: unknown) => ({ type: 'simulate' as const, durationMs, output });
  const fail = { type: 'process' as const, command: 'sh', args: ['-c', 'exit 1'] };
  const quorum = plan({
    name: 'quorum-crash',
    steps: {
      a: { executor: sim(0, 'a') },
      b: { executor: sim(1, 'b') },
      broken: { executor: fail },
      q: { needs: ['a', 'b', 'broken'], wait: { quorum: 2 }, executor: sim(0, 'q') },
      end: { needs: ['q'], executor: sim(0, 'end') },
    },
  });
  const lost = plan({
    name: 'lost-crash',
    steps: {
      b1: { executor: fail },
      b2: { executor: fail },
      slow: { executor: sim(60_000, 'slow') },
      q: { needs: ['b1', 'b2', 'slow'], wait: { quorum: 2 }, executor: sim(0, 'q') },
    },
  });

  const branches = plan({
    name: 'branches-crash',
    steps: {
      fetchA: { executor: fail },
      fetchB: { executor: sim(5, 'b') },
      computeA: { needs: ['fetchA'], executor: sim(0, 'A') },
      computeB: { needs: ['fetchB'], executor: sim(0, 'B') },
      pick: { needs: ['computeA', 'computeB'], wait: 'any', executor: sim(0, 'picked') },
    },
  });

  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('a lost branch ends the same way with a crash before effect %i', async (n) => {
    const engine = createEngine({ root, stateDir, chaos: { crashAt: n } });
    engines.push(engine);
    engine.register(branches);
    const r = await engine.run('branches-crash', null);
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ pick: 'picked' });
  });

  it.each(Array.from({ length: 24 }, (_, i) => i + 1))('a spared failure and a lost quorum end the same way with a crash before effect %i', async (n) => {
    // One engine per workflow: each run meets the crash.
    const engine = createEngine({ root, stateDir, chaos: { crashAt: n } });
    const other = createEngine({ root, stateDir, chaos: { crashAt: n } });
    engines.push(engine, other);
    engine.register(quorum);
    other.register(lost);
    const ok = await engine.run('quorum-crash', null);
    expect(ok.status).toBe('succeeded');
    expect(ok.output).toEqual({ end: 'end' });
    const failed = await other.run('lost-crash', null);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ type: 'ProcessExited' });
    expect(['b1', 'b2']).toContain((failed.error as { step: string }).step);
  });
});
