/**
 * Workflow files for the loader: mutated definitions written as YAML or JSON, then damaged as text
 * (truncation, junk, duplicate keys, aliases, BOM, CRLF, invalid UTF-8, deep nesting, 1 MB lines).
 */
import { stringify as toYaml } from 'yaml';
import { DEEP_MARKER, objectCase, type DefinitionCase, type Expectation } from './definition-cases.ts';
import { describe } from './object-paths.ts';
import { caseSeed, Random } from './random.ts';
import { DEEP_LEVELS, HUGE } from './weird-values.ts';

const flowDeep = (kind: 'object' | 'array'): string =>
  kind === 'object' ? `${'{"k":'.repeat(DEEP_LEVELS)}1${'}'.repeat(DEEP_LEVELS)}` : `${'['.repeat(DEEP_LEVELS)}1${']'.repeat(DEEP_LEVELS)}`;

/** Whole documents that are not workflows, or that attack the parser. */
const DOCUMENTS: ReadonlyArray<readonly [string, () => string]> = [
  ['empty file', () => ''],
  ['blank lines', () => '  \n\n   \n'],
  ['only a comment', () => '# nothing here\n'],
  ['a number', () => '42\n'],
  ['null', () => 'null\n'],
  ['an empty list', () => '[]\n'],
  ['a string', () => '"workflow"\n'],
  ['document markers', () => '---\n...\n'],
  ['two documents', () => 'name: a\nsteps: {}\n---\nname: b\n'],
  ['alias bomb', () => `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [${Array(9).fill('*a').join(', ')}]\nc: &c [${Array(9).fill('*b').join(', ')}]\nd: [${Array(9).fill('*c').join(', ')}]\n`],
  ['unresolved alias', () => 'name: *nope\nsteps: {}\n'],
  ['self-referencing anchor', () => 'name: x\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0, output: &o [*o]}\n'],
  ['alias as step', () => 'name: x\nsteps:\n  a: &s {executor: {type: simulate, durationMs: 0}}\n  b: *s\n'],
  ['merge key', () => 'name: x\nbase: &b {executor: {type: simulate, durationMs: 0}}\nsteps:\n  a: {<<: *b}\n'],
  [`${DEEP_LEVELS} nested flow lists`, () => flowDeep('array')],
  [`${DEEP_LEVELS} nested flow maps`, () => flowDeep('object')],
  [`${DEEP_LEVELS} nested block lists`, () => `${'- '.repeat(DEEP_LEVELS)}1\n`],
  [`${DEEP_LEVELS} unclosed flow lists`, () => '['.repeat(DEEP_LEVELS)],
  ['deep output in a valid workflow', () => `name: x\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0, output: ${flowDeep('array')}}\n`],
  ['a 1 MB line', () => `name: x\nsteps: ${HUGE}\n`],
  ['a 1 MB key', () => `${HUGE}: 1\nname: x\n`],
  ['__proto__ keys', () => '__proto__: {polluted: true}\nname: x\nsteps:\n  __proto__: {executor: {type: simulate, durationMs: 0}}\n  a: {executor: {type: simulate, durationMs: 0}, needs: [__proto__]}\n'],
  ['constructor keys', () => '{"name": "x", "constructor": {"prototype": {"polluted": true}}, "steps": {"constructor": {"executor": {"type": "simulate", "durationMs": 0}}}}'],
  ['tabs as indentation', () => 'name: x\nsteps:\n\ta: 1\n'],
  ['a NUL byte', () => 'name: x\u0000\nsteps: {}\n'],
  ['a lone surrogate', () => 'name: "\\uD800"\nsteps: {}\n'],
  ['YAML tags', () => 'name: !!str 1\nsteps: !!map {a: {executor: {type: !!str simulate, durationMs: !!float 1}}}\n'],
  ['a binary tag', () => 'name: x\nsteps: {a: {executor: {type: simulate, durationMs: 0, output: !!binary aGVsbG8=}}}\n'],
  ['a set', () => 'name: x\nsteps: {a: {executor: {type: simulate, durationMs: 0, output: !!set {a, b}}}}\n'],
  ['a big integer', () => 'name: x\nsteps: {a: {executor: {type: simulate, durationMs: 123456789012345678901234567890}}}\n'],
];

/**
 * Builds text case `index`. Half of the files go through loadDefinition + compileWorkflow, the
 * others through compileFile, which also resolves handler modules next to the file.
 */
export function textCase(seed: number, index: number): DefinitionCase {
  const rng = new Random(caseSeed(seed ^ 0x5eed, index));
  const via = rng.chance(0.5) ? 'compileFile' : 'loadDefinition';
  const ext = rng.pick(['.yaml', '.yml', '.json']);
  if (rng.chance(0.12)) {
    const [label, make] = rng.pick(DOCUMENTS);
    return { kind: 'text', label: `document: ${label}`, ext, text: make(), via };
  }
  const base = objectCase(seed, 100_000 + index, { json: true });
  const asJson = ext === '.json' || rng.chance(0.3);
  let text: string;
  try {
    text = asJson ? JSON.stringify(base.def, null, rng.pick([0, 2])) ?? 'null' : toYaml(base.def, { lineWidth: 0 });
  } catch (error) {
    // Serializers reject some values (a YAML comment cannot hold everything): keep the case, as JSON.
    text = `${JSON.stringify({ error: String(error) })}`;
  }
  let expect: Expectation | undefined = base.expect;
  const labels = [`${base.label} as ${asJson ? 'JSON' : 'YAML'}`];
  for (const kind of ['object', 'array'] as const) {
    if (!text.includes(DEEP_MARKER[kind])) continue;
    text = text.split(`"${DEEP_MARKER[kind]}"`).join(flowDeep(kind)).split(DEEP_MARKER[kind]).join(flowDeep(kind));
    expect = undefined;
  }
  let bytes: string | Uint8Array = text;
  const damage = rng.weighted([[10, 0], [3, 1], [1, 2]] as const);
  for (let i = 0; i < damage; i++) {
    const d = damageText(rng, typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('latin1'));
    labels.push(d.label);
    bytes = d.text;
    expect = undefined;
  }
  return { kind: 'text', label: labels.join('; '), ext, text: bytes, via, ...(expect ? { expect } : {}) };
}

function damageText(rng: Random, text: string): { label: string; text: string | Uint8Array } {
  const at = rng.int(text.length + 1);
  return rng.weighted<() => { label: string; text: string | Uint8Array }>([
    [3, () => ({ label: `truncated at ${at}`, text: text.slice(0, at) })],
    [3, () => {
      const junk = rng.pick([':', '[', '{', '}', ']', '&a ', '*a', '\t', '\u0000', '"', "'", '\n---\n', '- ', '? ', '!', '%YAML 1.1\n', '|', '#']);
      return { label: `inserted ${describe(junk)} at ${at}`, text: text.slice(0, at) + junk + text.slice(at) };
    }],
    [2, () => {
      const lines = text.split('\n');
      const i = rng.int(lines.length);
      lines.splice(i, 0, lines[i] ?? '');
      return { label: `duplicated line ${i + 1}`, text: lines.join('\n') };
    }],
    [1, () => ({ label: 'CRLF line ends', text: text.replace(/\n/g, '\r\n') })],
    [1, () => ({ label: 'BOM', text: `\uFEFF${text}` })],
    [1, () => ({ label: 'invalid UTF-8', text: Uint8Array.from([...Buffer.from(text.slice(0, at)), 0xff, 0xfe, 0xc3, ...Buffer.from(text.slice(at))]) })],
    [1, () => ({ label: 'appended a cyclic alias', text: `${text}\nloop: &l [*l]\n` })],
  ])();
}
