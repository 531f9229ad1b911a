/**
 * Hybrid placement on the embedded engine: auto steps run where their placement says (handler for
 * Lambda, local command or handler for Batch), a Lambda-placed step that times out falls back to
 * its Batch local command and succeeds (its attempts show both placements, in memory and in the
 * durable log), and `joinflow plan` prints the placement table and JSON.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { compileFile, loadDefinition } from '../../src/adapters/local/workflow-files.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-placement-');
const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

function engine(): Engine {
  const e = createEngine({ root, trace: true, stateDir: tmp() });
  engines.push(e);
  return e;
}

const FALLBACK = 'test/fixtures/workflows/fallback.yaml';

describe('auto steps on the embedded engine', () => {
  it('runs workflows/hybrid.ts: each step where it was placed, Batch ones by local command or handler', async () => {
    const e = engine();
    e.register(await compileFile(path.join(root, 'workflows/hybrid.ts'), root));
    const r = await e.run('hybrid', { image: 'cat.jpg', labels: ['cat', 'hat', 'cat'] });
    expect(r.status).toBe('succeeded');
    // detect ran its local script (not the handler), index its handler (no local command).
    expect(r.output).toEqual({ thumbnail: 'thumb-cat.jpg', boxes: 6, device: 'local script', terms: 2 });
    const placements = Object.fromEntries(r.trace.map((t) => [t.step, t.placement]));
    expect(placements).toEqual({ thumbnail: 'lambda', detect: 'batch-gpu', index: 'batch-cpu', summarize: 'lambda' });
  });

  it('falls back to the Batch local command after a Lambda timeout, and succeeds', async () => {
    const e = engine();
    e.register(await compileFile(path.join(root, FALLBACK), root));
    const r = await e.run('fallback-demo', { tag: 't1' });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ after: { tag: 't1', runId: r.runId, results: { slow: { ranOn: 'batch', attempt: '2', input: { tag: 't1' } } } } });
    const slow = r.trace.filter((t) => t.step === 'slow').sort((a, b) => a.attempt - b.attempt);
    expect(slow.map((t) => [t.attempt, t.status, t.placement])).toEqual([[1, 'failed', 'lambda'], [2, 'succeeded', 'batch-cpu']]);
    expect(r.steps).toEqual({ total: 2, succeeded: 2, failed: 0, cancelled: 0, retried: 1 });
  });

  it('fails the same step after its Lambda timeout when it has no fallback', async () => {
    const def = (await loadDefinition(path.join(root, FALLBACK))) as { name: string; steps: Record<string, Record<string, unknown>> };
    delete def.steps['slow']!['fallback'];
    def.name = 'no-fallback';
    const e = engine();
    e.register(compileWorkflow(def, { source: FALLBACK }));
    const r = await e.run('no-fallback', { tag: 't2' });
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ type: 'StepTimeout', step: 'slow' });
    expect(r.trace.filter((t) => t.step === 'slow').map((t) => [t.attempt, t.status, t.placement])).toEqual([[1, 'failed', 'lambda']]);
  });

  it('run --cost counts a Batch-placed step as a Batch job, also one that runs its handler here (no local command)', () => {
    const r = joinflow(['run', 'workflows/hybrid.ts', '--memory', '--cost', '--json', '--input', '{"image": "cat.jpg", "labels": ["cat"]}']);
    expect(r.code, r.stderr).toBe(0);
    const lines = (JSON.parse(r.stdout) as { cost: { lines: Array<{ item: string; quantity: number }> } }).cost.lines;
    // detect (batch-gpu) and index (batch-cpu; no local command) run on Batch; thumbnail and summarize on Lambda.
    expect(lines.find((l) => l.item.startsWith('Batch jobs'))?.quantity).toBe(2);
  });

  it("run --cost reads the stage's step memory from serverless.yml, as plan does, and says when it cannot", () => {
    const dir = tmp();
    const wf = path.join(dir, 'one.yaml');
    writeFileSync(wf, 'name: one\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0}\n');
    writeFileSync(path.join(dir, 'serverless.yml'), 'custom:\n  joinflow:\n    stepMemoryMb: ${env:STEP_MB}\n');
    const note = 'serverless.yml custom.joinflow.stepMemoryMb is a serverless variable (${env:STEP_MB}): function steps are priced at 1,024 MB';
    const run = joinflow(['run', wf, '--memory', '--cost', '--json'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`joinflow run: --cost: ${note}\n`);
    expect(joinflow(['plan', wf], { cwd: dir }).stderr).toContain(`joinflow plan: ${note}\n`);
    // Without --cost nothing is read.
    expect(joinflow(['run', wf, '--memory', '--json'], { cwd: dir }).stderr).not.toContain('stepMemoryMb');
  });

  it('records both placements in the durable trace of `joinflow run`', () => {
    const dir = tmp();
    const trace = path.join(dir, 'trace.json');
    const r = joinflow(['run', FALLBACK, '--input', '{"tag": "cli"}', '--json', '--trace', trace, '--state', path.join(dir, 'state')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', steps: { total: 2, succeeded: 2, failed: 0, cancelled: 0, retried: 1 } });
    const records = (JSON.parse(readFileSync(trace, 'utf8')) as Array<{ step: string; attempt: number; status: string; placement?: string }>)
      .filter((t) => t.step !== 'after')
      .sort((a, b) => a.attempt - b.attempt);
    expect(records.map((t) => [t.step, t.attempt, t.status, t.placement])).toEqual([['slow', 1, 'failed', 'lambda'], ['slow', 2, 'succeeded', 'batch-cpu']]);
  });
});

describe('joinflow plan', () => {
  it('prints the placement, reason, resources and cost of each step of workflows/hybrid.ts', () => {
    const r = joinflow(['plan', 'hybrid']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('hybrid: where each step runs on AWS and the compute cost of one execution (on-demand, us-east-1; src/cost/prices.ts)');
    const row = (step: string) => lines.find((l) => l.startsWith(`  ${step} `))!.trim().split(/\s{2,}/);
    expect(row('thumbnail')).toEqual(['thumbnail', 'lambda', '512 MB, 0.29 vCPU, ~2 s', '$0.000017', 'fits Lambda']);
    expect(row('detect')).toEqual(['detect', 'batch-gpu', '15,000 MB, 4 vCPU, 1 GPU (g4dn.xlarge), ~120 s', '$0.0175', "gpus 1; memory 15,000 MB > Lambda's 10,240 MB"]);
    expect(row('index')).toEqual(['index', 'batch-cpu', '4,096 MB, 2 vCPU, ~1800 s', '$0.0494', "expectedSeconds 1800 > Lambda's 900"]);
    expect(row('summarize')).toEqual(['summarize', 'lambda', '3,538 MB, 2 vCPU, ~30 s', '$0.001728', 'fits Lambda (memory raised to 3,538 MB for 2 vCPUs)']);
    expect(r.stdout).toContain('-> after a Lambda timeout: batch-cpu, 2 vCPU, 4,096 MB (fallback: batch): $0.008556 an execution that falls back (Lambda until its 120 s timeout, then the Batch job)\n');
    expect(lines).toContain('  total per run: $0.0686 (4 of 4 steps priced)');
  });

  it('gives no total for a workflow with no priced step, rather than $0', () => {
    const r = joinflow(['plan', 'video-objects']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  total per run: unknown (0 of 3 steps priced; forEach steps counted once)');
  });

  it('says that the total counts every step of a workflow whose choices or catch steps skip some', () => {
    const r = joinflow(['plan', 'fit-fallback']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  total per run: unknown (0 of 4 steps priced; every step counted, though a choice or a catch skips some in each run)');
  });

  it('prints the same as JSON with --json, costs from the price table', () => {
    const r = joinflow(['plan', 'workflows/hybrid.ts', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.workflow).toBe('hybrid');
    expect(report.priced).toBe(4);
    const by = Object.fromEntries(report.steps.map((s: { step: string }) => [s.step, s]));
    expect(by.thumbnail).toEqual({ step: 'thumbnail', placement: 'lambda', reason: 'fits Lambda', resources: { memoryMb: 512, vcpus: 0.29, gpus: 0, expectedSeconds: 2 }, usd: 0.2e-6 + 0.5 * 2 * 0.0000166667 });
    // 2 vCPU x $0.04048 + 4 GB x $0.004445, for half an hour.
    expect(by.index.usd).toBeCloseTo((2 * 0.04048 + 4 * 0.004445) * 0.5, 12);
    // The whole g4dn.xlarge ($0.526/h) for 120 s.
    expect(by.detect).toMatchObject({ placement: 'batch-gpu', resources: { instance: 'g4dn.xlarge' } });
    expect(by.detect.usd).toBeCloseTo(0.526 * 120 / 3600, 12);
    expect(by.summarize.fallback).toMatchObject({ placement: 'batch-cpu', memoryMb: 4096, vcpus: 2, timeoutSeconds: 120 });
    // 3,538 MB on Lambda for its 120 s timeout, then 2 vCPU / 4 GB on Fargate for 30 s, billed 60.
    expect(by.summarize.fallback.usd).toBeCloseTo(0.2e-6 + (3538 / 1024) * 120 * 0.0000166667 + (2 * 0.04048 + 4 * 0.004445) / 60, 12);
    expect(report.totalUsd).toBeCloseTo(by.thumbnail.usd + by.detect.usd + by.index.usd + by.summarize.usd, 12);
  });

  it('describes steps that are not auto, and says why they are not priced', () => {
    const r = joinflow(['plan', 'test/fixtures/workflows/hybrid.yaml', '--json']);
    expect(r.code).toBe(0);
    const steps = JSON.parse(r.stdout).steps.map((s: { step: string; placement: string; usd: unknown; note?: string }) => [s.step, s.placement, s.usd, s.note]);
    expect(steps).toEqual([
      ['detect', 'batch-gpu', null, 'no resources.expectedSeconds'],
      ['count', 'container', null, 'runs on your own workers'],
      ['summarize', 'container', null, 'runs on your own workers'],
    ]);
    const bad = joinflow(['plan']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('plan takes one workflow');
    const help = joinflow(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: joinflow plan <workflow> \[--json\]/);
    expect(joinflow(['--help']).stdout).toContain('plan <workflow>');
  });
});
