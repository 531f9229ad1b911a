/**
 * Hand-picked definitions that always run before the random ones: each once broke the
 * "plan or WorkflowDefinitionError" contract (crash, hang, silent loss of a step).
 */
import type { DefinitionCase } from './definition-cases.ts';
import { deep, DEEP_LEVELS, HUGE, setOwn } from './weird-values.ts';

const sim = (output?: unknown) => ({ type: 'simulate', durationMs: 0, ...(output === undefined ? {} : { output }) });
const deepFlowList = `${'['.repeat(DEEP_LEVELS)}1${']'.repeat(DEEP_LEVELS)}`;

function withOwnStep(id: string): Record<string, unknown> {
  const steps: Record<string, unknown> = {};
  setOwn(steps, id, { executor: sim() });
  steps['b'] = { needs: [id], executor: sim() };
  return { name: 'proto', steps };
}

function cyclicOutput(): unknown {
  const out: Record<string, unknown> = { a: 1 };
  out['self'] = out;
  return out;
}

/** The pinned cases, in order. */
export const PINNED: readonly DefinitionCase[] = [
  // A 3,000-level list, then a 10,000-level one, as the first files a process parses: the YAML
  // composer recursed until the stack ran out, and V8 aborted the process ("RegExpCompiler
  // Allocation failed - process out of memory") while compiling a regexp at that depth.
  { kind: 'text', label: 'pinned: 3000 nested empty flow lists', ext: '.json', via: 'loadDefinition', text: `${'['.repeat(3000)}${']'.repeat(3000)}` },
  { kind: 'text', label: `pinned: ${DEEP_LEVELS} nested flow lists`, ext: '.json', via: 'loadDefinition', text: deepFlowList, expect: { fails: /^line 1, column \d+: nested more than/ } },
  // Assigning steps["__proto__"] replaced the steps object's prototype: the step vanished from the plan.
  { kind: 'object', label: 'pinned: own "__proto__" step needed by b', definition: withOwnStep('__proto__'), expect: { fails: 'steps.__proto__: ' } },
  { kind: 'object', label: 'pinned: "constructor" step needed by b', definition: withOwnStep('constructor'), expect: { compiles: true } },
  { kind: 'object', label: 'pinned: "hasOwnProperty" step needed by b', definition: withOwnStep('hasOwnProperty'), expect: { compiles: true } },
  // "did you mean" compared two 1 MB ids character by character: O(n²), effectively a hang.
  {
    kind: 'object',
    label: 'pinned: 1 MB step id and a need that differs from it by one character',
    definition: { name: 'huge', steps: { [HUGE]: { executor: sim() }, b: { needs: [`${HUGE}b`], executor: sim() } } },
    expect: { fails: 'steps.b.needs[0]: unknown step' },
  },
  {
    kind: 'object',
    label: 'pinned: 20,000-character ids that differ by one character',
    definition: { name: 'long', steps: { ['a'.repeat(20_000)]: { executor: sim() }, b: { needs: ['a'.repeat(19_999)], executor: sim() } } },
    expect: { fails: 'steps.b.needs[0]: unknown step' },
  },
  // A module named like an Object.prototype member was looked up on the prototype: TypeError.
  {
    kind: 'object',
    label: 'pinned: function module "constructor" with resolved modules',
    definition: { name: 'mod', steps: { a: { executor: { type: 'function', module: 'constructor' } } } },
    modules: {},
    expect: { fails: 'steps.a.executor.module: ' },
  },
  {
    kind: 'text',
    label: 'pinned: compileFile with modules "constructor", "toString" and "__proto__"',
    ext: '.yaml',
    via: 'compileFile',
    text: 'name: mod\nsteps:\n  a: {executor: {type: function, module: constructor}}\n  b: {executor: {type: function, module: toString}}\n  c: {executor: {type: container, module: __proto__}}\n',
    expect: { fails: 'steps.a.executor.module: ' },
  },
  {
    kind: 'text',
    label: 'pinned: compileFile with a real handler module',
    ext: '.yaml',
    via: 'compileFile',
    text: 'name: mod\nsteps:\n  a: {executor: {type: function, module: ./handler.mjs}}\n  b: {needs: [a], executor: {type: function, module: ./handler.mjs, export: other}}\n',
    expect: { compiles: true },
  },
  // Outputs that compile but cannot be written as a plan (JSON.stringify throws).
  { kind: 'object', label: `pinned: ${DEEP_LEVELS} nested objects as simulated output`, definition: { name: 'deep', steps: { a: { executor: sim(deep(DEEP_LEVELS, 'object')) } } } },
  { kind: 'object', label: `pinned: ${DEEP_LEVELS} nested arrays as simulated output`, definition: { name: 'deep', steps: { a: { executor: sim(deep(DEEP_LEVELS, 'array')) } } } },
  { kind: 'object', label: 'pinned: cyclic simulated output', definition: { name: 'cyc', steps: { a: { executor: sim(cyclicOutput()) } } } },
  { kind: 'object', label: 'pinned: bigint simulated output', definition: { name: 'big', steps: { a: { executor: sim({ n: 10n }) } } } },
  { kind: 'object', label: 'pinned: 200 nested arrays as simulated output', definition: { name: 'deep', steps: { a: { executor: sim(deep(200, 'array')) } } } },
  { kind: 'object', label: 'pinned: 100 nested objects as simulated output', definition: { name: 'deep', steps: { a: { executor: sim(deep(100, 'object')) } } }, expect: { compiles: true } },
  // The YAML composer recursed until the stack ran out (an unclear "Maximum call stack size exceeded").
  ...[1, 2, 3].map((n): DefinitionCase => ({
    kind: 'text',
    label: `pinned: ${DEEP_LEVELS} nested flow lists as output, file ${n}`,
    ext: '.yaml',
    via: 'loadDefinition',
    text: `name: x\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0, output: ${deepFlowList}}\n`,
  })),
  { kind: 'text', label: `pinned: ${DEEP_LEVELS} nested block lists`, ext: '.yml', via: 'loadDefinition', text: `${'- '.repeat(DEEP_LEVELS)}1\n` },
  { kind: 'text', label: 'pinned: 100 nested flow maps as output', ext: '.json', via: 'loadDefinition', text: `{"name": "x", "steps": {"a": {"executor": {"type": "simulate", "durationMs": 0, "output": ${'{"k":'.repeat(100)}1${'}'.repeat(100)}}}}}`, expect: { compiles: true } },
  // The parser throws ReferenceError (not YAMLParseError) for these; the loader rethrew it.
  { kind: 'text', label: 'pinned: alias bomb', ext: '.yaml', via: 'loadDefinition', text: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [${Array(200).fill('*a').join(', ')}]\n` },
  { kind: 'text', label: 'pinned: unresolved alias', ext: '.yaml', via: 'compileFile', text: 'name: *nope\nsteps: {}\n' },
  { kind: 'text', label: 'pinned: self-referencing anchor as output', ext: '.yaml', via: 'loadDefinition', text: 'name: x\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0, output: &o [*o]}\n' },
];
