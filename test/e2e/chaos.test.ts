// Delivery chaos: every event duplicated (2-3 copies with the same id), shuffled and delayed on
// the bus. The examples and the WfCommons traces must give the clean run's outputs with each
// trigger firing once — the join algorithm counts arrivals, never deliveries (DESIGN.md,
// "Failure semantics").
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRandom, formatChaos, parseChaos, type ChaosOptions } from '../../src/adapters/local/chaos.ts';
import { createEngine, type Engine, type EngineOptions, type TraceRecord } from '../../src/adapters/local/engine.ts';
import { createLocalBus, type LocalBus } from '../../src/adapters/local/local-bus.ts';
import { compileFile } from '../../src/adapters/local/workflow-files.ts';
import { chaosFromArgs } from '../../src/cli/chaos-option.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import { UsageError } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';

const root = path.resolve(import.meta.dirname, '../..');
const corpus = path.resolve(root, '../shared/corpora/wfcommons');
const traces = readdirSync(corpus).filter((f) => f.endsWith('.json')).sort();
const TIME_SCALE = 0.0002;
const SEEDS = [1, 2, 3];
/** `--chaos duplicate,reorder,delay`: every event 2-3 times, shuffled in windows of 16, each copy held 0-10 ms. */
const CHAOS: ChaosOptions = parseChaos('duplicate,reorder,delay');
const TEXT = 'the quick brown fox\njumps over\nthe lazy dog';

/** `wide`: runs with many events published at once (fan-outs), certain to be reordered on their own. */
type Case = { name: string; plan: TriggerPlan; input: unknown; expected?: unknown; wide: boolean };

/** What the test sees of an engine's bus: what the engine published, and what was delivered. */
type Probe = { published: EventEnvelope[]; deliveries: string[] };

const engines: Engine[] = [];
const dirs: string[] = [];
const cases: Case[] = [];
let clean: { engine: Engine; probe: Probe };
const chaotic = new Map<number, { engine: Engine; probe: Probe }>();

function engineWith(chaos?: ChaosOptions): { engine: Engine; probe: Probe } {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'jf-chaos-'));
  dirs.push(stateDir);
  // `chaos` is passed on to createLocalBus by the engine (EngineOptions.chaos).
  const options: EngineOptions & { chaos?: ChaosOptions } = { root, stateDir, trace: true, timeScale: TIME_SCALE, ...(chaos ? { chaos } : {}) };
  const engine = createEngine(options);
  engines.push(engine);
  for (const c of cases) engine.register(c.plan);
  return { engine, probe: probeBus(engine.bus) };
}

/** Records publish order by wrapping publish, and deliveries with a catch-all subscriber. */
function probeBus(bus: LocalBus): Probe {
  const probe: Probe = { published: [], deliveries: [] };
  const publish = bus.publish.bind(bus);
  bus.publish = (events) => {
    for (const e of events) probe.published.push(e);
    return publish(events);
  };
  bus.subscribe(null, (events) => {
    for (const e of events) probe.deliveries.push(e.id);
  });
  return probe;
}

const ofRun = (events: EventEnvelope[], runId: string) => events.filter((e) => (e.detail as { runId?: unknown }).runId === runId);
const unit = (d: { step?: unknown; item?: unknown; attempt?: unknown }) => `${String(d.step)}#${String(d.item ?? '')}#${String(d.attempt ?? '')}`;

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

/** Whether some value comes after a larger one (publish indexes in delivery order). */
function outOfOrder(indexes: number[]): boolean {
  return indexes.some((v, i) => i > 0 && v < indexes[i - 1]!);
}

/** Steps never start before every execution of each of their predecessors has ended. */
function expectCausalOrder(plan: TriggerPlan, trace: TraceRecord[]): void {
  const lastEnd = new Map<string, number>();
  for (const t of trace) lastEnd.set(t.step, Math.max(lastEnd.get(t.step) ?? 0, t.end));
  for (const t of trace) {
    for (const parent of plan.steps[t.step]!.needs) {
      expect(lastEnd.has(parent), `${t.step} ran, its predecessor ${parent} never did`).toBe(true);
      expect(t.start, `${t.step}${t.item === undefined ? '' : `[${t.item}]`} started before ${parent} ended`).toBeGreaterThanOrEqual(lastEnd.get(parent)!);
    }
  }
}

beforeAll(async () => {
  const file = (f: string) => compileFile(path.join(root, f), root);
  cases.push(
    { name: 'diamond', plan: await file('workflows/diamond.ts'), input: { x: 1 }, expected: { nodeC: { sum: 12 } }, wide: false },
    { name: 'fanout', plan: await file('workflows/fanout.ts'), input: { n: 50 }, expected: { count: 50, sum: 40_425 }, wide: true },
    { name: 'text-stats', plan: await file('workflows/text-stats.yaml'), input: { text: TEXT }, expected: { report: { words: 9, lines: 3 } }, wide: false },
  );
  for (const f of traces) {
    const { workflow } = importWfCommons(JSON.parse(readFileSync(path.join(corpus, f), 'utf8')));
    // A canned output per task, so that the run output (the sinks' outputs) says which ran.
    for (const [id, step] of Object.entries(workflow.steps)) {
      if (step.executor.type === 'simulate') step.executor = { ...step.executor, output: { task: id } };
    }
    cases.push({ name: f, plan: compileWorkflow(workflow, { source: `corpora/${f}` }), input: null, wide: true });
  }
  clean = engineWith();
  for (const seed of SEEDS) chaotic.set(seed, engineWith({ ...CHAOS, seed }));
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('every event duplicated and reordered: same outputs, each trigger fired once', () => {
  it('covers the three examples and the five WfCommons traces', () => {
    expect(traces).toHaveLength(5);
    expect(cases.map((c) => c.name).slice(0, 3)).toEqual(['diamond', 'fanout', 'text-stats']);
  });

  it('createEngine({ chaos }) hands the options to its bus', async () => {
    for (const { engine } of chaotic.values()) {
      // Not from joinflow, so the processor ignores it.
      await engine.bus.publish([{ id: 'probe', source: 'test', 'detail-type': 'Probe', time: '', detail: {} }]);
      await engine.bus.idle();
      expect(engine.bus.duplicated, 'EngineOptions.chaos must reach createLocalBus(onError, chaos) in engine.ts').toBeGreaterThan(0);
    }
  });

  it.each(['diamond', 'fanout', 'text-stats', ...traces])('%s', async (name) => {
    const c = cases.find((x) => x.name === name)!;
    const base = await clean.engine.run(c.plan.workflow, c.input);
    expect(base.status).toBe('succeeded');
    if (c.expected !== undefined) expect(base.output).toEqual(c.expected);
    else {
      const sinks = 'sinks' in c.plan.output ? c.plan.output.sinks : [c.plan.output.step];
      expect(base.output).toEqual(Object.fromEntries(sinks.map((s) => [s, { task: s }])));
    }
    const units = [...countBy(base.trace, (t) => unit(t)).keys()].sort();
    expect(units).toHaveLength(base.steps.total);

    const reordered: number[] = [];
    for (const seed of SEEDS) {
      const { engine, probe } = chaotic.get(seed)!;
      const why = `${name}, seed ${seed} (replay: --chaos ${formatChaos({ ...CHAOS, seed })})`;
      const r = await engine.run(c.plan.workflow, c.input);
      // Let late copies of this run's events arrive too: they must change nothing.
      await engine.bus.idle();

      expect(r.status, why).toBe('succeeded');
      expect(r.output, why).toEqual(base.output);
      expect(r.steps, why).toEqual(base.steps);
      // One execution per step / item, each succeeded, and the same ones as the clean run.
      expect(r.trace.every((t) => t.status === 'succeeded' && t.attempt === 1), why).toBe(true);
      expect([...countBy(r.trace, (t) => unit(t)).entries()].filter(([, n]) => n !== 1), why).toEqual([]);
      expect(r.trace.map((t) => unit(t)).sort(), why).toEqual(units);
      expectCausalOrder(c.plan, r.trace);

      // Each trigger fired once: one Step Started per unit, one Run Succeeded, and exactly the
      // clean run's number of events — a trigger that fired twice would have published more.
      const published = ofRun(probe.published, r.runId);
      expect(published, why).toHaveLength(base.events);
      expect(r.events, why).toBe(base.events);
      const started = countBy(published.filter((e) => e['detail-type'] === 'Step Started'), (e) => unit(e.detail as object));
      expect([...started.keys()].sort(), why).toEqual(units);
      expect([...started.values()].every((n) => n === 1), why).toBe(true);
      expect(published.filter((e) => e['detail-type'] === 'Run Succeeded'), why).toHaveLength(1);

      // The chaos happened: every event of the run was delivered 2 or 3 times ...
      const index = new Map(published.map((e, i) => [e.id, i]));
      const delivered = probe.deliveries.filter((id) => index.has(id)).map((id) => index.get(id)!);
      const copies = countBy(delivered, String);
      expect(published.map((_, i) => copies.get(String(i)) ?? 0).filter((n) => n < 2 || n > 3), why).toEqual([]);
      // ... and out of publish order: some delivery came after that of a later-published event.
      // Wide runs show it even in first deliveries; a small run (a handful of events, one step
      // after another) can come through in order by chance, so it counts over the three seeds.
      if (outOfOrder(delivered)) reordered.push(seed);
      if (c.wide) expect(outOfOrder([...new Set(delivered)]), `${why}: first deliveries in publish order`).toBe(true);
    }
    expect(reordered.length, `${name}: every copy delivered in publish order with seeds ${SEEDS.join(', ')}`).toBeGreaterThan(0);
  });

  it('the clean engine delivered each event once in publish order; the chaotic ones every copy, no dead letters', async () => {
    await clean.engine.bus.idle();
    expect(clean.engine.bus.duplicated).toBe(0);
    expect(clean.engine.bus.delivered).toBe(clean.engine.bus.published);
    expect(clean.probe.deliveries).toEqual(clean.probe.published.map((e) => e.id));
    for (const { engine } of chaotic.values()) {
      await engine.bus.idle();
      expect(engine.bus.duplicated).toBeGreaterThanOrEqual(engine.bus.published);
      expect(engine.bus.delivered).toBe(engine.bus.published + engine.bus.duplicated);
      expect(engine.deadLetters).toEqual([]);
    }
    expect(clean.engine.deadLetters).toEqual([]);
  });
});

describe('--chaos syntax', () => {
  it('reads bare names as their defaults and values as given', () => {
    expect(parseChaos('duplicate,reorder,delay')).toEqual({ duplicate: 1, reorder: 16, delayMs: 10 });
    expect(parseChaos('duplicate=0.5, reorder=32,delay=20,seed=7,crash-at=100')).toEqual({ duplicate: 0.5, reorder: 32, delayMs: 20, seed: 7, crashAt: 100 });
    expect(parseChaos('reorder')).toEqual({ reorder: 16 });
  });

  it.each([
    ['dup', /unknown chaos item "dup" \(valid: duplicate\[=P\], reorder\[=N\], delay\[=MS\], seed=N, crash-at=N\)/],
    ['duplicate=2', /"duplicate=2": the value must be a number from 0 to 1/],
    ['reorder=1.5', /"reorder=1.5": the value must be a whole number >= 1/],
    ['delay=-1', /"delay=-1"/],
    ['seed', /"seed" needs a value/],
    ['crash-at=0', /"crash-at=0": the value must be a whole number >= 1/],
    ['duplicate,duplicate=0.5', /"duplicate" is given twice/],
    ['duplicate,', /empty item/],
    ['', /empty chaos list/],
  ])('rejects %j', (spec, message) => {
    expect(() => parseChaos(spec)).toThrow(UsageError);
    expect(() => parseChaos(spec)).toThrow(message);
  });

  it('chaosFromArgs: absent flag is no chaos, errors name the flag, a seed is always chosen', () => {
    expect(chaosFromArgs(undefined)).toBeUndefined();
    expect(() => chaosFromArgs('shake')).toThrow(/^--chaos: unknown chaos item "shake"/);
    const options = chaosFromArgs('duplicate')!;
    expect(options.duplicate).toBe(1);
    expect(Number.isInteger(options.seed)).toBe(true);
    expect(parseChaos(formatChaos(options))).toEqual(options);
    expect(chaosFromArgs('duplicate,seed=9')).toEqual({ duplicate: 1, seed: 9 });
  });
});

describe('chaotic local bus', () => {
  const events = (n: number): EventEnvelope[] =>
    Array.from({ length: n }, (_, i) => ({ id: `e${i}`, source: 'test', 'detail-type': 'Probe', time: '', detail: { i } }));

  async function deliver(bus: LocalBus, batch: EventEnvelope[]): Promise<Array<{ id: string; detail: unknown }>> {
    const seen: Array<{ id: string; detail: unknown }> = [];
    bus.subscribe(null, (es) => void seen.push(...es.map((e) => ({ id: e.id, detail: e.detail }))));
    await bus.publish(batch);
    await bus.idle();
    return seen;
  }

  it('replays the same deliveries for the same seed, and others for another seed', async () => {
    const options = { duplicate: 0.5, reorder: 16 };
    const a = await deliver(createLocalBus(undefined, { ...options, seed: 7 }), events(60));
    const b = await deliver(createLocalBus(undefined, { ...options, seed: 7 }), events(60));
    const c = await deliver(createLocalBus(undefined, { ...options, seed: 8 }), events(60));
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    // Copies are redeliveries: same id, same detail.
    for (const d of a) expect(d.detail).toEqual({ i: Number(d.id.slice(1)) });
    expect(new Set(a.map((d) => d.id)).size).toBe(60);
    expect(a.length).toBeGreaterThan(60);
  });

  it('shuffles only within windows of `reorder` events', async () => {
    const seen = await deliver(createLocalBus(undefined, { reorder: 8, seed: 3 }), events(64));
    const positions = seen.map((d) => Number(d.id.slice(1)));
    expect(positions).not.toEqual([...positions].sort((x, y) => x - y));
    positions.forEach((p, i) => expect(Math.floor(p / 8)).toBe(Math.floor(i / 8)));
  });

  it('idle() waits for delayed copies', async () => {
    const bus = createLocalBus(undefined, { duplicate: 1, delayMs: 40, seed: 5 });
    const seen = await deliver(bus, events(20));
    expect(seen.length).toBe(bus.published + bus.duplicated);
    expect(bus.delivered).toBe(seen.length);
    expect(bus.duplicated).toBeGreaterThanOrEqual(20);
  });

  it('stays clean without disturbing options (only crash-at, which the engine handles)', async () => {
    const bus = createLocalBus(undefined, { crashAt: 3 });
    const seen = await deliver(bus, events(40));
    expect(seen.map((d) => d.id)).toEqual(events(40).map((e) => e.id));
    expect(bus.duplicated).toBe(0);
  });

  it('seeded generator: reproducible, in [0, 1), seeds differ', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(createRandom(43)()).not.toBe(xs[0]);
    // Roughly uniform: a broken generator (constant, or stuck in a short cycle) fails this.
    expect(new Set(xs.map((x) => Math.floor(x * 10))).size).toBe(10);
  });
});
