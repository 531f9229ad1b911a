import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { importWfCommons } from '../../src/importers/wfcommons.ts';

const corpus = path.resolve(import.meta.dirname, '../../../shared/corpora/wfcommons');
const traces = readdirSync(corpus).filter((f) => f.endsWith('.json'));
const engine = createEngine({ trace: true, timeScale: 0.0005 });
afterAll(() => engine.close());

describe('WfCommons traces, imported and run', () => {
  it('finds the five traces', () => expect(traces).toHaveLength(5));

  it.each(traces)('%s: every task runs once, never before all its parents finished', async (file) => {
    const { workflow } = importWfCommons(JSON.parse(readFileSync(path.join(corpus, file), 'utf8')));
    const plan = compileWorkflow(workflow, { source: `corpora/${file}` });
    engine.register(plan);
    const r = await engine.run(plan.workflow, null);
    expect(r.status).toBe('succeeded');
    const ids = Object.keys(plan.steps);
    expect(r.trace).toHaveLength(ids.length);
    const by = new Map(r.trace.map((t) => [t.step, t]));
    expect(by.size).toBe(ids.length);
    for (const [id, step] of Object.entries(plan.steps)) {
      const t = by.get(id)!;
      expect(t.status).toBe('succeeded');
      for (const parent of step.needs) expect(t.start).toBeGreaterThanOrEqual(by.get(parent)!.end);
    }
    expect(r.steps).toEqual({ total: ids.length, succeeded: ids.length, failed: 0, cancelled: 0, retried: 0 });
    expect(r.criticalPathMs).toBeCloseTo(plan.stats.criticalPathMs! * 0.0005, 6);
    // Never faster than the critical path: a run that skipped waiting would be.
    expect(r.durationMs).toBeGreaterThanOrEqual(Math.floor(r.criticalPathMs!));
  });
});
