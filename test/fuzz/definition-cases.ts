/**
 * Mutated workflow definitions, built deterministically from a seed and a case index (so any case
 * can be rebuilt alone, e.g. to name the one that hung). Each mutation may say what the compiler
 * must answer when it is the only one applied to a valid seed.
 */
import type { ModuleInfo } from '../../src/compiler/validate.ts';
import { deleteAt, describe, fmt, getAt, isPlain, paths, setAt, typeOf, type Path } from './object-paths.ts';
import { caseSeed, Random } from './random.ts';
import { deep, DEEP_LEVELS, HUGE, ID_200, PROTO_KEYS, setOwn, UNICODE, weirdString, weirdValue, WEIRD_NUMBERS } from './weird-values.ts';

type Def = Record<string, unknown>;

/**
 * What a single mutation of a valid seed must produce: a WorkflowDefinitionError with a problem
 * whose "path: message" starts with the string (or matches the RegExp), or a plan.
 */
export type Expectation = { fails: string | RegExp } | { compiles: true };
export type Mutation = { label: string; expect?: Expectation };
/** `json`: only values a JSON/YAML file can hold; deep values become markers the text layer expands. */
export type MutateOptions = { json: boolean };

/** The documented step id and workflow name alphabets (README, "Writing workflows"). */
const STEP_ID = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;
const WORKFLOW_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** In text cases deep values are spliced in after serializing (serializers recurse). */
export const DEEP_MARKER = { object: 'DEEPMARKERobject', array: 'DEEPMARKERarray' } as const;

const sim = (durationMs: number, output?: unknown) => ({ type: 'simulate', durationMs, ...(output === undefined ? {} : { output }) });

/** Valid seeds: the example shapes (diamond, fanout with forEach, process steps, retry/timeoutMs, output). */
export const SEEDS: Readonly<Record<string, Def>> = {
  diamond: {
    name: 'diamond',
    description: 'nodeA and nodeB run in parallel; nodeC needs both',
    steps: {
      nodeA: { executor: sim(5, { a: 2 }) },
      nodeB: { executor: sim(3, { b: 10 }) },
      nodeC: { needs: ['nodeA', 'nodeB'], executor: sim(1, { sum: 12 }) },
    },
  },
  fanout: {
    name: 'fanout',
    steps: {
      split: { executor: sim(0, [1, 2, 3]) },
      square: { needs: ['split'], forEach: 'split', executor: sim(1, 4), retry: { maxAttempts: 3, backoffMs: 10, factor: 2, maxDelayMs: 1000 }, timeoutMs: 5000 },
      sum: { needs: ['square'], executor: sim(0, 14) },
    },
    output: 'sum',
  },
  textStats: {
    name: 'text-stats',
    steps: {
      words: { executor: { type: 'process', command: 'node', args: ['scripts/count.mjs', 'words'] } },
      lines: { executor: { type: 'process', command: 'node', args: ['scripts/count.mjs', 'lines'] } },
      report: {
        needs: ['words', 'lines'],
        executor: { type: 'process', command: 'node', args: ['scripts/report.mjs'], env: { LANG: 'C' }, cwd: 'scripts' },
        retry: { maxAttempts: 2, backoffMs: 50 },
        timeoutMs: 10000,
      },
    },
  },
  pathFan: {
    name: 'path_fan.v2',
    steps: {
      list: { executor: sim(0, { items: [1, 2] }) },
      each: { needs: ['list'], forEach: { step: 'list', path: 'items', maxConcurrency: 1 }, executor: sim(2) },
      'report:all': { needs: ['each', 'list'], description: 'joins both', executor: sim(0, null) },
    },
    output: 'report:all',
  },
  functions: {
    name: 'fn',
    steps: {
      first: { executor: { type: 'function', module: './handler.mjs' } },
      second: { needs: ['first'], executor: { type: 'function', module: './handler.mjs', export: 'other' }, timeoutMs: 1000 },
    },
  },
  mixed: {
    name: 'mixed',
    steps: {
      gpu: { executor: { type: 'batch', image: 'img:1', command: ['run'], gpus: 1, local: { command: 'node', args: ['x.mjs'] } } },
      queue: { needs: ['gpu'], executor: { type: 'container', queue: 'q1', command: 'echo', args: ['hi'] } },
      last: { needs: ['queue', 'gpu'], executor: sim(1), retry: { maxAttempts: 1000, backoffMs: 0, factor: 1, maxDelayMs: 0 } },
    },
  },
  choices: {
    name: 'choices',
    steps: {
      check: { executor: sim(1, { ok: true, n: 3 }) },
      ship: { needs: ['check'], when: { results: { check: { ok: [true] } } }, executor: sim(1) },
      hold: { needs: ['check'], when: { $or: [{ results: { check: { n: [{ numeric: ['<', 2] }] } } }, { input: { hold: [true] } }] }, executor: sim(1), catch: 'rescue' },
      rescue: { executor: sim(1) },
      report: { needs: ['ship', 'hold', 'rescue'], executor: sim(1) },
      any: { needs: ['check', 'report'], executor: sim(1) },
      first: { needs: ['check', 'any'], wait: 'any', executor: sim(1) },
    },
  },
};
const SEED_NAMES = Object.keys(SEEDS);

/** A case for the harness: a JS object for compileWorkflow, or a file for loadDefinition/compileFile. */
export type DefinitionCase =
  | { kind: 'object'; label: string; definition: unknown; modules?: Readonly<Record<string, ModuleInfo>>; expect?: Expectation }
  | { kind: 'text'; label: string; ext: string; text: string | Uint8Array; via: 'loadDefinition' | 'compileFile'; expect?: Expectation };

/** Builds object case `index`: a seed, then 1..4 mutations (an expectation only when there is one). */
export function objectCase(seed: number, index: number, options: MutateOptions = { json: false }): { def: unknown; label: string; expect?: Expectation } {
  const rng = new Random(caseSeed(seed, index));
  const seedName = rng.pick(SEED_NAMES);
  const def = structuredClone(SEEDS[seedName]!) as Def;
  const count = rng.weighted([[6, 1], [2, 2], [1, 3], [1, 4]] as const);
  const labels: string[] = [];
  let expect: Expectation | undefined;
  let root: unknown = def;
  for (let i = 0; i < count; i++) {
    if (typeof root !== 'object' || root === null || Array.isArray(root)) break;
    const name = rng.weighted(MUTATOR_WEIGHTS);
    if (name === 'replaceRoot') {
      root = weirdValue(rng, { ...options, allowDeep: false });
      labels.push(`root replaced by ${describe(root)}`);
      expect = { fails: /^: a workflow must be an object|^(name|steps): / };
      continue;
    }
    const m = MUTATORS[name](rng, root as Def, options);
    labels.push(m.label);
    expect = m.expect;
  }
  return { def: root, label: `${seedName}: ${labels.join('; ')}`, ...(count === 1 && expect ? { expect } : {}) };
}

type MutatorName = keyof typeof MUTATORS | 'replaceRoot';
const MUTATOR_WEIGHTS: ReadonlyArray<readonly [number, MutatorName]> = [
  [14, 'wrongType'], [6, 'missing'], [6, 'extra'], [8, 'cycle'], [5, 'unknownNeed'], [4, 'forEachNonPredecessor'],
  [7, 'renameStep'], [4, 'weirdName'], [3, 'weirdCommand'], [3, 'deepUnknown'], [3, 'deepInput'], [6, 'weirdNumber'],
  [4, 'protoStep'], [3, 'weirdOutput'], [2, 'stepsWrong'], [1, 'replaceRoot'], [4, 'validRename'], [2, 'identity'],
];

const MUTATORS = {
  wrongType(rng: Random, def: Def, o: MutateOptions): Mutation {
    const path = rng.pick(paths(def));
    const value = weirdValue(rng, { json: o.json, allowDeep: !o.json });
    setAt(def, path, value);
    const want = expectedType(def, path);
    const wrong = value !== undefined && want !== undefined && !want.includes(typeOf(value));
    return { label: `wrong type at ${fmt(path)} = ${describe(value)}`, ...(wrong ? { expect: { fails: blame(path) } } : {}) };
  },
  missing(rng: Random, def: Def): Mutation {
    const path = rng.pick(paths(def));
    const required = isRequired(def, path);
    deleteAt(def, path);
    return { label: `removed ${fmt(path)}`, ...(required ? { expect: { fails: blame(path) } } : {}) };
  },
  extra(rng: Random, def: Def, o: MutateOptions): Mutation {
    const targets = strictObjects(def);
    const path = rng.pick(targets);
    const node = getAt(def, path) as Def;
    const key = rng.chance(0.3) ? rng.pick(PROTO_KEYS) : weirdString(rng, false);
    if (Object.hasOwn(node, key) || KNOWN_FIELDS.has(key)) return { label: `extra key ${describe(key)} skipped` };
    setOwn(node, key, weirdValue(rng, { json: o.json, allowDeep: false }));
    return { label: `extra key ${describe(key)} at ${fmt(path)}`, expect: { fails: `${fmt(path)}: Unrecognized key` } };
  },
  cycle(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const k = rng.range(1, 5);
    for (let i = 0; Object.keys(steps).length < k; i++) steps[`cyc${i}`] = { executor: sim(0) };
    const members = rng.shuffle(Object.keys(steps)).slice(0, k);
    members.forEach((id, i) => {
      const step = steps[id] as Def;
      step['needs'] = [...needsOf(step), members[(i + 1) % k]!];
    });
    return { label: `cycle of ${k}: ${members.join(' -> ')}`, expect: { fails: k === 1 ? /cannot need itself/ : /^steps: cycle: / } };
  },
  unknownNeed(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(Object.keys(steps));
    const ids = Object.keys(steps);
    const need = rng.weighted<() => string>([
      [3, () => `${rng.pick(ids).toLowerCase()}x`],
      [2, () => rng.pick(ids).toUpperCase() + rng.pick(ids).toUpperCase()],
      [3, () => weirdString(rng)],
      [1, () => `${HUGE}y`],
    ])();
    if (ids.includes(need)) return { label: 'unknown need skipped' };
    const needs = [...needsOf(steps[id] as Def), need];
    (steps[id] as Def)['needs'] = needs;
    return { label: `${id} needs unknown ${describe(need)}`, expect: { fails: `steps.${id}.needs[${needs.length - 1}]: ` } };
  },
  forEachNonPredecessor(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(Object.keys(steps));
    const needs = needsOf(steps[id] as Def);
    const others = Object.keys(steps).filter((s) => !needs.includes(s));
    const over = others.length > 0 && rng.chance(0.7) ? rng.pick(others) : weirdString(rng);
    if (needs.includes(over)) return { label: 'forEach skipped' };
    (steps[id] as Def)['forEach'] = rng.chance(0.5) ? over : { step: over, path: rng.pick(['items', 'a.b', '__proto__.x']) };
    return { label: `${id} forEach over non-predecessor ${describe(over)}`, expect: { fails: `steps.${id}.forEach` } };
  },
  renameStep(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const from = rng.pick(Object.keys(steps));
    const to = rng.chance(0.2) ? rng.pick(PROTO_KEYS) : weirdString(rng);
    if (Object.hasOwn(steps, to)) return { label: 'rename skipped' };
    const refs = rng.chance(0.6);
    renameIn(def, from, to, refs);
    const referenced = !refs && isReferenced(def, from);
    const valid = STEP_ID.test(to) && to !== '__proto__';
    const expect: Expectation = valid && !referenced ? { compiles: true } : { fails: valid ? /unknown step/ : `steps.${to}` };
    return { label: `renamed step ${from} to ${describe(to)}${refs ? ' (and its references)' : ''}`, expect };
  },
  weirdName(rng: Random, def: Def): Mutation {
    const name = rng.chance(0.3) ? rng.pick(PROTO_KEYS) : weirdString(rng);
    def['name'] = name;
    return { label: `name ${describe(name)}`, expect: WORKFLOW_NAME.test(name) ? { compiles: true } : { fails: 'name: ' } };
  },
  weirdCommand(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(Object.keys(steps));
    const command = rng.chance(0.5) ? rng.pick(UNICODE) : weirdString(rng);
    const [name, value] = [rng.pick(UNICODE), rng.pick(UNICODE)];
    (steps[id] as Def)['executor'] = { type: 'process', command, args: [rng.pick(UNICODE), command], env: { [name]: value } };
    // An env name must be non-empty without "=" or NUL, a value without NUL (they would set another variable, or none).
    const badEnv = !/^[^=\0]+$/.test(name) || value.includes('\0');
    return {
      label: `${id} runs command ${describe(command)}`,
      expect: command === '' ? { fails: `steps.${id}.executor.command: ` } : badEnv ? { fails: `steps.${id}.executor.env` } : { compiles: true },
    };
  },
  deepUnknown(rng: Random, def: Def, o: MutateOptions): Mutation {
    const path = rng.pick(strictObjects(def));
    const kind = rng.chance(0.5) ? 'object' : 'array';
    setOwn(getAt(def, path) as Def, 'nested', o.json ? DEEP_MARKER[kind] : deep(DEEP_LEVELS, kind));
    return { label: `${DEEP_LEVELS} levels of ${kind}s in unknown field ${fmt([...path, 'nested'])}`, expect: { fails: `${fmt(path)}: Unrecognized key` } };
  },
  deepInput(rng: Random, def: Def, o: MutateOptions): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(Object.keys(steps));
    const kind = rng.chance(0.5) ? 'object' : 'array';
    (steps[id] as Def)['executor'] = sim(0, o.json ? DEEP_MARKER[kind] : deep(DEEP_LEVELS, kind, rng.pick(UNICODE)));
    return { label: `${DEEP_LEVELS} levels of ${kind}s as ${id}'s simulated output` };
  },
  weirdNumber(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(Object.keys(steps));
    const step = steps[id] as Def;
    const [field, check] = rng.pick(NUMBER_FIELDS);
    const value = rng.pick(WEIRD_NUMBERS);
    if (field === 'durationMs') step['executor'] = sim(value);
    else if (field === 'timeoutMs') step['timeoutMs'] = value;
    else step['retry'] = { maxAttempts: 2, [field]: value };
    const path = field === 'durationMs' ? `steps.${id}.executor.durationMs` : field === 'timeoutMs' ? `steps.${id}.timeoutMs` : `steps.${id}.retry.${field}`;
    const verdict = check(value);
    const expect: Expectation | undefined = verdict === undefined ? undefined : verdict ? { compiles: true } : { fails: `${path}: ` };
    return { label: `${path} = ${describe(value)}`, ...(expect ? { expect } : {}) };
  },
  protoStep(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const id = rng.pick(PROTO_KEYS);
    if (Object.hasOwn(steps, id)) return { label: 'proto step skipped' };
    setOwn(steps, id, { executor: sim(0, { [id]: 1 }) });
    const dependent = rng.pick(Object.keys(steps).filter((s) => s !== id));
    const d = steps[dependent] as Def;
    d['needs'] = [...needsOf(d), id];
    return { label: `step ${id} (own property), needed by ${dependent}`, expect: id === '__proto__' ? { fails: 'steps.__proto__: ' } : { compiles: true } };
  },
  weirdOutput(rng: Random, def: Def): Mutation {
    const out = rng.chance(0.5) ? weirdString(rng) : weirdValue(rng, { allowDeep: false, json: true });
    def['output'] = out;
    const known = typeof out === 'string' && Object.hasOwn(stepsOf(def), out) && STEP_ID.test(out) && out !== '__proto__';
    return { label: `output ${describe(out)}`, ...(known ? {} : { expect: { fails: 'output: ' } }) };
  },
  stepsWrong(rng: Random, def: Def): Mutation {
    def['steps'] = rng.pick([[], {}, 'steps', null, 0, [{ executor: sim(0) }]]);
    return { label: `steps = ${describe(def['steps'])}`, expect: { fails: 'steps: ' } };
  },
  validRename(rng: Random, def: Def): Mutation {
    const steps = stepsOf(def);
    const from = rng.pick(Object.keys(steps));
    const to = rng.pick([ID_200, 'a.b:c-d_e', '0', '_', `n${rng.int(1e6)}`, 'constructor', 'toString']);
    if (Object.hasOwn(steps, to)) return { label: 'valid rename skipped' };
    renameIn(def, from, to, true);
    return { label: `renamed step ${from} to valid ${describe(to)}`, expect: { compiles: true } };
  },
  identity(): Mutation {
    return { label: 'unchanged', expect: { compiles: true } };
  },
};

/** [field, validity check]: true = valid, false = invalid, undefined = depends on the schema's details. */
const NUMBER_FIELDS: ReadonlyArray<readonly [string, (n: number) => boolean | undefined]> = [
  ['durationMs', (n) => Number.isFinite(n) && n >= 0],
  ['timeoutMs', (n) => (Number.isSafeInteger(n) ? n > 0 : Number.isInteger(n) ? undefined : false)],
  ['maxAttempts', (n) => (Number.isInteger(n) ? n >= 1 && n <= 1000 : false)],
  ['backoffMs', (n) => Number.isFinite(n) && n >= 0],
  ['factor', (n) => Number.isFinite(n) && n >= 1],
  ['maxDelayMs', (n) => Number.isFinite(n) && n >= 0],
];

const REQUIRED = new Set(['name', 'steps', 'executor', 'type', 'durationMs', 'command', 'module', 'image', 'maxAttempts', 'step']);

/** Whether removing `path` leaves a required field missing (a batch command has a default). */
function isRequired(def: Def, path: Path): boolean {
  const key = path.at(-1);
  if (typeof key !== 'string' || !REQUIRED.has(key) || (path[0] === 'steps' && path.length === 2)) return false;
  return !(key === 'command' && path.at(-2) === 'executor' && executorType(def, path) === 'batch');
}
const KNOWN_FIELDS = new Set(['name', 'description', 'steps', 'output', 'needs', 'executor', 'retry', 'timeoutMs', 'forEach', 'wait', 'when', 'catch', 'quorum', 'results', 'input', '$or', 'type', 'durationMs', 'command', 'args', 'env', 'cwd', 'module', 'export', 'image', 'vcpus', 'memoryMb', 'gpus', 'local', 'queue', 'maxAttempts', 'backoffMs', 'factor', 'maxDelayMs', 'step', 'path', 'maxConcurrency']);

/** JS types a field accepts (by its last key); undefined = not checked. */
function expectedType(def: Def, path: Path): string[] | undefined {
  const key = String(path.at(-1));
  if (path.length === 1) return { name: ['string'], description: ['string'], output: ['string'], steps: ['object'] }[key];
  if (path[0] !== 'steps' || path.length === 2) return undefined;
  const parent = String(path.at(-2));
  if (parent === 'env' || parent === 'output' || path.includes('output')) return undefined;
  if (typeof path.at(-1) === 'number') return parent === 'needs' || parent === 'args' ? ['string'] : undefined;
  const types: Record<string, string[]> = {
    needs: ['array'], forEach: ['string', 'object'], description: ['string'], timeoutMs: ['number'], retry: ['object'], executor: ['object'],
    type: ['string'], durationMs: ['number'], module: ['string'], export: ['string'], args: ['array'], env: ['object'], cwd: ['string'],
    image: ['string'], gpus: ['number'], local: ['object'], queue: ['string'], maxAttempts: ['number'], backoffMs: ['number'],
    factor: ['number'], maxDelayMs: ['number'], step: ['string'], path: ['string'], maxConcurrency: ['number'],
  };
  // A batch command is a list; a process or container command is a string.
  if (key === 'command') return parent === 'local' || executorType(def, path) !== 'batch' ? ['string'] : ['array'];
  return types[key];
}

function executorType(def: Def, path: Path): unknown {
  const executor = getAt(def, path.slice(0, 3));
  return isPlain(executor) ? executor['type'] : undefined;
}

/** The problem path a mutation at `path` must be reported under: its step, or its top-level field. */
function blame(path: Path): string {
  return path[0] === 'steps' && path.length >= 2 ? `steps.${String(path[1])}` : `${String(path[0])}: `;
}

/** Paths of the objects the schema is strict about: the root, steps, executors, retry, forEach. */
function strictObjects(def: Def): Path[] {
  const out: Path[] = [[]];
  const steps = def['steps'];
  if (!isPlain(steps)) return out;
  for (const [id, s] of Object.entries(steps)) {
    if (!isPlain(s)) continue;
    out.push(['steps', id]);
    for (const k of ['executor', 'retry', 'forEach']) if (isPlain(s[k])) out.push(['steps', id, k]);
  }
  return out;
}

/** A step's needs as a list (a mutated step may hold anything there). */
function needsOf(step: Def): unknown[] {
  return Array.isArray(step['needs']) ? step['needs'] : [];
}

function stepsOf(def: Def): Def {
  if (!isPlain(def['steps'])) def['steps'] = { only: { executor: sim(0) } };
  const steps = def['steps'] as Def;
  if (Object.keys(steps).length === 0) steps['only'] = { executor: sim(0) };
  for (const id of Object.keys(steps)) if (!isPlain(steps[id])) steps[id] = { executor: sim(0) };
  return steps;
}

function renameIn(def: Def, from: string, to: string, refs: boolean): void {
  const steps = stepsOf(def);
  const renamed: Def = {};
  for (const [id, s] of Object.entries(steps)) setOwn(renamed, id === from ? to : id, s);
  def['steps'] = renamed;
  if (!refs) return;
  for (const s of Object.values(renamed)) {
    const step = s as Def;
    if (Array.isArray(step['needs'])) step['needs'] = step['needs'].map((n: unknown) => (n === from ? to : n));
    if (step['forEach'] === from) step['forEach'] = to;
    if (isPlain(step['forEach']) && step['forEach']['step'] === from) step['forEach']['step'] = to;
    if (step['catch'] === from) step['catch'] = to;
    // A choice names the needs whose results it tests.
    const when = step['when'];
    for (const alt of isPlain(when) ? [when, ...(Array.isArray(when['$or']) ? when['$or'] : [])] : []) {
      const results = isPlain(alt) ? alt['results'] : undefined;
      if (!isPlain(results) || !Object.hasOwn(results, from)) continue;
      const renamedResults: Def = {};
      for (const [k, v] of Object.entries(results)) setOwn(renamedResults, k === from ? to : k, v);
      alt['results'] = renamedResults;
    }
  }
  if (def['output'] === from) def['output'] = to;
}

function isReferenced(def: Def, id: string): boolean {
  if (def['output'] === id) return true;
  return Object.values(stepsOf(def)).some((s) => {
    const step = s as Def;
    const f = step['forEach'];
    return (Array.isArray(step['needs']) && step['needs'].includes(id)) || f === id || (isPlain(f) && f['step'] === id) || step['catch'] === id;
  });
}
