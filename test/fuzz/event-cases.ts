/**
 * Events for the engine fuzz test: two simulate-step workflows, an oracle that says from the
 * README's event model alone what the engine must do with any event (dead-letter it with a
 * reason naming the problem, accept it, or ignore it), and a generator of mutated, replayed and
 * forged events. The generator never aims an accepted mutation at a real run: only dead-letters,
 * exact replays and forged events consistent with the run may touch those.
 */
import type { EventEnvelope } from '../../src/model/events.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import type { Random } from './random.ts';
import { deep, DEEP_LEVELS, HUGE, PROTO_KEYS, setOwn, UNICODE, weirdString, weirdValue } from './weird-values.ts';

const retry = { maxAttempts: 3, backoffMs: 0 };
const sim = (durationMs: number, output: unknown) => ({ type: 'simulate' as const, durationMs, output });
const ITEMS = 7;

/** a and b in parallel, c joins them. */
export const DIAMOND: WorkflowInput = {
  name: 'fz-diamond',
  steps: {
    a: { executor: sim(2, { a: 1 }), retry },
    b: { executor: sim(1, 'β'), retry },
    c: { needs: ['a', 'b'], executor: sim(0, { c: [1, 2, 3] }), retry },
  },
};

/** split fans out to 7 square items; tail also needs split. Sinks: square (collected) and tail. */
export const FAN: WorkflowInput = {
  name: 'fz-fan',
  steps: {
    split: { executor: sim(1, Array.from({ length: ITEMS }, (_, i) => i + 1)), retry },
    square: { needs: ['split'], forEach: 'split', executor: sim(1, 'sq'), retry },
    tail: { needs: ['split'], executor: sim(3, { t: '🚀' }), retry },
  },
};

/** The outputs of each step as the executors produce them, and of whole runs. */
const CANNED: Record<string, Record<string, unknown>> = {
  'fz-diamond': { a: { a: 1 }, b: 'β', c: { c: [1, 2, 3] } },
  'fz-fan': { split: Array.from({ length: ITEMS }, (_, i) => i + 1), square: 'sq', tail: { t: '🚀' } },
};
export const EXPECTED_OUTPUT: Record<string, unknown> = {
  'fz-diamond': { c: { c: [1, 2, 3] } },
  'fz-fan': { square: Array(ITEMS).fill('sq'), tail: { t: '🚀' } },
};

const SHAPES = new Map<string, Map<string, { forEach: boolean }>>([
  ['fz-diamond', new Map([['a', { forEach: false }], ['b', { forEach: false }], ['c', { forEach: false }]])],
  ['fz-fan', new Map([['split', { forEach: false }], ['square', { forEach: true }], ['tail', { forEach: false }]])],
]);

/**
 * What the engine must do with an event. A dead letter's reason must match every RegExp of one
 * alternative. An accepted event may instead be dead-lettered for a reason of `unless`, when
 * what decides is the run's state as the engine sees it then (has the fan-out happened yet?).
 */
export type Verdict =
  | { kind: 'dead-letter'; alternatives: RegExp[][] }
  | { kind: 'accepted'; runId: string; creates: boolean; workflow: string; unless?: RegExp[][] }
  | { kind: 'ignored' };

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
// The schemas' int() takes safe integers only: 2^53 + 2 is no count.
const isCount = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
/** Size of a value as JSON, as the engine measures it (unserializable values: 0). */
function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v) ?? '');
  } catch {
    return 0;
  }
}

/** The reason lists zod issues as "field: message", after "...: " or "; ". */
const mentions = (field: string): RegExp => new RegExp(`(?:: |; )${field.replace(/[()]/g, '\\$&')}[.:]`);
const deadLetter = (...alternatives: RegExp[][]): Verdict => ({ kind: 'dead-letter', alternatives });
const IGNORED: Verdict = { kind: 'ignored' };

/** The runs the engine knows, as far as the events published so far imply. */
export class World {
  readonly runs = new Map<string, string>();
  readonly real = new Set<string>();
  readonly running = new Set<string>();
  readonly fuzzRuns: string[] = [];

  /** The oracle: what the README's event model requires for `e`, given the runs so far. */
  judge(e: unknown, own = false): Verdict {
    // Events over the payload limit (1 MB, EventBridge's) are refused before anything else —
    // unless the engine made the very object (an exact replay): it trusts its own events.
    if (!own && jsonBytes(e) > 1024 * 1024) return deadLetter([/^event of \d+ bytes exceeds the size limit of 1048576 bytes$/]);
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return deadLetter([/^malformed envelope: /, mentions('(root)')]);
    const r = e as Record<string, unknown>;
    const d = r['detail'];
    const bad = (['id', 'source', 'detail-type'] as const).filter((k) => !isId(r[k]));
    if (typeof r['time'] !== 'string') bad.push('time' as never);
    if (typeof d !== 'object' || d === null || Array.isArray(d)) bad.push('detail' as never);
    if (bad.length > 0) return deadLetter([/^malformed envelope: /, ...bad.map(mentions)]);
    if (r['source'] !== 'joinflow') return IGNORED;
    const type = r['detail-type'];
    const detail = d as Record<string, unknown>;
    if (type === 'Run Requested') return this.#runRequested(r, detail);
    if (type === 'Step Completed' || type === 'Step Failed') return this.#stepEvent(type, detail);
    return IGNORED;
  }

  /** Records the run a Run Requested creates. */
  apply(v: Verdict): void {
    if (v.kind !== 'accepted' || !v.creates) return;
    this.runs.set(v.runId, v.workflow);
    this.fuzzRuns.push(v.runId);
  }

  #runRequested(r: Record<string, unknown>, d: Record<string, unknown>): Verdict {
    const bad: string[] = [];
    if (!isId(d['workflow'])) bad.push('workflow');
    const runId = d['runId'];
    // A run id names files: letters, digits and _ . : - only (at most 128), and not "." or "..".
    const nameable = (v: unknown) => typeof v === 'string' && v.length <= 128 && /^(?!\.\.?$)[A-Za-z0-9_.:-]+$/.test(v);
    if (runId !== undefined && !nameable(runId)) bad.push('runId');
    if (bad.length > 0) return deadLetter([/^invalid Run Requested detail: /, ...bad.map(mentions)]);
    const workflow = d['workflow'] as string;
    if (!SHAPES.has(workflow)) return deadLetter([/^unknown workflow "/]);
    // Without a runId the event id names the run, so it must be able to.
    if (runId === undefined && !nameable(r['id'])) return deadLetter([/^Run Requested without a runId, and its event id "[^\n]*" cannot name the run \(/]);
    const id = (runId as string | undefined) ?? (r['id'] as string);
    const owner = this.runs.get(id);
    if (owner !== undefined && owner !== workflow) return deadLetter([/already belongs to workflow/]);
    return { kind: 'accepted', runId: id, creates: owner === undefined, workflow };
  }

  #stepEvent(type: string, d: Record<string, unknown>): Verdict {
    const bad = (['workflow', 'runId', 'step'] as const).filter((k) => !isId(d[k])) as string[];
    if (!isCount(d['attempt'], 1)) bad.push('attempt');
    if (d['item'] !== undefined && !isCount(d['item'], 0)) bad.push('item');
    if (type === 'Step Completed' && d['items'] !== undefined && !isCount(d['items'], 0)) bad.push('items');
    if (type === 'Step Failed') {
      const err = d['error'] as Record<string, unknown> | null | undefined;
      if (typeof err !== 'object' || err === null || typeof err['type'] !== 'string' || typeof err['message'] !== 'string') bad.push('error');
      if (typeof d['retrying'] !== 'boolean') bad.push('retrying');
    }
    if (bad.length > 0) return deadLetter([new RegExp(`^invalid ${type} detail: `), ...bad.map(mentions)]);
    const workflow = d['workflow'] as string;
    const shape = SHAPES.get(workflow);
    if (!shape) return deadLetter([/^unknown workflow "/]);
    const step = shape.get(d['step'] as string);
    if (!step) return deadLetter([/has no step "/]);
    const problems: RegExp[][] = [];
    // Only forEach steps have items, and a forEach step is retried item by item.
    if (d['item'] !== undefined && !step.forEach) problems.push([/\bitem\b/, /forEach/]);
    if (step.forEach && d['item'] === undefined && type === 'Step Failed' && d['retrying'] === true) problems.push([/\bitem\b/, /forEach/]);
    const owner = this.runs.get(d['runId'] as string);
    if (owner === undefined) problems.push([/^unknown run "/]);
    else if (owner !== workflow) problems.push([/belongs to workflow/]);
    if (problems.length > 0) return deadLetter(...problems);
    const accepted: Verdict = { kind: 'accepted', runId: d['runId'] as string, creates: false, workflow };
    // An item its fan-out does not have is dead-lettered while the run is running: a completion
    // past the width once the width is known, a failure past it, or any failure before the fan-out.
    const item = d['item'] as number | undefined;
    if (step.forEach && item !== undefined && (item >= ITEMS || type === 'Step Failed')) {
      accepted.unless = [[new RegExp(`^invalid ${type} detail: item: step "square" of run "`), /" (has not fanned out|has 7 items \(its forEach's width\)), so there is no item \d+$/]];
    }
    return accepted;
  }
}

/** One generated event, with a short description for failure messages. */
export type Generated = { event: unknown; label: string; group: string };

/** Most runs the fuzzer creates through Run Requested (the memory store keeps 1,000 finished runs). */
const MAX_FUZZ_RUNS = 250;
const WORKFLOWS = ['fz-diamond', 'fz-fan'] as const;
const STEP_FIELDS = ['workflow', 'runId', 'step', 'attempt', 'item', 'items', 'error', 'retrying', 'output'];
const ODD_COUNTS = [-1, 0, 0.5, 1.5, NaN, Infinity, -0, 1e308, 2 ** 53 + 2, '1', null, 7, 99, 1e9];

/** Generates the fuzz events, judged by `world`. `captured` are engine events that may be replayed. */
export class EventFuzzer {
  readonly #rng: Random;
  readonly #world: World;
  readonly #captured: readonly EventEnvelope[];
  #n = 0;

  constructor(rng: Random, world: World, captured: readonly EventEnvelope[]) {
    this.#rng = rng;
    this.#world = world;
    this.#captured = captured;
  }

  next(): Generated {
    const rng = this.#rng;
    const g = rng.weighted<() => Generated>([
      [14, () => this.#malformed()],
      [12, () => this.#runRequested()],
      [40, () => this.#mutatedStep()],
      [10, () => this.#replay()],
      [12, () => this.#forged()],
      [8, () => this.#ignored()],
    ])();
    return this.#keepRealRunsSafe(g);
  }

  #envelope(type: string, detail: unknown): Record<string, unknown> {
    return { id: `fz-${++this.#n}`, source: 'joinflow', 'detail-type': type, time: new Date(0).toISOString(), detail };
  }

  #malformed(): Generated {
    const rng = this.#rng;
    if (rng.chance(0.25)) {
      // null and undefined are published by events.test.ts on their own (see the known engine bug there).
      const event = rng.pick<unknown>([42, NaN, `str-${this.#n++}`, true, [], [this.#envelope('Step Completed', {})], HUGE, deep(DEEP_LEVELS, 'array'), -0]);
      return { event, label: `not an envelope: ${describeShort(event)}`, group: 'malformed' };
    }
    const e = rng.chance(0.5) ? this.#envelope('Step Completed', this.#validStep('Step Completed')) : this.#envelope('Run Requested', { workflow: rng.pick(WORKFLOWS) });
    const field = rng.pick(['id', 'source', 'detail-type', 'time', 'detail']);
    if (rng.chance(0.3)) delete e[field];
    else if (field === 'detail') e[field] = rng.pick<unknown>([null, [], [1, 2], 'detail', 42, true, deep(DEEP_LEVELS, 'array')]);
    else e[field] = weirdValue(rng, { allowHuge: true });
    return { event: e, label: `envelope ${field} broken`, group: 'malformed' };
  }

  #runRequested(): Generated {
    const rng = this.#rng;
    const w = this.#world;
    const canCreate = w.fuzzRuns.length < MAX_FUZZ_RUNS;
    const workflow = rng.weighted<() => unknown>([
      [canCreate ? 6 : 0, () => rng.pick(WORKFLOWS)],
      [3, () => rng.chance(0.5) ? rng.pick(PROTO_KEYS) : weirdString(rng)],
      [1, () => weirdValue(rng)],
    ])();
    const runId = rng.weighted<() => unknown>([
      [3, () => undefined],
      [3, () => `fz-run-${this.#n++}`],
      [2, () => rng.pick([...w.real, 'x'])],
      [1, () => rng.pick(PROTO_KEYS)],
      [2, () => rng.pick(['', 'a b', '.', '..', '...', 'a'.repeat(129), 'a'.repeat(128), '🚀', 'a\u0000', null, 42, HUGE])],
    ])();
    const detail: Record<string, unknown> = { workflow, input: rng.chance(0.3) ? weirdValue(rng) : { n: 1 } };
    if (runId !== undefined) detail['runId'] = runId;
    if (rng.chance(0.2)) delete detail['workflow'];
    const e = this.#envelope('Run Requested', detail);
    if (rng.chance(0.1)) e['id'] = rng.pick([HUGE, '🚀', 'constructor', '..', '../../x', 'a\nb']);
    // Past the budget of new runs, a request that would create one names an unknown workflow instead.
    const v = w.judge(e);
    if (!canCreate && v.kind === 'accepted' && v.creates) detail['workflow'] = `${v.workflow}-unknown`;
    return { event: e, label: `Run Requested workflow=${describeShort(workflow)} runId=${describeShort(runId)}`, group: 'run-requested' };
  }

  /** A valid step event for a random run (real, created by the fuzzer, or unknown). */
  #validStep(type: 'Step Completed' | 'Step Failed', forWorkflow?: string, forRun?: string): Record<string, unknown> {
    const rng = this.#rng;
    const w = this.#world;
    const workflow = forWorkflow ?? rng.pick(WORKFLOWS);
    const runs = [...w.runs].filter(([, wf]) => wf === workflow).map(([id]) => id);
    const runId = forRun ?? (runs.length > 0 && rng.chance(0.7) ? rng.pick(runs) : `ghost-${rng.int(50)}`);
    const step = rng.pick([...SHAPES.get(workflow)!.keys()]);
    const forEach = SHAPES.get(workflow)!.get(step)!.forEach;
    const d: Record<string, unknown> = { workflow, runId, step, attempt: rng.range(1, 2) };
    if (forEach && (type === 'Step Failed' || rng.chance(0.8))) d['item'] = rng.int(ITEMS);
    if (type === 'Step Completed') {
      d['output'] = forEach && d['item'] === undefined ? Array(ITEMS).fill('sq') : CANNED[workflow]![step];
      if (forEach && d['item'] === undefined) d['items'] = ITEMS;
    } else {
      d['error'] = { type: 'Error', message: rng.pick(UNICODE) };
      d['retrying'] = true;
    }
    return d;
  }

  #mutatedStep(): Generated {
    const rng = this.#rng;
    const type = rng.pick(['Step Completed', 'Step Failed'] as const);
    const d = this.#validStep(type);
    const labels: string[] = [];
    for (let i = rng.range(1, 3); i > 0; i--) {
      const field = rng.pick(STEP_FIELDS);
      const how = rng.weighted<() => string>([
        [3, () => { d[field] = weirdValue(rng); return `${field}=weird`; }],
        [2, () => { delete d[field]; return `no ${field}`; }],
        [3, () => { const f = rng.pick(['attempt', 'item', 'items']); d[f] = rng.pick(ODD_COUNTS); return `${f}=${describeShort(d[f])}`; }],
        [2, () => { d['workflow'] = rng.pick([...WORKFLOWS, 'nope', ...PROTO_KEYS, HUGE, ...UNICODE]); return `workflow=${describeShort(d['workflow'])}`; }],
        [2, () => { d['step'] = rng.pick(['a', 'c', 'split', 'square', 'tail', 'zzz', ...PROTO_KEYS, HUGE, '🚀']); return `step=${describeShort(d['step'])}`; }],
        [2, () => { d['runId'] = rng.pick([...this.#world.real, `ghost-${rng.int(9)}`, ...PROTO_KEYS, HUGE, 'a\u0000']); return `runId=${describeShort(d['runId'])}`; }],
        [1, () => { setOwn(d, rng.pick(PROTO_KEYS), { polluted: true, workflow: 'fz-fan' }); return 'prototype keys'; }],
        [1, () => { d['output'] = rng.pick<unknown>([HUGE, deep(DEEP_LEVELS, 'object'), UNICODE, { [rng.pick(UNICODE)]: HUGE }]); return 'odd output'; }],
        [1, () => { d['retrying'] = rng.chance(0.5); d['error'] = { type: rng.pick(UNICODE), message: HUGE }; return 'failure variant'; }],
      ])();
      labels.push(how);
    }
    // KNOWN BUG (runtime/tasks.ts, see events.test.ts): a deeply nested forEach source crashes the processor.
    if (d['step'] === 'split' && isDeep(d['output'])) d['output'] = HUGE;
    const e = this.#envelope(type, rng.chance(0.05) ? rng.pick<unknown>([[d], JSON.stringify({ workflow: 'x' }), null]) : d);
    return { event: e, label: `${type} ${describeShort(d['workflow'])}/${describeShort(d['runId'])}/${describeShort(d['step'])}: ${labels.join(', ')}`, group: 'mutated-step' };
  }

  /** An engine event published again: the same object, or a copy with a new id or time. */
  #replay(): Generated {
    const rng = this.#rng;
    if (this.#captured.length === 0) return this.#forged();
    const original = rng.pick(this.#captured);
    const event = rng.weighted<() => unknown>([
      [2, () => original],
      [2, () => ({ ...original, id: `fz-${++this.#n}` })],
      [1, () => ({ ...original, time: new Date(1e12).toISOString() })],
    ])();
    return { event, label: `replay of ${original['detail-type']} ${describeShort((original.detail as { step?: unknown }).step)}`, group: 'replay' };
  }

  /**
   * An event consistent with a running real run, possibly early or repeated: a completion with
   * the output the step produces, or a retrying failure of an attempt before the last.
   */
  #forged(): Generated {
    const rng = this.#rng;
    const running = [...this.#world.running];
    if (running.length === 0) return this.#ignored();
    const runId = rng.pick(running);
    const workflow = this.#world.runs.get(runId)!;
    const type = rng.pick(['Step Completed', 'Step Failed'] as const);
    const d = this.#validStep(type, workflow, runId);
    return { event: this.#envelope(type, d), label: `forged ${type} ${workflow}/${runId}/${String(d['step'])}#${String(d['item'] ?? '')}@${String(d['attempt'])}`, group: 'forged' };
  }

  #ignored(): Generated {
    const rng = this.#rng;
    const detail = rng.chance(0.5) ? this.#validStep('Step Completed') : { workflow: rng.pick(WORKFLOWS), runId: rng.pick([...this.#world.real, 'x']), output: 'forged' };
    const e = rng.chance(0.5)
      ? { ...this.#envelope('Step Completed', detail), source: rng.pick(['aws.events', 'JOINFLOW', 'joinflow ', '🚀', 'constructor', HUGE]) }
      : this.#envelope(rng.pick(['Step Started', 'Run Succeeded', 'Run Failed', 'Run Cancelled', 'step completed', 'Step Completed ', '🚀', '__proto__']), detail);
    return { event: e, label: `ignored ${String(e['detail-type']).slice(0, 20)} from ${String(e['source']).slice(0, 20)}`, group: 'ignored' };
  }

  /** A mutation the engine would accept must not be aimed at a real run: point it at a fuzz run or a ghost. */
  #keepRealRunsSafe(g: Generated): Generated {
    if (g.group === 'replay' || g.group === 'forged') return g;
    const v = this.#world.judge(g.event);
    if (v.kind !== 'accepted' || !this.#world.real.has(v.runId) || (g.event as Record<string, unknown>)['detail-type'] === 'Run Requested') return g;
    const d = (g.event as { detail: Record<string, unknown> }).detail;
    const others = this.#world.fuzzRuns.filter((id) => this.#world.runs.get(id) === v.workflow);
    d['runId'] = others.length > 0 ? this.#rng.pick(others) : `ghost-${this.#n}`;
    return { ...g, label: `${g.label} (moved off real run ${v.runId})` };
  }
}

/** Whether `v` is nested 100 levels or more (following first children). */
function isDeep(v: unknown): boolean {
  let depth = 0;
  for (let cur = v; typeof cur === 'object' && cur !== null && depth < 100; depth++) cur = Object.values(cur)[0];
  return depth >= 100;
}

function describeShort(v: unknown): string {
  if (typeof v === 'string') return v.length > 24 ? `${JSON.stringify(v.slice(0, 12))}…(${v.length})` : JSON.stringify(v);
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (v === null || v === undefined || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? `array(${v.length})` : typeof v;
}
