/**
 * `wait: any | {quorum: k}`: a step that starts after some of its needs, on the in-memory and
 * the durable (journal) store: what it receives, the needs still running at the run's end, and
 * which failures fail the run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type RunResult, type TraceRecord } from '../../src/adapters/local/engine.ts';

type Ran = RunResult & { trace: TraceRecord[] };
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { StepInput, WorkflowInput } from '../../src/model/workflow.ts';
import { joinflow, root } from '../helpers/cli.ts';

const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

const sim = (durationMs: number, output: unknown): StepInput['executor'] => ({ type: 'simulate', durationMs, output });
/** A process step that fails (exit 1) after `seconds`. */
const failing = (seconds: number): StepInput['executor'] => ({ type: 'process', command: 'sh', args: ['-c', `sleep ${seconds}; echo broken >&2; exit 1`] });

type Options = Parameters<typeof createEngine>[0];

function engineOn(store: 'memory' | 'journal', options: Options = {}): Engine {
  // Process steps' logs go under the state dir, for the in-memory store too.
  const dir = mkdtempSync(path.join(tmpdir(), 'jf-wait-'));
  if (store === 'memory') {
    const engine = createEngine({ trace: true, ...options, stateDir: dir });
    closers.push(async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return engine;
  }
  const state = openJournalState({ dir });
  const engine = createEngine({ trace: true, ...options, store: state.store, log: state.log, stateDir: dir });
  closers.push(async () => {
    await engine.close();
    state.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return engine;
}

async function run(store: 'memory' | 'journal', wf: WorkflowInput, options: Options = {}): Promise<{ r: Ran; events: EventEnvelope[] }> {
  const engine = engineOn(store, options);
  engine.register(compileWorkflow(wf, { source: 'workflows/wait.yaml' }));
  const events: EventEnvelope[] = [];
  engine.bus.subscribe({ source: ['joinflow'] }, (batch) => void events.push(...batch));
  const r = await engine.run(wf.name, null);
  // The bus delivers the run's end (and, with chaos, delayed copies) to its subscribers.
  await engine.bus.idle();
  await engine.close();
  return { r, events };
}

const statusOf = (r: Ran, step: string) => r.trace.filter((t) => t.step === step).map((t) => t.status);

describe.each(['memory', 'journal'] as const)('wait: any | {quorum} (%s store)', (store) => {
  it('any: starts with the first need to complete, gets its result only; the slower need is stopped at the end', async () => {
    const { r } = await run(store, {
      name: 'race',
      steps: {
        fast: { executor: sim(5, 'fast') },
        slow: { executor: sim(60_000, 'slow') },
        pick: { needs: ['fast', 'slow'], wait: 'any', executor: { type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).results)))'] } },
      },
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ pick: { fast: 'fast' } });
    expect(statusOf(r, 'slow')).toEqual(['cancelled']);
    expect(r.steps).toMatchObject({ total: 3, succeeded: 2, failed: 0, cancelled: 1 });
  });

  it('quorum: starts after k of its needs, with their results', async () => {
    const { r } = await run(store, {
      name: 'quorum',
      steps: {
        a: { executor: sim(5, 1) },
        b: { executor: sim(30, 2) },
        c: { executor: sim(60_000, 3) },
        q: { needs: ['a', 'b', 'c'], wait: { quorum: 2 }, executor: { type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(Object.keys(JSON.parse(s).results).sort())))'] } },
      },
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ q: ['a', 'b'] });
    expect(statusOf(r, 'c')).toEqual(['cancelled']);
  });

  it('a need that fails for good does not fail the run while the step can still start without it', async () => {
    const { r, events } = await run(store, {
      name: 'spare',
      steps: {
        broken: { executor: failing(0) },
        ok: { executor: sim(300, 'ok') },
        pick: { needs: ['broken', 'ok'], wait: 'any', executor: sim(1, 'picked') },
      },
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ pick: 'picked' });
    expect(statusOf(r, 'broken')).toEqual(['failed']);
    expect(r.steps).toMatchObject({ succeeded: 2, failed: 1 });
    expect(events.filter((e) => e['detail-type'] === 'Step Failed').map((e) => (e.detail as { step: string }).step)).toEqual(['broken']);
    expect(events.filter((e) => e['detail-type'] === 'Run Failed')).toEqual([]);
  });

  it('lets the tasks held back at a failure go on when the failure was spared (one process at a time)', async () => {
    const { r } = await run(
      store,
      {
        name: 'spare-queued',
        steps: {
          broken: { executor: failing(0) },
          ok: { executor: { type: 'process', command: 'sh', args: ['-c', 'echo \'"ok"\''] } },
          pick: { needs: ['broken', 'ok'], wait: 'any', executor: sim(1, 'picked') },
        },
      },
      { concurrency: { process: 1 } },
    );
    expect(r.status).toBe('succeeded');
    expect(statusOf(r, 'broken')).toEqual(['failed']);
    expect(statusOf(r, 'ok')).toEqual(['succeeded']);
    expect(r.output).toEqual({ pick: 'picked' });
  });

  it('fails the run once, when too many needs failed for the quorum (here of two steps at once)', async () => {
    const { r, events } = await run(store, {
      name: 'lost',
      steps: {
        b1: { executor: failing(0) },
        b2: { executor: failing(0.2) },
        ok: { executor: sim(60_000, 'ok') },
        q: { needs: ['b1', 'b2', 'ok'], wait: { quorum: 2 }, executor: sim(1, 'q') },
        // b2's failure also leaves q2 without any need: both $lost triggers fire on one event.
        q2: { needs: ['b1', 'b2'], wait: 'any', executor: sim(1, 'q2') },
      },
    });
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ step: 'b2' });
    expect(statusOf(r, 'q')).toEqual([]);
    expect(statusOf(r, 'q2')).toEqual([]);
    expect(statusOf(r, 'ok')).toEqual(['cancelled']);
    expect(events.filter((e) => e['detail-type'] === 'Run Failed')).toHaveLength(1);
  });

  it('a branch that cannot finish is lost step by step, and the step waiting for any branch goes on', async () => {
    const branches = (fetchB: StepInput['executor']): WorkflowInput => ({
      name: 'branches',
      steps: {
        fetchA: { executor: failing(0) },
        fetchB: { executor: fetchB },
        computeA: { needs: ['fetchA'], executor: sim(1, 'A') },
        computeB: { needs: ['fetchB'], executor: sim(1, 'B') },
        pick: { needs: ['computeA', 'computeB'], wait: 'any', executor: { type: 'process', command: 'node', args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).results)))'] } },
      },
    });
    const { r, events } = await run(store, branches(sim(200, 'b')));
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ pick: { computeB: 'B' } });
    const failedEvents = events.filter((e) => e['detail-type'] === 'Step Failed').map((e) => e.detail as { step: string; error: { type: string; message: string } });
    expect(failedEvents.map((d) => d.step)).toEqual(['fetchA', 'computeA']);
    expect(failedEvents[1]!.error).toEqual({ type: 'NeedsFailed', message: 'step "computeA" cannot run: its need "fetchA" failed' });
    expect(statusOf(r, 'computeA')).toEqual([]);
    // computeA never ran, but it is a failed step of the run (on the log: attempt 0, never started).
    expect(r.steps).toEqual({ total: 5, succeeded: 3, failed: 2, cancelled: 0, retried: 0 });
    // Both branches lost: pick, a sink, can never run, and the run fails.
    const both = await run(store, branches(failing(0.1)));
    expect(both.r.status).toBe('failed');
    expect(both.r.error).toMatchObject({ type: 'NeedsFailed', step: 'computeB' });
  });

  it('a need that another step waits for in full still fails the run at once', async () => {
    const { r } = await run(store, {
      name: 'shared',
      steps: {
        broken: { executor: failing(0) },
        ok: { executor: sim(60_000, 'ok') },
        pick: { needs: ['broken', 'ok'], wait: 'any', executor: sim(1, 'picked') },
        after: { needs: ['broken'], executor: sim(1, 'after') },
      },
    });
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({ step: 'broken' });
    expect(statusOf(r, 'ok')).toEqual(['cancelled']);
  });
});

describe('wait: any | {quorum} under duplicated, reordered and delayed deliveries', () => {
  const lost: WorkflowInput = {
    name: 'lost-chaos',
    steps: {
      b1: { executor: failing(0) },
      b2: { executor: failing(0) },
      b3: { executor: failing(0) },
      ok: { executor: sim(5, 'ok') },
      q: { needs: ['b1', 'b2', 'b3', 'ok'], wait: { quorum: 2 }, executor: sim(1, 'q') },
      q2: { needs: ['b1', 'b2', 'b3'], wait: 'any', executor: sim(1, 'q2') },
    },
  };
  const quorum: WorkflowInput = {
    name: 'quorum-chaos',
    steps: {
      a: { executor: sim(1, 'a') },
      b: { executor: sim(2, 'b') },
      broken: { executor: failing(0) },
      q: { needs: ['a', 'b', 'broken'], wait: { quorum: 2 }, executor: sim(1, 'q') },
      end: { needs: ['q'], executor: sim(1, 'end') },
    },
  };

  it.each([1, 2, 3, 4, 5, 6])('seed %i: the run fails once when the quorum is lost, and succeeds once when it is not', async (seed) => {
    const chaos = { duplicate: 1, reorder: 16, delayMs: 10, seed };
    const failed = await run('memory', lost, { chaos });
    expect(failed.r.status).toBe('failed');
    // Chaos delivers copies to subscribers too: distinct events by id.
    const distinct = (events: EventEnvelope[], type: string) => new Set(events.filter((e) => e['detail-type'] === type).map((e) => e.id)).size;
    expect(distinct(failed.events, 'Run Failed')).toBe(1);
    expect(failed.r.trace.filter((t) => t.step === 'q' || t.step === 'q2')).toEqual([]);
    const ok = await run('journal', quorum, { chaos });
    expect(ok.r.status).toBe('succeeded');
    expect(ok.r.output).toEqual({ end: 'end' });
    expect(distinct(ok.events, 'Run Succeeded')).toBe(1);
    expect(distinct(ok.events, 'Run Failed')).toBe(0);
    expect(ok.r.trace.filter((t) => t.step === 'q').map((t) => t.status)).toEqual(['succeeded']);
  });
});

describe('joinflow run of workflows/hedged.ts', () => {
  it('runs the example, says when a spared replica failed, and fails the run when agreed cannot get two', () => {
    const state = mkdtempSync(path.join(tmpdir(), 'jf-hedged-'));
    closers.push(() => rmSync(state, { recursive: true, force: true }));
    const fast = { 'replica-a': 0, 'replica-b': 0, 'replica-c': 0 };
    // replica-b fails as soon as its worker runs it, well before the others answer.
    const later = { 'replica-a': 1500, 'replica-c': 1500 };
    let r = joinflow(['run', 'hedged', '--state', state, '--input', JSON.stringify({ fail: ['replica-b'], delays: later })]);
    expect(r.stderr).toMatch(/^failed +replica-b /m);
    expect(r.stderr).toContain('note: 1 step(s) failed or could not run, without failing the run');
    expect(r.code).toBe(0);
    const output = JSON.parse(r.stdout) as { agreed: { replicas: string[] }; first: { replica: string } };
    expect(output.agreed.replicas).toEqual(['replica-a', 'replica-c']);
    expect(['replica-a', 'replica-c']).toContain(output.first.replica);
    r = joinflow(['run', 'hedged', '--state', state, '--input', JSON.stringify({ fail: ['replica-a', 'replica-b'], delays: fast })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error in step "replica-[ab]": NonRetriableStepError: replica-[ab] was told to fail/);
    expect(r.stderr).not.toContain('note:');
  });

  it('counts a step that could never run as failed, and status shows it with 0 attempts', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jf-lost-cli-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'branches.json');
    const state = path.join(dir, 'state');
    // fetchB ends once `joinflow status` shows fetchA failed (the engine has processed its exit):
    // ended first, it would let pick end the run while fetchA still ran.
    const fetchAFailed = `const { execFileSync } = require('node:child_process'); const t = setInterval(() => { try { const s = JSON.parse(execFileSync(process.execPath, [${JSON.stringify(path.join(root, 'bin/joinflow.js'))}, 'status', process.env.JOINFLOW_RUN_ID, '--state', ${JSON.stringify(state)}, '--json'], { encoding: 'utf8' })); if (s.steps.some((x) => x.step === 'fetchA' && x.state === 'failed')) process.exit(0); } catch {} }, 20);`;
    writeFileSync(file, JSON.stringify({
      name: 'branches',
      steps: {
        fetchA: { executor: { type: 'process', command: 'false' } },
        computeA: { needs: ['fetchA'], executor: { type: 'simulate', durationMs: 1 } },
        fetchB: { executor: { type: 'process', command: process.execPath, args: ['-e', fetchAFailed] } },
        pick: { needs: ['computeA', 'fetchB'], wait: 'any', executor: { type: 'simulate', durationMs: 1, output: 'picked' } },
      },
    }));
    const r = joinflow(['run', file, '--state', state, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as RunResult;
    expect(result.steps).toEqual({ total: 4, succeeded: 2, failed: 2, cancelled: 0, retried: 0 });
    const status = joinflow(['status', result.runId, '--state', state]);
    expect(status.stdout).toMatch(/^ {2}failed +computeA +0 attempts\n +NeedsFailed: never ran, a step it needs failed$/m);
    const json = JSON.parse(joinflow(['status', result.runId, '--state', state, '--json']).stdout) as { steps: Array<{ step: string; state: string; attempts: number }> };
    expect(json.steps.find((s) => s.step === 'computeA')).toMatchObject({ state: 'failed', attempts: 0 });
    const plain = joinflow(['run', file, '--state', state]);
    expect(plain.stderr).toContain('note: 2 step(s) failed or could not run, without failing the run (caught by a catch step, or spared by steps that wait for some of their needs)');
  });
});
