/**
 * Benchmark scenarios; each runs once in its own process (bench/run.ts starts them) and prints
 * one JSON line: {events, steps, ms, peakRssMb, ...extra}.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, type Engine, type EngineOptions } from '../src/adapters/local/engine.ts';
import { openJournalState } from '../src/adapters/local/journal-state.ts';
import { openSqliteState } from '../src/adapters/local/sqlite-state.ts';
import { compileWorkflow, TriggerId } from '../src/compiler/compile.ts';
import { importWfCommons } from '../src/importers/wfcommons.ts';
import { RuleIndex } from '../src/runtime/rule-index.ts';
import { createRandom } from '../src/adapters/local/chaos.ts';
import { DetailType, type EventEnvelope } from '../src/model/events.ts';
import type { PlanStep, Trigger, TriggerPlan } from '../src/model/plan.ts';
import type { WorkflowInput } from '../src/model/workflow.ts';
import { processMakespan } from './process-makespan.ts';

const corpus = path.resolve(import.meta.dirname, '../../shared/corpora/wfcommons');
const sim0 = { type: 'simulate', durationMs: 0 } as const;

type Measurement = { events: number; steps: number; ms: number; peakRssMb: number; [k: string]: unknown };
/** `sqlite`: the durable default (the journal store); `sqlite-rows`: the row store it replaced. */
export type StoreKind = 'memory' | 'sqlite' | 'sqlite-rows';

/** State dirs not removed yet: a scenario that throws never reaches done(), so they go when the process exits. */
const leftDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of leftDirs) rmSync(dir, { recursive: true, force: true });
});

/** An engine on the in-memory store, or on a durable SQLite state in a fresh directory. */
export function makeEngine(kind: StoreKind, options: EngineOptions = {}): { engine: Engine; done(): Promise<{ stateMb?: number }> } {
  if (kind === 'memory') {
    const engine = createEngine(options);
    return { engine, done: async () => (await engine.close(), {}) };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-bench-'));
  leftDirs.add(dir);
  const state = kind === 'sqlite-rows' ? openSqliteState({ dir }) : openJournalState({ dir });
  const engine = createEngine({ ...options, store: state.store, log: state.log });
  return {
    engine,
    async done() {
      await engine.close();
      state.close();
      const bytes = readdirSync(dir).reduce((a, f) => a + statSync(path.join(dir, f)).size, 0);
      rmSync(dir, { recursive: true, force: true });
      leftDirs.delete(dir);
      return { stateMb: Math.round((bytes / 2 ** 20) * 10) / 10 };
    },
  };
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Compiles and runs one workflow on a fresh engine (memory or SQLite) and measures the run. */
export async function runWorkflow(def: WorkflowInput, input: unknown, timeScale = 1, warmUp = false, kind: StoreKind = 'memory'): Promise<Measurement> {
  const plan = compileWorkflow(def, { source: 'bench' });
  const { engine, done } = makeEngine(kind, { timeScale });
  engine.register(plan);
  let coldMs: number | undefined;
  if (warmUp) {
    // A long-lived engine is warm; the first runs in a fresh process also pay for JIT compilation
    // (V8 optimizes over several runs). The first, cold run is reported as coldMs.
    for (let i = 0; i < 3; i++) {
      const c0 = performance.now();
      await engine.run(plan.workflow, input);
      coldMs ??= performance.now() - c0;
    }
  }
  const t0 = performance.now();
  const r = await engine.run(plan.workflow, input);
  const ms = performance.now() - t0;
  const extra = await done();
  if (r.status !== 'succeeded') throw new Error(`${plan.workflow} ${r.status}: ${JSON.stringify(r.error)}`);
  return {
    events: r.events, steps: r.steps.total, ms, peakRssMb: peakRssMb(), criticalPathMs: r.criticalPathMs ?? null,
    ...(coldMs === undefined ? {} : { coldMs }),
    ...extra,
  };
}

/** A chain of 10,000 steps. */
async function chain(kind: StoreKind): Promise<Measurement> {
  const steps: WorkflowInput['steps'] = {};
  for (let i = 0; i < 10_000; i++) steps[`s${i}`] = { needs: i === 0 ? [] : [`s${i - 1}`], executor: sim0 };
  return runWorkflow({ name: 'chain', steps }, null, 1, false, kind);
}

/** Triggerflow's ingestion test: 200 join triggers, each fed 1,000 completion events (200,000). */
async function joins(kind: StoreKind): Promise<Measurement> {
  const triggers = 200;
  const per = 1000;
  const steps: Record<string, PlanStep> = {};
  const planTriggers: Trigger[] = [];
  const retry = { maxAttempts: 1, backoffMs: 100, factor: 2, maxDelayMs: 30_000 };
  for (let t = 0; t < triggers; t++) {
    const sources = Array.from({ length: per }, (_, k) => `s${t}_${k}`);
    for (const s of sources) steps[s] = { needs: [], executor: sim0, retry };
    steps[`j${t}`] = { needs: sources, executor: sim0, retry };
    planTriggers.push({
      id: `j${t}`,
      activation: { source: ['joinflow'], 'detail-type': [DetailType.StepCompleted], detail: { workflow: ['ingest'], step: sources, item: [{ exists: false }] } },
      condition: { type: 'join', need: per, key: 'step' },
      action: { type: 'dispatch', step: `j${t}` },
    });
  }
  const sinks = Array.from({ length: triggers }, (_, t) => `j${t}`);
  planTriggers.push({
    id: TriggerId.succeed,
    activation: { source: ['joinflow'], 'detail-type': [DetailType.StepCompleted], detail: { workflow: ['ingest'], step: sinks, item: [{ exists: false }] } },
    condition: { type: 'join', need: triggers, key: 'step' },
    action: { type: 'succeed-run' },
  });
  const plan: TriggerPlan = {
    version: 1, workflow: 'ingest', source: 'bench', steps, triggers: planTriggers,
    output: { sinks }, stats: { steps: 0, edges: 0, depth: 0, criticalPathMs: null },
  };
  const { engine, done } = makeEngine(kind);
  engine.register(plan);
  const runId = 'ingest-1';
  // The run exists before its events flow in; no trigger starts the sources: we feed them.
  await engine.start('ingest', null, { runId });
  await engine.bus.idle();
  // Events are made in chunks inside the timed window, as a bus would receive them: holding all
  // 200,000 in memory up front would only measure the garbage collector walking them.
  const time = new Date().toISOString();
  const total = triggers * per;
  // Step ids come from the plan, as in the engine's own completion events (not rebuilt per event).
  const names = Array.from({ length: triggers }, (_, t) => (plan.steps[`j${t}`]!.needs));
  await (globalThis as { benchStart?: () => Promise<void> }).benchStart?.();
  const t0 = performance.now();
  for (let k = 0; k < per; k += 10) {
    const chunk: EventEnvelope[] = [];
    for (let kk = k; kk < k + 10; kk++) {
      for (let t = 0; t < triggers; t++) {
        chunk.push({ id: `e${t}_${kk}`, source: 'joinflow', 'detail-type': DetailType.StepCompleted, time, detail: { workflow: 'ingest', runId, step: names[t]![kk]!, attempt: 1, output: null } });
      }
    }
    await engine.bus.publish(chunk);
    await engine.bus.idle();
  }
  const r = await engine.wait(runId);
  const ms = performance.now() - t0;
  const extra = await done();
  if (r.status !== 'succeeded') throw new Error(`ingest ${r.status}`);
  return { events: total, steps: triggers, ms, peakRssMb: peakRssMb(), firedJoins: r.steps.succeeded, ...extra };
}

/** A 320-way map: split -> 320 items -> reduce. */
async function map(kind: StoreKind): Promise<Measurement> {
  return runWorkflow({
    name: 'map320',
    steps: {
      split: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: 320 }, (_, i) => i) } },
      work: { needs: ['split'], forEach: 'split', executor: sim0 },
      reduce: { needs: ['work'], executor: sim0 },
    },
  }, null, 1, false, kind);
}

function trace(file: string, zero: boolean): WorkflowInput {
  const { workflow } = importWfCommons(JSON.parse(readFileSync(path.join(corpus, file), 'utf8')));
  if (zero) for (const s of Object.values(workflow.steps)) s.executor = sim0;
  return workflow;
}

/** The Epigenomics trace (1,695 tasks) with zero durations: pure orchestration cost. */
async function epigenomics(kind: StoreKind): Promise<Measurement> {
  return runWorkflow(trace('epigenomics-chameleon-ilmn-6seq-50k-001.json', true), null, 1, false, kind);
}

/**
 * A WfCommons trace at --time-scale 0.001, unlimited concurrency: makespan vs critical path.
 * Timed on a warm engine (after 3 untimed runs); the first, cold run is reported as coldMs.
 */
async function makespan(file: string): Promise<Measurement> {
  const m = await runWorkflow(trace(file, false), null, 0.001, true);
  const cp = m['criticalPathMs'] as number;
  return { ...m, makespanMs: m.ms, ratio: m.ms / cp, overheadMs: m.ms - cp, targetMs: 1.02 * cp + 50 };
}

/** Memory after many finished runs must not grow with their number. */
async function manyRuns(): Promise<Measurement> {
  const plan = compileWorkflow({
    name: 'small',
    steps: { a: { executor: sim0 }, b: { executor: sim0 }, c: { needs: ['a', 'b'], executor: { type: 'simulate', durationMs: 0, output: 'x'.repeat(1000) } } },
  }, { source: 'bench' });
  const engine = createEngine();
  engine.register(plan);
  const heapAfter = async (runs: number) => {
    for (let i = 0; i < runs; i++) await engine.run('small', { i });
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const t0 = performance.now();
  const after1k = await heapAfter(1000);
  const after5k = await heapAfter(4000);
  const ms = performance.now() - t0;
  await engine.close();
  return { events: 0, steps: 5000 * 3, ms, peakRssMb: peakRssMb(), heapMbAfter1000Runs: after1k, heapMbAfter5000Runs: after5k };
}

/**
 * Pattern matching with many rules: 1,000 rules (exact values, any-of, prefix, suffix, numeric,
 * anything-but, exists, wildcard, $or) over 100,000 events, through the rule index.
 */
async function matching(): Promise<Measurement> {
  const random = createRandom(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const sources = ['joinflow', 'orders', 'billing', 'aws.s3', 'aws.batch'];
  const types = ['Step Completed', 'Step Failed', 'Run Succeeded', 'Order Placed', 'Object Created'];
  const index = new RuleIndex<number>();
  for (let r = 0; r < 1000; r++) {
    const detail: Record<string, unknown> = {};
    switch (r % 8) {
      case 0: detail['workflow'] = [`wf${r % 50}`]; detail['step'] = [`s${r % 200}`, `s${(r + 7) % 200}`]; break;
      case 1: detail['step'] = [{ prefix: `s${r % 20}` }]; break;
      case 2: detail['key'] = [{ suffix: `.${pick(['csv', 'json', 'png'])}` }]; break;
      case 3: detail['amount'] = [{ numeric: ['>', r % 100, '<=', (r % 100) + 50] }]; break;
      case 4: detail['region'] = [{ 'anything-but': ['us-east-1', 'eu-west-1'] }]; break;
      case 5: detail['item'] = [{ exists: r % 2 === 0 }]; detail['workflow'] = [`wf${r % 50}`]; break;
      case 6: detail['key'] = [{ wildcard: `runs/wf${r % 50}/*.json` }]; break;
      default: detail['$or'] = [{ amount: [{ numeric: ['>', 900] }] }, { region: [`r${r % 10}`] }];
    }
    index.add(r, { source: [sources[r % sources.length]!], 'detail-type': [types[r % types.length]!], detail });
  }
  const events = Array.from({ length: 100_000 }, (_, i) => ({
    id: `e${i}`,
    source: pick(sources),
    'detail-type': pick(types),
    time: '',
    detail: {
      workflow: `wf${i % 50}`,
      step: `s${i % 200}`,
      key: `runs/wf${i % 50}/${i}.${pick(['csv', 'json', 'png'])}`,
      amount: i % 1000,
      region: pick(['us-east-1', 'eu-west-1', 'r3', 'r7']),
      ...(i % 3 === 0 ? { item: i % 10 } : {}),
    },
  }));
  const t0 = performance.now();
  let matched = 0;
  for (const e of events) matched += index.match(e).length;
  const ms = performance.now() - t0;
  return { events: events.length, steps: 0, ms, peakRssMb: peakRssMb(), rules: 1000, matches: matched };
}

export const scenarios: Record<string, { store: string; run: () => Promise<Measurement> }> = {
  'match-1000-rules': { store: 'none', run: matching },
  'chain-10000': { store: 'memory', run: () => chain('memory') },
  'joins-200x1000': { store: 'memory', run: () => joins('memory') },
  'map-320': { store: 'memory', run: () => map('memory') },
  'epigenomics-zero': { store: 'memory', run: () => epigenomics('memory') },
  'chain-10000-sqlite': { store: 'sqlite', run: () => chain('sqlite') },
  'joins-200x1000-sqlite': { store: 'sqlite', run: () => joins('sqlite') },
  'map-320-sqlite': { store: 'sqlite', run: () => map('sqlite') },
  'epigenomics-zero-sqlite': { store: 'sqlite', run: () => epigenomics('sqlite') },
  'makespan-montage': { store: 'memory', run: () => makespan('montage-chameleon-2mass-005d-001.json') },
  'makespan-blast': { store: 'memory', run: () => makespan('blast-chameleon-small-001.json') },
  'makespan-seismology': { store: 'memory', run: () => makespan('seismology-chameleon-1000p-001.json') },
  'makespan-epigenomics': { store: 'memory', run: () => makespan('epigenomics-chameleon-ilmn-6seq-50k-001.json') },
  'makespan-1000genome': { store: 'memory', run: () => makespan('1000genome-chameleon-2ch-100k-001.schema14.json') },
  'many-runs': { store: 'memory', run: manyRuns },
  'makespan-montage-process': { store: 'sqlite', run: () => processMakespan('sqlite') },
  'makespan-montage-process-memory': { store: 'memory', run: () => processMakespan('memory') },
};
