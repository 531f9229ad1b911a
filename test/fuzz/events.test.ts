/**
 * Fuzzes the embedded engine's event intake: >= 10,000 generated, mutated, replayed and forged
 * events published on one engine's bus while real runs execute. The engine must never stop or
 * throw, every event the oracle (event-cases.ts) says is unprocessable must be dead-lettered with
 * a reason naming the problem, nothing else may be dead-lettered, and every real run must still
 * succeed with its exact output.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine, type RunResult } from '../../src/adapters/local/engine.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { plan } from '../helpers/plans.ts';
import { DIAMOND, EventFuzzer, EXPECTED_OUTPUT, FAN, World, type Verdict } from './event-cases.ts';
import { Random } from './random.ts';
import { deep, DEEP_LEVELS } from './weird-values.ts';

const SEED = 0xe7e475;
const EVENTS = 10_500;
const REAL_RUNS = 120;
const WORKFLOWS = ['fz-diamond', 'fz-fan'] as const;

type Published = { label: string; group: string; verdict: Verdict };

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Resolves once `engine` has started `step` of run `runId` (its Step Started came on the bus). */
function stepStarted(engine: Engine, runId: string, step: string): Promise<void> {
  return new Promise((resolve) => {
    const off = engine.bus.subscribe(null, (events) => {
      const d = (e: EventEnvelope) => e.detail as { runId?: unknown; step?: unknown };
      if (!events.some((e) => e['detail-type'] === 'Step Started' && d(e).runId === runId && d(e).step === step)) return;
      off();
      resolve();
    });
  });
}

describe('fuzzing the events an engine receives', () => {
  it(`dead-letters every bad event of ${EVENTS}, ignores or accepts the rest, and keeps ${REAL_RUNS} concurrent runs exact`, async () => {
    const crashes: string[] = [];
    const onRejection = (reason: unknown) => crashes.push(`unhandled rejection: ${String((reason as Error)?.stack ?? reason).slice(0, 500)}`);
    const onException = (error: Error) => crashes.push(`uncaught exception: ${String(error?.stack ?? error).slice(0, 500)}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    // The bus reports subscriber failures (an engine batch that threw) on console.error.
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    cleanups.push(() => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      consoleError.mockRestore();
    });

    const engine = createEngine({ timeScale: 1 });
    cleanups.push(() => engine.close());
    engine.register(plan(DIAMOND));
    engine.register(plan(FAN));

    const world = new World();
    const rng = new Random(SEED);
    const mine = new WeakSet<object>();
    const captured: EventEnvelope[] = [];
    /** The engine's own event objects: an exact replay of one is trusted (no size check). */
    const own = new WeakSet<object>();
    /** Real runs whose Run Requested the engine has not processed yet: the fuzzer leaves them alone. */
    const pending = new Map<string, string>();
    engine.bus.subscribe(null, (events) => {
      for (const e of events) {
        if (typeof e !== 'object' || e === null || mine.has(e) || e.source !== 'joinflow') continue;
        if (!['Run Requested', 'Step Completed', 'Step Failed'].includes(e['detail-type'])) continue;
        captured.push(e);
        own.add(e);
        // Subscribers see a batch after the engine has processed it: from now on the run exists,
        // and anything published next is processed after its start.
        const runId = (e.detail as { runId?: unknown }).runId;
        const workflow = typeof runId === 'string' ? pending.get(runId) : undefined;
        if (e['detail-type'] === 'Run Requested' && workflow !== undefined) {
          pending.delete(runId as string);
          world.runs.set(runId as string, workflow);
          world.real.add(runId as string);
          world.running.add(runId as string);
        }
      }
      if (captured.length > 4000) captured.splice(0, 2000);
    });
    const fuzzer = new EventFuzzer(rng, world, captured);

    // Expected outcomes, by event: objects by identity, primitives by value (a list per key).
    const expected = new Map<unknown, Published[]>();
    const counts = { 'dead-letter': 0, accepted: 0, ignored: 0 };
    const groups = new Map<string, number>();
    const outcomes: Array<Promise<{ workflow: string; runId: string; result: RunResult }>> = [];
    let published = 0;
    let started = 0;
    const startReal = () => {
      const workflow = WORKFLOWS[started % 2]!;
      const runId = `real-${workflow}-${started++}`;
      pending.set(runId, workflow);
      outcomes.push(engine.run(workflow, { n: started }, { runId }).then((result) => {
        world.running.delete(runId);
        return { workflow, runId, result };
      }));
    };

    const t0 = Date.now();
    while (published < EVENTS) {
      if (started < REAL_RUNS && (rng.chance(0.3) || world.running.size + pending.size === 0)) startReal();
      const batch: unknown[] = [];
      for (let n = rng.range(1, 40); n > 0; n--) {
        const g = fuzzer.next();
        const verdict = world.judge(g.event, typeof g.event === 'object' && g.event !== null && own.has(g.event));
        world.apply(verdict);
        counts[verdict.kind]++;
        groups.set(g.group, (groups.get(g.group) ?? 0) + 1);
        if (typeof g.event === 'object' && g.event !== null) mine.add(g.event);
        const list = expected.get(g.event) ?? [];
        list.push({ label: g.label, group: g.group, verdict });
        expected.set(g.event, list);
        batch.push(g.event);
      }
      // One batch, or one publish per event; the bus takes whatever it is given.
      if (rng.chance(0.5)) void engine.bus.publish(batch as EventEnvelope[]);
      else for (const e of batch) void engine.bus.publish([e as EventEnvelope]);
      published += batch.length;
      if (rng.chance(0.6)) await tick();
      else await sleep(rng.int(3));
    }
    while (started < REAL_RUNS) startReal();

    const results = await Promise.race([Promise.all(outcomes), sleep(30_000).then(() => undefined)]);
    expect(results, `real runs still unfinished after 30 s: ${[...world.running].slice(0, 10).join(', ')}`).toBeDefined();
    await engine.bus.idle();
    const fuzzMs = Date.now() - t0;

    // The engine still works: a fresh run of each workflow.
    for (const workflow of WORKFLOWS) {
      const fresh = await engine.run(workflow, null, { runId: `fresh-${workflow}` });
      expect(fresh.status).toBe('succeeded');
      expect(fresh.output).toEqual(EXPECTED_OUTPUT[workflow]);
    }
    await engine.bus.idle();

    expect(results!).toHaveLength(REAL_RUNS);
    const failures = results!
      .filter((r) => r.result.status !== 'succeeded' || JSON.stringify(r.result.output) !== JSON.stringify(EXPECTED_OUTPUT[r.workflow]))
      .map((r) => `real run ${r.runId} ended ${r.result.status}: ${JSON.stringify(r.result.output ?? r.result.error).slice(0, 200)}`);

    // Match every dead letter to the event it names.
    const letters = engine.deadLetters;
    expect(letters.length, 'the dead-letter list is capped at 10,000: keep the fuzzing under it').toBeLessThan(10_000);
    for (const { event, reason } of letters) {
      const entry = expected.get(event)?.shift();
      if (entry === undefined) {
        failures.push(`dead-lettered an event the test did not publish (${describeEvent(event)}): ${reason.slice(0, 200)}`);
        continue;
      }
      if (typeof reason !== 'string' || reason.length === 0) failures.push(`${entry.label}: empty reason`);
      else if (entry.verdict.kind === 'accepted' && entry.verdict.unless?.some((all) => all.every((re) => re.test(reason)))) continue;
      else if (entry.verdict.kind !== 'dead-letter') failures.push(`${entry.label}: expected ${entry.verdict.kind}, but dead-lettered: ${reason.slice(0, 200)}`);
      else if (!entry.verdict.alternatives.some((all) => all.every((re) => re.test(reason)))) {
        failures.push(`${entry.label}: reason "${reason.slice(0, 200)}" does not name the problem (${entry.verdict.alternatives.map((a) => a.join(' & ')).join(' | ')})`);
      }
    }
    for (const list of expected.values()) {
      for (const entry of list) if (entry.verdict.kind === 'dead-letter') failures.push(`${entry.label}: not dead-lettered`);
    }
    console.log(`event fuzzing: ${published} events in ${fuzzMs} ms with ${REAL_RUNS} real runs; ` +
      `dead-lettered ${letters.length} (expected ${counts['dead-letter']}), accepted ${counts.accepted}, ignored ${counts.ignored}; ` +
      `by kind: ${[...groups].map(([k, v]) => `${k} ${v}`).join(', ')}; ${world.fuzzRuns.length} runs started by fuzzed Run Requested`);
    expect(failures.slice(0, 30)).toEqual([]);

    expect(crashes).toEqual([]);
    expect(consoleError.mock.calls.map((c) => String(c[0]).slice(0, 300))).toEqual([]);
    // Every kind of event was exercised, and all three outcomes occurred in numbers.
    expect(published).toBeGreaterThanOrEqual(10_000);
    for (const group of ['malformed', 'run-requested', 'mutated-step', 'replay', 'forged', 'ignored']) expect(groups.get(group) ?? 0).toBeGreaterThan(200);
    expect(counts['dead-letter']).toBeGreaterThan(3000);
    expect(counts.accepted).toBeGreaterThan(1000);
    expect(counts.ignored).toBeGreaterThan(500);
  });
});

describe('step events that do not fit the run they name', () => {
  it('are dead-lettered with the reason, and the runs they name end exactly as without them', async () => {
    const engine = createEngine();
    cleanups.push(() => engine.close());
    // The same shapes, with one slow step each so that both runs are still running below.
    const slow = (output: unknown) => ({ type: 'simulate' as const, durationMs: 1000, output });
    engine.register(plan({ ...DIAMOND, name: 'pin-diamond', steps: { ...DIAMOND.steps, a: { executor: slow({ a: 1 }) } } }));
    engine.register(plan({ ...FAN, name: 'pin-fan', steps: { ...FAN.steps, tail: { needs: ['split'], executor: slow({ t: '🚀' }) } } }));
    const running = Promise.all([stepStarted(engine, 'pd', 'a'), stepStarted(engine, 'pf', 'tail')]);
    const diamond = engine.run('pin-diamond', null, { runId: 'pd' });
    const fan = engine.run('pin-fan', null, { runId: 'pf' });
    await running;
    const error = { type: 'Error', message: 'forged' };
    const ref = (workflow: string, runId: string, step: string) => ({ workflow, runId, step, attempt: 1 });
    const events = [
      // Another workflow's steps, aimed at a run: they used to drive the run with the wrong plan.
      { ...ref('pin-fan', 'pd', 'split'), output: [1] },
      { ...ref('pin-fan', 'pd', 'tail'), error, retrying: false },
      // An item on a step without forEach: a retry of it threw a TypeError in the processor.
      { ...ref('pin-diamond', 'pd', 'a'), item: 0, error, retrying: true },
      // A retrying failure of a whole forEach step: it re-ran the step without an item.
      { ...ref('pin-fan', 'pf', 'square'), error, retrying: true },
    ].map((detail, i) => ({ id: `pin-${i}`, source: 'joinflow', 'detail-type': 'error' in detail ? 'Step Failed' : 'Step Completed', time: '', detail }));
    await engine.bus.publish(events);
    await engine.bus.idle();
    expect(engine.deadLetters.map((d) => [(d.event as { id: string }).id, d.reason])).toEqual([
      ['pin-0', 'run "pd" belongs to workflow "pin-diamond", not "pin-fan"'],
      ['pin-1', 'run "pd" belongs to workflow "pin-diamond", not "pin-fan"'],
      ['pin-2', 'invalid Step Failed detail: item: step "a" has no forEach, so its events carry no item'],
      ['pin-3', 'invalid Step Failed detail: item: step "square" runs once per item (forEach): a retrying failure must name its item'],
    ]);
    const [d, f] = await Promise.all([diamond, fan]);
    expect([d.status, d.output]).toEqual(['succeeded', EXPECTED_OUTPUT['fz-diamond']]);
    expect([f.status, f.output]).toEqual(['succeeded', EXPECTED_OUTPUT['fz-fan']]);
    expect(d.steps.retried + f.steps.retried).toBe(0);
  });
});

describe('null and undefined published as events', () => {
  // Regression: Engine.#resolveRef used to read `event.detail` before the envelope was checked,
  // so these were dead-lettered as "processor error: Cannot read properties of null".
  it('are dead-lettered as malformed envelopes, like any other non-object', async () => {
    const engine = createEngine();
    cleanups.push(() => engine.close());
    engine.register(plan(DIAMOND));
    const unknown = { id: 'u1', source: 'joinflow', 'detail-type': 'Run Requested', time: '', detail: { workflow: 'nope' } };
    await engine.bus.publish([null, undefined, unknown] as unknown as EventEnvelope[]);
    await engine.bus.idle();
    expect(engine.deadLetters.map((d) => [d.event, d.reason.replace(/:.*$/s, '')])).toEqual([
      [null, 'malformed envelope'],
      [undefined, 'malformed envelope'],
      [unknown, 'unknown workflow "nope"'],
    ]);
  });
});

describe('a deeply nested output of a forEach source', () => {
  // Regression: describing a non-array forEach source with JSON.stringify overflowed the stack on
  // deep values after the dispatch was claimed, so the run never moved again.
  it('fails the run with ForEachNotArray instead of crashing the processor', async () => {
    const engine = createEngine();
    cleanups.push(() => engine.close());
    // The split sleeps an hour: only the forged completion below can end the run within the test's timeout.
    engine.register(plan({ ...FAN, name: 'fz-slow-fan', steps: { ...FAN.steps, split: { executor: { type: 'simulate', durationMs: 3_600_000, output: [1] } } } }));
    const started = stepStarted(engine, 'deep', 'split');
    const run = engine.run('fz-slow-fan', null, { runId: 'deep' });
    await started;
    const forged = { id: 'f1', source: 'joinflow', 'detail-type': 'Step Completed', time: '', detail: { workflow: 'fz-slow-fan', runId: 'deep', step: 'split', attempt: 1, output: deep(DEEP_LEVELS, 'object') } };
    await engine.bus.publish([forged as EventEnvelope]);
    const result = await run;
    expect(engine.deadLetters.map((d) => d.reason)).toEqual([]);
    expect(result.status).toBe('failed');
    expect(result.error?.type).toBe('ForEachNotArray');
  });
});

function describeEvent(event: unknown): string {
  if (typeof event !== 'object' || event === null) return String(event).slice(0, 40);
  const e = event as Record<string, unknown>;
  let detail: string;
  try {
    detail = JSON.stringify(e['detail'], (_k, v: unknown) => (typeof v === 'string' ? v.slice(0, 30) : v))?.slice(0, 150) ?? '';
  } catch {
    detail = '(not serializable)';
  }
  return `${String(e['detail-type']).slice(0, 30)} ${detail}`;
}
