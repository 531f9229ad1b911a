import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { globFiles, segmentRegExp } from '../../src/adapters/local/cwl-glob.ts';
import { runCwlSpec, type CwlFile, type CwlRunContext } from '../../src/adapters/local/cwl-runner.ts';
import type { CwlType, ToolSpec, ValueSpec } from '../../src/importers/cwl/spec.ts';
import type { StepEvent } from '../../src/model/workflow.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-cwl-runner-');
const t = (base: CwlType['base'], depth = 0, optional = false): CwlType => ({ base, depth, optional });
const tool = (partial: Partial<ToolSpec>): ToolSpec => ({ baseCommand: [], arguments: [], inputs: [], outputs: [], successCodes: [0], env: {}, ...partial });
const printf: Partial<ToolSpec> = { baseCommand: ['printf', '%s\\n'], stdout: 'out.txt', outputs: [{ id: 'out', type: t('File'), stream: 'stdout' }] };

function context(event: Partial<StepEvent>, extra: Partial<CwlRunContext> = {}): CwlRunContext & { lines: string[] } {
  const lines: string[] = [];
  return { event: { input: null, results: {}, ...event }, baseDir: tmp(), runDir: 'work/run-1', runId: 'run-1', step: 's', attempt: 1, env: process.env, log: (l) => lines.push(l), lines, ...extra };
}

const text = (f: unknown): string => readFileSync((f as CwlFile).path, 'utf8');

describe('runCwlSpec: tools', () => {
  it('runs the command line without a shell in <runDir>/<step>.<item>.<attempt> and captures stdout as a File', async () => {
    const ctx = context({ input: { word: 'a b; echo $HOME', n: 4 } }, { item: 2, attempt: 3 });
    const spec = tool({
      ...printf,
      inputs: [
        { id: 'word', type: t('string'), binding: { position: 2, separate: true } },
        { id: 'n', type: t('int'), binding: { position: 1, prefix: '-n', separate: false } },
      ],
    });
    const out = (await runCwlSpec({ kind: 'tool', tool: spec, in: { word: { ref: { input: 'word' }, type: t('string') }, n: { ref: { input: 'n' }, type: t('int') } } }, ctx)) as Record<string, CwlFile>;
    const workdir = path.join(ctx.baseDir, 'work', 'run-1', 's.2.3');
    expect(text(out['out'])).toBe('-n4\na b; echo $HOME\n');
    expect(out['out']).toEqual({ class: 'File', path: path.join(workdir, 'out.txt'), basename: 'out.txt', size: 20 });
    expect(ctx.lines).toEqual([`cwl-tool: in ${workdir}: printf '%s\\n' -n4 'a b; echo $HOME'`]);
  });

  it('logs control characters in arguments escaped, so the command line stays on one log line', async () => {
    const ctx = context({});
    await runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['printf', "%s\n", "it's"] }), in: {} }, ctx);
    expect(ctx.lines[0]).toMatch(/: printf \$'%s\\n' 'it'\\''s'$/);
  });

  it('names the input whose string holds a NUL character, which no argument of a command can hold', async () => {
    const spec = tool({ ...printf, inputs: [{ id: 'words', type: t('string', 1), binding: { position: 1, separate: true } }] });
    const run = runCwlSpec({ kind: 'tool', tool: spec, in: { words: { ref: { input: 'w' }, type: t('string', 1) } } }, context({ input: { w: ['ok', 'a\u0000b'] } }));
    // It was Node's TypeError with a stack trace.
    await expect(run).rejects.toThrow('step "s": input "words": item 1: "a\\u0000b" holds a NUL character, which a command-line argument cannot hold');
  });

  it('collects File[] by glob in name order, null for an optional File without a match; an ambiguous File fails', async () => {
    const ctx = context({});
    const touch = tool({ baseCommand: ['touch', 'b.txt', 'a.txt', 'c.log', '.hidden.txt'] });
    const out = await runCwlSpec({
      kind: 'tool',
      tool: { ...touch, outputs: [{ id: 'txt', type: t('File', 1), glob: ['*.txt'] }, { id: 'none', type: t('File', 0, true), glob: ['*.csv'] }, { id: 'log', type: t('File'), glob: ['*.log'] }] },
      in: {},
    }, ctx) as Record<string, unknown>;
    expect((out['txt'] as CwlFile[]).map((f) => f.basename)).toEqual(['a.txt', 'b.txt']);
    expect(out['none']).toBeNull();
    expect((out['log'] as CwlFile).basename).toBe('c.log');
    await expect(runCwlSpec({ kind: 'tool', tool: { ...touch, outputs: [{ id: 'one', type: t('File'), glob: ['*.txt'] }] }, in: {} }, context({})))
      .rejects.toThrow(/step "s": output "one" \(File\) matched 2 files with \*\.txt in .*: a\.txt, b\.txt/);
  });

  it('checks a File\'s format against the input\'s, expanding prefixes by $namespaces, and gives output files their format', async () => {
    const ctx = context({});
    const dir = ctx.baseDir;
    writeFileSync(path.join(dir, 'r.fa'), '>a\n');
    const EDAM = 'http://edamontology.org/';
    const fasta: CwlType = { ...t('File'), format: [`${EDAM}format_1929`, `${EDAM}format_1930`] };
    const cat = tool({ baseCommand: ['cat'], stdout: 'o.txt', inputs: [{ id: 'f', type: fasta, binding: { position: 1, separate: true } }], outputs: [{ id: 'o', type: t('File'), format: `${EDAM}format_2330`, stream: 'stdout' }] });
    const run = (file: Record<string, unknown>) => runCwlSpec({ kind: 'tool', tool: cat, in: { f: { ref: { input: 'f' }, type: fasta } }, namespaces: { edam: EDAM } },
      context({ input: { f: { class: 'File', path: 'r.fa', ...file } } }, { baseDir: dir }));
    // A format the input takes, written in full or with a prefix of the workflow's $namespaces.
    const out = (await run({ format: 'edam:format_1929' })) as Record<string, CwlFile>;
    expect(out['o']).toMatchObject({ basename: 'o.txt', format: `${EDAM}format_2330` });
    await expect(run({ format: `${EDAM}format_1930` })).resolves.toBeDefined();
    // A File without a format fits (CWL checks the two when both are given).
    await expect(run({})).resolves.toBeDefined();
    await expect(run({ format: `${EDAM}format_1931` })).rejects.toThrow(
      `step "s": input "f": File r.fa: its format ${EDAM}format_1931 is not one of ${EDAM}format_1929, ${EDAM}format_1930, which the parameter takes (formats are compared exactly: the ontology of $schemas is not read)`);
    // The format travels with the File: a step output's format is checked by the next step.
    const next = runCwlSpec({ kind: 'tool', tool: cat, in: { f: { ref: { step: 'a', output: 'o', gather: false }, type: fasta } } },
      context({ results: { a: { o: out['o'] } } }, { baseDir: dir }));
    await expect(next).rejects.toThrow(`input "f": File ${out['o']!.path}: its format ${EDAM}format_2330 is not one of`);
  });

  it('fails on exit codes outside successCodes, and on commands that do not exist', async () => {
    await expect(runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['false'] }), in: {} }, context({}))).rejects.toThrow('step "s": false exited with code 1');
    await expect(runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['false'], successCodes: [1] }), in: {} }, context({}))).resolves.toEqual({});
    // 0 stays a success with successCodes (as cwltool reads them); 2 is not one.
    await expect(runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['true'], successCodes: [1] }), in: {} }, context({}))).resolves.toEqual({});
    await expect(runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['sh', '-c', 'exit 2'], successCodes: [1] }), in: {} }, context({}))).rejects.toThrow('step "s": sh exited with code 2 (success codes: 0, 1)');
    await expect(runCwlSpec({ kind: 'tool', tool: tool({ baseCommand: ['no-such-command-jf'] }), in: {} }, context({}))).rejects.toThrow(/cannot run "no-such-command-jf": spawn no-such-command-jf ENOENT/);
  });

  it('gives the tool PATH, HOME (its working directory) and EnvVarRequirement variables only', async () => {
    process.env['JF_SECRET_TEST'] = 'leak';
    try {
      const ctx = context({});
      const out = await runCwlSpec({ kind: 'tool', tool: tool({ ...printf, baseCommand: ['env'], env: { GREETING: 'hi there' } }), in: {} }, ctx) as Record<string, CwlFile>;
      const vars = Object.fromEntries(text(out['out']).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(Object.keys(vars).sort()).toEqual(['GREETING', 'HOME', 'PATH', 'TMPDIR']);
      expect(vars['GREETING']).toBe('hi there');
      expect(vars['HOME']).toBe(path.dirname(out['out']!.path));
    } finally {
      delete process.env['JF_SECRET_TEST'];
    }
  });

  it('passes the step identity (JOINFLOW_WORKFLOW, _RUN_ID, _STEP, _ATTEMPT, _ITEM) on to the tool, over EnvVarRequirement', async () => {
    const identity = { JOINFLOW_WORKFLOW: 'wf', JOINFLOW_RUN_ID: 'run-9', JOINFLOW_STEP: 's', JOINFLOW_ATTEMPT: '2', JOINFLOW_ITEM: '4' };
    const ctx = context({}, { env: { PATH: process.env['PATH'], ...identity, JOINFLOW_DATA_DIR: '/x', OTHER: 'no' } });
    const out = await runCwlSpec({ kind: 'tool', tool: tool({ ...printf, baseCommand: ['env'], env: { JOINFLOW_STEP: 'forged', MINE: '1' } }), in: {} }, ctx) as Record<string, CwlFile>;
    const vars = Object.fromEntries(text(out['out']).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(vars).toMatchObject({ ...identity, MINE: '1' });
    expect(Object.keys(vars).sort()).toEqual(['HOME', 'JOINFLOW_ATTEMPT', 'JOINFLOW_ITEM', 'JOINFLOW_RUN_ID', 'JOINFLOW_STEP', 'JOINFLOW_WORKFLOW', 'MINE', 'PATH', 'TMPDIR']);
  });

  it('captures an unnamed stdout/stderr to a random hidden file that globs like *.txt do not match', async () => {
    const sh = tool({
      baseCommand: ['sh', '-c', 'echo out; echo err >&2; echo data > a.txt'],
      outputs: [
        { id: 'o', type: t('File'), stream: 'stdout' },
        { id: 'e', type: t('File'), stream: 'stderr' },
        { id: 'txt', type: t('File', 1), glob: ['*.txt'] },
        { id: 'all', type: t('File', 1), glob: ['*'] },
      ],
    });
    const out = await runCwlSpec({ kind: 'tool', tool: sh, in: {} }, context({})) as Record<string, CwlFile & CwlFile[]>;
    expect(text(out['o'])).toBe('out\n');
    expect(text(out['e'])).toBe('err\n');
    expect(out['o']!.basename).toMatch(/^\.stdout-[0-9a-f]{12}$/);
    expect(out['e']!.basename).toMatch(/^\.stderr-[0-9a-f]{12}$/);
    expect(out['txt']!.map((f) => f.basename)).toEqual(['a.txt']);
    expect(out['all']!.map((f) => f.basename)).toEqual(['a.txt']);
  });

  it('starts each attempt in an empty working directory, even when it ran before (redelivery)', async () => {
    const ctx = context({});
    const ls = tool({ ...printf, baseCommand: ['ls', '-A'] });
    const workdir = path.join(ctx.baseDir, 'work', 'run-1', 's.1');
    mkdirSync(workdir, { recursive: true });
    writeFileSync(path.join(workdir, 'stale'), 'x');
    const out = await runCwlSpec({ kind: 'tool', tool: ls, in: {} }, ctx) as Record<string, CwlFile>;
    expect(text(out['out'])).toBe('out.txt\n');
  });
});

describe('runCwlSpec: values', () => {
  const cat = tool({ ...printf, inputs: [{ id: 'files', type: t('File', 1), binding: { position: 1, separate: true } }] });

  it('resolves run-input Files against baseDir, gathers scattered outputs, and checks every file exists', async () => {
    const ctx = context({});
    writeFileSync(path.join(ctx.baseDir, 'x.txt'), 'xx');
    const y = path.join(ctx.baseDir, 'y.txt');
    writeFileSync(y, 'yyy');
    ctx.event = { input: { one: { class: 'File', path: 'x.txt' } }, results: { up: [{ o: { class: 'File', path: y } }, { o: { class: 'File', location: `file://${y}` } }] } };
    const value = (ref: ValueSpec['ref']): ValueSpec => ({ ref, type: t('File', 1) });
    const items = await runCwlSpec({ kind: 'items', value: value({ step: 'up', output: 'o', gather: true }) }, ctx);
    expect(items).toEqual([{ class: 'File', path: y, basename: 'y.txt', size: 3 }, { class: 'File', path: y, basename: 'y.txt', size: 3 }]);
    const outputs = await runCwlSpec({ kind: 'outputs', outputs: { first: { ref: { input: 'one' }, type: t('File') } } }, ctx);
    expect(outputs).toEqual({ first: { class: 'File', path: path.join(ctx.baseDir, 'x.txt'), basename: 'x.txt', size: 2 } });
    // A location is an IRI: a relative one is %-decoded (a path is not).
    writeFileSync(path.join(ctx.baseDir, 'a b.txt'), 'ab');
    ctx.event.input = { one: { class: 'File', location: 'a%20b.txt' } };
    expect(await runCwlSpec({ kind: 'outputs', outputs: { first: { ref: { input: 'one' }, type: t('File') } } }, ctx))
      .toEqual({ first: { class: 'File', path: path.join(ctx.baseDir, 'a b.txt'), basename: 'a b.txt', size: 2 } });
    ctx.event.input = { one: { class: 'File', path: 'gone.txt' } };
    await expect(runCwlSpec({ kind: 'outputs', outputs: { first: { ref: { input: 'one' }, type: t('File') } } }, ctx))
      .rejects.toThrow(`step "s": workflow output "first": no such file ${path.join(ctx.baseDir, 'gone.txt')} (from "gone.txt", relative to ${ctx.baseDir})`);
  });

  it('takes the scatter item from the event, defaults when a value is null, and refuses values of the wrong type', async () => {
    const ctx = context({ item: 7, input: { s: null } });
    const echo = tool({ ...printf, inputs: [{ id: 'n', type: t('int'), binding: { position: 1, separate: true } }, { id: 's', type: t('string'), binding: { position: 2, separate: true } }] });
    const out = await runCwlSpec({ kind: 'tool', tool: echo, in: { n: { ref: { item: true }, type: t('int') }, s: { ref: { input: 's', default: 'dflt' }, type: t('string') } } }, ctx) as Record<string, CwlFile>;
    expect(text(out['out'])).toBe('7\ndflt\n');
    await expect(runCwlSpec({ kind: 'tool', tool: cat, in: { files: { ref: { input: 'f' }, type: t('File', 1) } } }, context({ input: { f: ['a.txt'] } })))
      .rejects.toThrow('step "s": input "files": item 0: expected File, got string "a.txt"');
    await expect(runCwlSpec({ kind: 'tool', tool: cat, in: { files: { ref: { input: 'f' }, type: t('File', 1) } } }, context({ input: {} })))
      .rejects.toThrow('step "s": input "files": the workflow input "f" is missing from the run\'s input (expected File[], got null): give it in --input, e.g. --input @job.json');
  });
});

describe('runCwlSpec: names that Object.prototype has', () => {
  it('reads inputs, results and outputs called constructor, toString, valueOf or __proto__ as the event\'s own values only', async () => {
    const names = ['constructor', 'toString', 'valueOf', '__proto__'];
    const echo = tool({ ...printf, inputs: names.map((id, i) => ({ id, type: t('string', 0, true), binding: { position: i, separate: true } })) });
    const inputs: Record<string, ValueSpec> = Object.fromEntries(names.map((id) => [id, { ref: { input: id }, type: t('string', 0, true) }]));
    // Left out of the job, an optional input is absent, not Object.prototype's function.
    const none = await runCwlSpec({ kind: 'tool', tool: echo, in: inputs }, context({ input: {} })) as Record<string, CwlFile>;
    expect(text(none['out'])).toBe('\n');
    const given = JSON.parse('{"constructor": "c", "toString": "t", "valueOf": "v", "__proto__": "p"}') as Record<string, unknown>;
    const all = await runCwlSpec({ kind: 'tool', tool: echo, in: inputs }, context({ input: given })) as Record<string, CwlFile>;
    expect(text(all['out'])).toBe('c\nt\nv\np\n');
    // A default fills in for an input named valueOf that the job leaves out.
    const withDefault = { valueOf: { ref: { input: 'valueOf', default: 'dflt' }, type: t('string') } };
    const dflt = await runCwlSpec({ kind: 'tool', tool: tool({ ...printf, inputs: [{ id: 'valueOf', type: t('string'), binding: { position: 1, separate: true } }] }), in: withDefault }, context({ input: {} })) as Record<string, CwlFile>;
    expect(text(dflt['out'])).toBe('dflt\n');
    // A step result without an output called toString gives null; a step called constructor that did not report gives null.
    const outputs: Record<string, ValueSpec> = { a: { ref: { step: 'up', output: 'toString', gather: false }, type: t('File', 0, true) }, b: { ref: { step: 'constructor', output: 'o', gather: false }, type: t('File', 0, true) } };
    expect(await runCwlSpec({ kind: 'outputs', outputs }, context({ results: { up: {} } }))).toEqual({ a: null, b: null });
    // An output called __proto__ is an output like any other.
    const touch = tool({ baseCommand: ['touch', 'p.txt'], outputs: [{ id: '__proto__', type: t('File'), glob: ['p.txt'] }] });
    const out = await runCwlSpec({ kind: 'tool', tool: touch, in: {} }, context({})) as Record<string, CwlFile>;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toMatchObject({ class: 'File', basename: 'p.txt' });
  });
});

describe('globFiles', () => {
  it('matches *, ? and [...] within segments, skips dot files unless asked, and walks literal directories', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'out', 'sub'), { recursive: true });
    for (const f of ['a1.txt', 'a2.txt', 'b1.txt', '.dot.txt', 'out/sub/r.csv', 'out/x.csv']) writeFileSync(path.join(dir, f), '');
    expect(globFiles(dir, 'a?.txt').map((f) => path.basename(f))).toEqual(['a1.txt', 'a2.txt']);
    expect(globFiles(dir, '[ab]1.txt').map((f) => path.basename(f))).toEqual(['a1.txt', 'b1.txt']);
    expect(globFiles(dir, '[!a]*.txt').map((f) => path.basename(f))).toEqual(['b1.txt']);
    expect(globFiles(dir, '.*.txt').map((f) => path.basename(f))).toEqual(['.dot.txt']);
    expect(globFiles(dir, 'out/*/*.csv').map((f) => path.relative(dir, f))).toEqual(['out/sub/r.csv']);
    expect(globFiles(dir, 'out')).toEqual([]);
    expect(globFiles(dir, 'missing/*.txt')).toEqual([]);
    expect(existsSync(path.join(dir, 'a1.txt'))).toBe(true);
    expect(segmentRegExp('a.b+c*').test('a.b+cde')).toBe(true);
    expect(segmentRegExp('a.b').test('axb')).toBe(false);
  });

  it('orders matches by code point, as glob(3) in the C locale and cwltool there do: U+FF21 before U+1F600', () => {
    const dir = tmp();
    // UTF-16 code units would put U+1F600 (a surrogate pair, 0xD83D...) before U+FF21.
    for (const n of ['\u{1F600}', '\uFF21', 'z', 'é', 'Z', '\uFFFD']) writeFileSync(path.join(dir, `${n}.txt`), '');
    expect(globFiles(dir, '*.txt').map((f) => path.basename(f, '.txt'))).toEqual(['Z', 'z', 'é', '\uFF21', '\uFFFD', '\u{1F600}']);
  });

  it('reads bracket expressions as fnmatch does: POSIX classes, negation, a leading "]" as a literal, ranges', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'res'));
    for (const n of ['b', 'a', 'C', '10', '9', 'sp ace', 'ü', '[x]', ']', '-', '!', 'f', 'G']) writeFileSync(path.join(dir, 'res', `${n}.csv`), '');
    const names = (pattern: string): string[] => globFiles(dir, pattern).map((f) => path.basename(f, '.csv'));
    expect(names('res/[[:alpha:]].csv')).toEqual(['C', 'G', 'a', 'b', 'f', 'ü']);
    expect(names('res/[[:digit:]].csv')).toEqual(['9']);
    expect(names('res/[[:digit:]][[:digit:]].csv')).toEqual(['10']);
    expect(names('res/[[:alnum:]].csv')).toEqual(['9', 'C', 'G', 'a', 'b', 'f', 'ü']);
    expect(names('res/[[:upper:]].csv')).toEqual(['C', 'G']);
    expect(names('res/[[:lower:]].csv')).toEqual(['a', 'b', 'f', 'ü']);
    expect(names('res/*[[:space:]]*.csv')).toEqual(['sp ace']);
    expect(names('res/[[:punct:]].csv')).toEqual(['!', '-', ']']);
    expect(names('res/[[:xdigit:]].csv')).toEqual(['9', 'C', 'a', 'b', 'f']);
    expect(names('res/[![:alnum:]].csv')).toEqual(['!', '-', ']']);
    expect(names('res/[^[:alpha:][:digit:]!-].csv')).toEqual([']']);
    expect(names('res/[]!].csv')).toEqual(['!', ']']);
    expect(names('res/[!]!-].csv')).toEqual(['9', 'C', 'G', 'a', 'b', 'f', 'ü']);
    expect(names('res/[a-c].csv')).toEqual(['a', 'b']);
    expect(names('res/[[]x].csv')).toEqual(['[x]']);
    // An unknown class and a reversed range match nothing, as in fnmatch; an unclosed "[" is a literal.
    expect(names('res/[[:bogus:]].csv')).toEqual([]);
    expect(names('res/[c-a].csv')).toEqual([]);
    expect(segmentRegExp('x[').test('x[')).toBe(true);
    // "?" and a bracket expression match one character, also one beyond U+FFFF.
    expect(segmentRegExp('?.txt').test('\u{1F600}.txt')).toBe(true);
    expect(segmentRegExp('[!a].txt').test('\u{1F600}.txt')).toBe(true);
  });
});
