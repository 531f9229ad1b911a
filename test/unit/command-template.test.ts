import { describe, expect, it } from 'vitest';
import {
  expandCommand,
  expandValue,
  formatSeconds,
  parseCommandTemplate,
  parseValueTemplate,
  type TemplateFacts,
} from '../../src/importers/command-template.ts';

const facts: TemplateFacts = {
  id: 'mProject_ID0000001',
  name: 'mProject_ID0000001',
  category: 'mProject',
  runtimeSeconds: 16.712,
  inputs: ['2mass-a.fits', 'region oversized.hdr'],
  outputs: ['p2mass-a.fits'],
  program: 'mProject',
  arguments: ['-X', '2mass-a.fits', 'p2mass-a.fits'],
};

function argv(template: string, f: TemplateFacts = facts): string[] {
  const t = parseCommandTemplate(template);
  if (!t.ok) throw new Error(t.error);
  const r = expandCommand(t.value, f);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function parseError(template: string): string {
  const t = parseCommandTemplate(template);
  if (t.ok) throw new Error(`expected "${template}" to be refused`);
  return t.error;
}

describe('command templates', () => {
  it('splits words like a shell: quotes, escapes, empty quoted words, no expansion', () => {
    expect(argv(`a  'b c' "d \\"e\\" \\\\" f\\ g '' $HOME|x >y *`)).toEqual(['a', 'b c', 'd "e" \\', 'f g', '', '$HOME|x', '>y', '*']);
    expect(argv(`sh -c 'cd "$JOINFLOW_DATA_DIR" && exec "$0" "$@"' {program}`)).toEqual(['sh', '-c', 'cd "$JOINFLOW_DATA_DIR" && exec "$0" "$@"', 'mProject']);
  });

  it('fills scalars anywhere in a word, lists as one word per item', () => {
    expect(argv('node tool.mjs {category} {runtime*0.01} --in {inputs} --out {outputs} --id={id}')).toEqual([
      'node', 'tool.mjs', 'mProject', '0.16712', '--in', '2mass-a.fits', 'region oversized.hdr', '--out', 'p2mass-a.fits', '--id=mProject_ID0000001',
    ]);
    expect(argv('{program} {arguments}')).toEqual(['mProject', '-X', '2mass-a.fits', 'p2mass-a.fits']);
    expect(argv('run "{name}.log" {runtime} {{literal}}')).toEqual(['run', 'mProject_ID0000001.log', '16.712', '{literal}']);
    // An empty list leaves no word behind (not an empty argument).
    expect(argv('tool --in {inputs} --out', { ...facts, inputs: [] })).toEqual(['tool', '--in', '--out']);
  });

  it('formats seconds the way sleep reads them', () => {
    expect(formatSeconds(16.712 * 0.01)).toBe('0.16712');
    expect(formatSeconds(0)).toBe('0');
    expect(formatSeconds(1084.123)).toBe('1084.123');
    expect(formatSeconds(1e-7)).toBe('0');
    expect(formatSeconds(3)).toBe('3');
  });

  it('refuses malformed templates, saying what is wrong', () => {
    expect(parseError('')).toMatch(/is empty/);
    expect(parseError("tool 'open")).toMatch(/unclosed ' quote at column 6/);
    expect(parseError('tool "open')).toMatch(/unclosed " quote at column 6/);
    expect(parseError('tool \\')).toMatch(/lone backslash/);
    expect(parseError('tool {foo}')).toMatch(/unknown placeholder \{foo\} \(known: \{id\} .*\{runtime\*F\}\)/);
    expect(parseError('tool --in={inputs}')).toMatch(/\{inputs\} is a list and must stand as a word of its own/);
    expect(parseError('{inputs} tool')).toMatch(/first word must name the program/);
    expect(parseError('tool {id*2}')).toMatch(/only \{runtime\} takes a factor/);
    expect(parseError('tool {runtime*x}')).toMatch(/unknown placeholder/);
    expect(parseError('tool a}b')).toMatch(/"\}" without "\{"/);
    expect(parseError('tool {id')).toMatch(/"\{" without "\}"/);
    // Every problem of a template at once, not the first alone.
    const all = parseError('tool {nope} x{nope2}y{id} --in={inputs}');
    expect(all).toMatch(/^has unknown placeholders \{nope\}, \{nope2\} \(known: /);
    expect(all).toContain('; {inputs} is a list and must stand as a word of its own (in "--in={inputs}")');
  });

  it('reports a task without a recorded command when {program} or {arguments} is used', () => {
    const { program: _p, arguments: _a, ...bare } = facts;
    const t = parseCommandTemplate('{program} {arguments}');
    expect(t.ok && expandCommand(t.value, bare)).toEqual({ ok: false, error: 'task "mProject_ID0000001" has no recorded command, so {program} cannot be filled' });
  });

  it('value templates fill scalars and refuse lists', () => {
    const v = parseValueTemplate('{category}-{runtime*2}');
    expect(v.ok && expandValue(v.value, facts)).toEqual({ ok: true, value: 'mProject-33.424' });
    expect(parseValueTemplate('{inputs}')).toEqual({ ok: false, error: '{inputs} is a list; a single value cannot hold it' });
  });
});
