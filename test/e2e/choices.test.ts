/**
 * Choices (`when`): a step runs only when its pattern matches what it would receive; otherwise it
 * is skipped, and so are the steps whose needs were all skipped. Catching (`catch`): a step's
 * failure for good runs its catch step instead of failing the run. On the in-memory and the
 * durable (journal) store, under duplicated and reordered deliveries, and under processor crashes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type RunResult, type TraceRecord } from '../../src/adapters/local/engine.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { StepInput, WorkflowInput } from '../../src/model/workflow.ts';
import { joinflow } from '../helpers/cli.ts';

type Ran = RunResult & { trace: TraceRecord[] };
type Options = Parameters<typeof createEngine>[0];

const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

const sim = (output: unknown): StepInput['executor'] => ({ type: 'simulate', durationMs: 1, output });
/** A process step that prints the results it received (as its output). */
const echoResults: StepInput['executor'] = {
  type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).results)))'],
};

/** A process step that prints the event it received, without its input. */
const echoEvent: StepInput['executor'] = {
  type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const e=JSON.parse(s);console.log(JSON.stringify({results:e.results,error:e.error}))})'],
};

function engineOn(store: 'memory' | 'journal', options: Options = {}): Engine {
  const dir = mkdtempSync(path.join(tmpdir(), 'jf-choice-'));
  const state = store === 'journal' ? openJournalState({ dir }) : undefined;
  const engine = createEngine({ trace: true, ...options, stateDir: dir, ...(state ? { store: state.store, log: state.log } : {}) });
  closers.push(async () => {
    await engine.close();
    state?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return engine;
}

async function run(store: 'memory' | 'journal', wf: WorkflowInput, input: unknown = null, options: Options = {}): Promise<{ r: Ran; events: EventEnvelope[] }> {
  const engine = engineOn(store, options);
  engine.register(compileWorkflow(wf, { source: 'workflows/choice.yaml' }));
  const events: EventEnvelope[] = [];
  engine.bus.subscribe({ source: ['joinflow'] }, (batch) => void events.push(...batch));
  const r = await engine.run(wf.name, input);
  await engine.bus.idle();
  return { r, events };
}

/** Distinct events of a type (chaos delivers copies to subscribers too), by step. */
const stepsOf = (events: EventEnvelope[], type: string): string[] =>
  [...new Set(events.filter((e) => e['detail-type'] === type).map((e) => (e.detail as { step: string }).step))].sort();

/** check -> (good | bad) by quality; good -> publish; report after publish and bad. */
const quality: WorkflowInput = {
  name: 'quality',
  steps: {
    check: { executor: { type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify({quality: JSON.parse(s).input.q})))'] } },
    good: { needs: ['check'], when: { results: { check: { quality: [{ numeric: ['>=', 0.8] }] } } }, executor: sim('good') },
    publish: { needs: ['good'], executor: sim('published') },
    bad: { needs: ['check'], when: { results: { check: { quality: [{ numeric: ['<', 0.8] }] } } }, executor: sim('reprocessed') },
    report: { needs: ['publish', 'bad'], executor: echoResults },
  },
};

describe.each(['memory', 'journal'] as const)('choices (%s store)', (store) => {
  it('runs the branch whose when matches; the other branch is skipped step by step, and the step after both gets the results of the one that ran', async () => {
    const high = await run(store, quality, { q: 0.9 });
    expect(high.r.status).toBe('succeeded');
    expect(high.r.output).toEqual({ report: { publish: 'published' } });
    expect(high.r.trace.map((t) => t.step).sort()).toEqual(['check', 'good', 'publish', 'report']);
    expect(stepsOf(high.events, 'Step Skipped')).toEqual(['bad']);
    expect(high.r.steps).toEqual({ total: 4, succeeded: 4, failed: 0, cancelled: 0, retried: 0, skipped: 1 });

    const low = await run(store, quality, { q: 0.1 });
    expect(low.r.output).toEqual({ report: { bad: 'reprocessed' } });
    expect(low.r.trace.map((t) => t.step).sort()).toEqual(['bad', 'check', 'report']);
    const skipped = low.events.filter((e) => e['detail-type'] === 'Step Skipped').map((e) => e.detail);
    expect(skipped).toEqual([
      { workflow: 'quality', runId: low.r.runId, step: 'good', reason: 'its "when" did not match' },
      { workflow: 'quality', runId: low.r.runId, step: 'publish', reason: 'every step it needs was skipped' },
    ]);
    expect(low.r.steps).toEqual({ total: 3, succeeded: 3, failed: 0, cancelled: 0, retried: 0, skipped: 2 });
  });

  it('tests the run input on a step without needs; a skipped sink has no key in the output, a skipped output step gives null', async () => {
    const wf: WorkflowInput = {
      name: 'by-input',
      steps: {
        fast: { when: { input: { mode: ['fast'] } }, executor: sim('f') },
        slow: { when: { input: { mode: [{ 'anything-but': ['fast'] }] } }, executor: sim('s') },
      },
    };
    expect((await run(store, wf, { mode: 'fast' })).r.output).toEqual({ fast: 'f' });
    expect((await run(store, wf, { mode: 'careful' })).r.output).toEqual({ slow: 's' });
    // No mode at all: anything-but needs a value, so neither runs; the run succeeds with nothing.
    const none = await run(store, wf, {});
    expect(none.r.status).toBe('succeeded');
    expect(none.r.output).toEqual({});
    const withOutput = await run(store, { ...wf, name: 'by-input-output', output: 'fast' }, { mode: 'careful' });
    expect(withOutput.r.output).toBeNull();
  });

  it('decides on the output as JSON keeps it (no undefined fields, a Date as its string), as it would after a restart or on AWS', async () => {
    const module = path.resolve(import.meta.dirname, '../fixtures/handlers/handlers.ts');
    const wf: WorkflowInput = {
      name: 'json-kept',
      steps: {
        u: { executor: { type: 'function', module, export: 'notPlainJson' } },
        gone: { needs: ['u'], when: { results: { u: { gone: [{ exists: false }] } } }, executor: sim('no gone field') },
        present: { needs: ['u'], when: { results: { u: { gone: [{ 'anything-but': 'x' }] } } }, executor: sim('a gone field') },
        dated: { needs: ['u'], when: { results: { u: { at: [{ prefix: '2026-01-02' }] } } }, executor: sim('a date string') },
      },
    };
    const { r } = await run(store, wf);
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ gone: 'no gone field', dated: 'a date string' });
  });

  it('skips a forEach step whose when does not match, or whose array step was skipped', async () => {
    const wf: WorkflowInput = {
      name: 'fan-choice',
      steps: {
        split: { when: { input: { fan: [true] } }, executor: sim([1, 2, 3]) },
        each: { needs: ['split'], forEach: 'split', executor: sim('x') },
        other: { executor: sim('o') },
        gated: { needs: ['other'], forEach: 'other', when: { input: { gate: [true] } }, executor: sim('g') },
        sum: { needs: ['each', 'gated'], executor: echoResults },
      },
    };
    const on = await run(store, wf, { fan: true, gate: false });
    expect(on.r.output).toEqual({ sum: { each: ['x', 'x', 'x'] } });
    expect(stepsOf(on.events, 'Step Skipped')).toEqual(['gated']);
    const off = await run(store, wf, { fan: false, gate: false });
    expect(stepsOf(off.events, 'Step Skipped')).toEqual(['each', 'gated', 'split', 'sum']);
    expect(off.r.output).toEqual({});
    expect(off.r.trace.map((t) => t.step)).toEqual(['other']);
  });
});

describe('choices under duplicated, reordered and delayed deliveries, and processor crashes', () => {
  it.each([1, 2, 3, 4, 5, 6])('seed %i: every step runs at most once, each skipped step is skipped once', async (seed) => {
    const chaos = { duplicate: 1, reorder: 16, delayMs: 10, seed };
    const { r, events } = await run(seed % 2 ? 'memory' : 'journal', quality, { q: 0.1 }, { chaos });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ report: { bad: 'reprocessed' } });
    expect(r.trace.map((t) => t.step).sort()).toEqual(['bad', 'check', 'report']);
    expect(stepsOf(events, 'Step Skipped')).toEqual(['good', 'publish']);
    expect(new Set(events.filter((e) => e['detail-type'] === 'Run Succeeded').map((e) => e.id)).size).toBe(1);
  });

  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('survives a crash before effect %i', async (crashAt) => {
    const { r } = await run('memory', quality, { q: 0.1 }, { chaos: { crashAt } });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ report: { bad: 'reprocessed' } });
    expect(r.steps.skipped).toBe(2);
  });
});

/** load -> fit (caught by fallback); plot after fit; report after fit and fallback. */
const catching = (fitFails: boolean, fallback: StepInput['executor'] = echoEvent): WorkflowInput => ({
  name: 'catching',
  steps: {
    load: { executor: sim('data') },
    fit: {
      needs: ['load'], catch: 'fallback', retry: { maxAttempts: 2, backoffMs: 1 },
      executor: { type: 'process', command: 'sh', args: ['-c', fitFails ? 'echo singular >&2; exit 3' : 'echo \'"line"\''] },
    },
    plot: { needs: ['fit'], executor: sim('plot') },
    fallback: { executor: fallback },
    report: { needs: ['fit', 'fallback'], executor: echoResults },
  },
});

describe.each(['memory', 'journal'] as const)('catch (%s store)', (store) => {
  it('runs the catch step when the step fails for good (after its retries), with that step\'s needs\' results and its error; the run goes on', async () => {
    const { r, events } = await run(store, catching(true));
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({
      report: { fallback: { results: { load: 'data' }, error: { step: 'fit', type: 'ProcessExited', message: 'exited with code 3: singular' } } },
    });
    expect(r.trace.map((t) => `${t.step}:${t.status}`)).toEqual(['load:succeeded', 'fit:failed', 'fit:failed', 'fallback:succeeded', 'report:succeeded']);
    // plot needs only fit, which has no result: skipped.
    expect(events.filter((e) => e['detail-type'] === 'Step Skipped').map((e) => e.detail)).toEqual([
      { workflow: 'catching', runId: r.runId, step: 'plot', reason: 'every step it needs was skipped, or failed and was caught' },
    ]);
    expect(r.steps).toEqual({ total: 4, succeeded: 3, failed: 1, cancelled: 0, retried: 1, skipped: 1 });
    expect(events.filter((e) => e['detail-type'] === 'Run Failed')).toEqual([]);
  });

  it('skips the catch step when the step does not fail', async () => {
    const { r, events } = await run(store, catching(false));
    expect(r.output).toEqual({ plot: 'plot', report: { fit: 'line' } });
    expect(events.filter((e) => e['detail-type'] === 'Step Skipped').map((e) => (e.detail as { reason: string }).reason)).toEqual(['the step it catches ("fit") did not fail']);
    expect(r.steps).toMatchObject({ succeeded: 4, failed: 0, skipped: 1 });
  });

  it('runs the catch step of a catch step that fails, with the first step\'s needs\' results', async () => {
    const wf = catching(true, { type: 'process', command: 'sh', args: ['-c', 'echo worse >&2; exit 4'] });
    wf.steps['fallback']!.catch = 'last';
    wf.steps['last'] = { executor: echoEvent };
    wf.steps['report']!.needs = ['fit', 'fallback', 'last'];
    const { r } = await run(store, { ...wf, name: 'catching-chain' });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({
      report: { last: { results: { load: 'data' }, error: { step: 'fallback', type: 'ProcessExited', message: 'exited with code 4: worse' } } },
    });
  });

  it('fails the run when the catch step fails too', async () => {
    const { r } = await run(store, catching(true, { type: 'process', command: 'sh', args: ['-c', 'echo worse >&2; exit 4'] }));
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ step: 'fallback', type: 'ProcessExited' });
  });
});

describe('catch under duplicated, reordered and delayed deliveries, and processor crashes', () => {
  it.each([1, 2, 3, 4, 5, 6])('seed %i: the catch step runs once, the run succeeds once', async (seed) => {
    const chaos = { duplicate: 1, reorder: 16, delayMs: 10, seed };
    const { r, events } = await run(seed % 2 ? 'memory' : 'journal', catching(true), null, { chaos });
    expect(r.status).toBe('succeeded');
    expect(r.trace.filter((t) => t.step === 'fallback' || t.step === 'report').map((t) => t.step)).toEqual(['fallback', 'report']);
    expect(stepsOf(events, 'Step Skipped')).toEqual(['plot']);
    expect(new Set(events.filter((e) => e['detail-type'] === 'Run Succeeded').map((e) => e.id)).size).toBe(1);
  });

  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('survives a crash before effect %i', async (crashAt) => {
    const { r } = await run('memory', catching(true), null, { chaos: { crashAt } });
    expect(r.status).toBe('succeeded');
    expect((r.output as { report: { fallback: { error: { step: string } } } }).report.fallback.error.step).toBe('fit');
  });
});

describe('joinflow run and status of a workflow with choices', () => {
  it('says how many steps were skipped, and status lists them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jf-choice-cli-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'route.yaml');
    writeFileSync(file, [
      'name: route',
      'steps:',
      '  check: { executor: { type: simulate, durationMs: 1, output: { ok: false } } }',
      '  ship: { needs: [check], when: { results: { check: { ok: [true] } } }, executor: { type: simulate, durationMs: 1, output: shipped } }',
      '  hold: { needs: [check], when: { results: { check: { ok: [false] } } }, executor: { type: simulate, durationMs: 1, output: held } }',
      '',
    ].join('\n'));
    const state = path.join(dir, 'state');
    const r = joinflow(['run', file, '--state', state]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ hold: 'held' });
    expect(r.stderr).toMatch(/succeeded in \d+ ms: 2 succeeded, 0 failed, 1 skipped, 0 retried/);
    const json = JSON.parse(joinflow(['run', file, '--state', state, '--json']).stdout) as RunResult;
    expect(json.steps).toEqual({ total: 2, succeeded: 2, failed: 0, cancelled: 0, retried: 0, skipped: 1 });
    const status = joinflow(['status', json.runId, '--state', state]);
    expect(status.stdout).toMatch(/^ {2}skipped +ship +0 attempts\n +a choice: its "when" did not match, or every step it needs was skipped$/m);
  });

  it('runs workflows/fit-fallback: the caught failure is noted, and status shows the failed step and its catch step', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jf-catch-cli-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = joinflow(['run', 'fit-fallback', '--state', dir, '--json', '--input', JSON.stringify({ points: [[2, 1], [2, 3], [2, 4]] })]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as RunResult;
    expect(result.output).toEqual({ report: { model: 'constant', value: 3, because: 'cannot fit a line: all x values are equal' } });
    expect(result.steps).toEqual({ total: 4, succeeded: 3, failed: 1, cancelled: 0, retried: 0, skipped: 0 });
    const status = joinflow(['status', result.runId, '--state', dir]).stdout;
    // The error of the step the run survived is shown (from its Step Failed event), in text and JSON.
    expect(status).toMatch(/^ {2}failed +fit +1 attempt.*\n +\S+: cannot fit a line: all x values are equal$/m);
    expect(status).toMatch(/^ {2}succeeded +constant +1 attempt/m);
    const json = JSON.parse(joinflow(['status', result.runId, '--state', dir, '--json']).stdout) as { steps: Array<{ step: string; error?: { message: string } }> };
    expect(json.steps.find((s) => s.step === 'fit')?.error?.message).toBe('cannot fit a line: all x values are equal');
    // When the step it catches does not fail, the catch step is skipped, and status says why.
    const fit = joinflow(['run', 'fit-fallback', '--input', JSON.stringify({ points: [[1, 1], [2, 3]] }), '--json', '--state', dir]);
    expect(fit.code, fit.stderr).toBe(0);
    const skipped = joinflow(['status', (JSON.parse(fit.stdout) as { runId: string }).runId, '--state', dir]).stdout;
    expect(skipped).toMatch(/^ {2}skipped +constant +0 attempts\n +the step it catches \("fit"\) did not fail$/m);
    const plain = joinflow(['run', 'fit-fallback', '--state', dir, '--input', JSON.stringify({ points: [[2, 1], [2, 3]] })]);
    expect(plain.stderr).toContain('note: 1 step(s) failed or could not run, without failing the run (caught by a catch step');
  });
});
