import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCommandLine } from '../../src/importers/cwl/command-line.ts';
import { importCwl } from '../../src/importers/cwl.ts';
import type { ExecutorInput } from '../../src/model/workflow.ts';
import { problemsOf } from '../helpers/problems.ts';
import { BASE, ECHO, imp, pos, RUNNER, spec } from '../helpers/cwl-import.ts';

const toolOf = (e: ExecutorInput | undefined) => {
  const s = spec(e);
  if (s.kind !== 'tool') throw new Error('not a tool step');
  return s;
};

describe('importCwl: requirements and hints (CWL v1.2 precedence)', () => {
  const withWf = (block: string): string => BASE.replace('class: Workflow\n', `class: Workflow\n${block}`);
  const withStep = (wf: string, block: string): string => wf.replace('    run: echo.cwl\n', `    run: echo.cwl\n${block}`);
  const batch = { executor: 'batch' as const, image: 'me/joinflow:1' };
  const batchOf = (files: Record<string, string>) => imp(files, 'wf.cwl', batch).workflow.steps['say']!;

  it('an enclosing workflow\'s or step\'s requirement overrides a tool\'s hint of the same class', () => {
    const tool = `${ECHO}hints:\n  DockerRequirement: { dockerPull: "tool-hint:1" }\n  ResourceRequirement: { coresMin: 8, ramMin: 8000 }\n  ToolTimeLimit: { timelimit: 99 }\n`;
    const wf = withWf('requirements:\n  DockerRequirement: { dockerPull: "wf-req:1" }\n  ToolTimeLimit: { timelimit: 5 }\n');
    const s1 = batchOf({ 'wf.cwl': wf, 'echo.cwl': tool });
    // (Sizes are rounded up to Fargate's: 8 cores and 8000 MiB run as 8 vCPU and 16384 MiB.)
    expect(s1.executor).toMatchObject({ image: 'wf-req:1', vcpus: 8, memoryMb: 16384 });
    expect(s1.timeoutMs).toBe(5000);
    const step = withStep(wf, '    requirements:\n      ResourceRequirement: { coresMin: 2 }\n');
    const s2 = batchOf({ 'wf.cwl': step, 'echo.cwl': tool });
    // ResourceRequirement is one unit: the step's (cores only) replaces the hint's cores and memory
    // (the default 2048 MiB, rounded up to Fargate's least for 2 vCPU, not the hint's 8000).
    expect(s2.executor).toMatchObject({ image: 'wf-req:1', vcpus: 2, memoryMb: 4096 });
  });

  it('the most specific level wins among requirements, and among hints; a level\'s requirement beats its own hint', () => {
    const wf = withStep(withWf('hints:\n  DockerRequirement: { dockerPull: "wf-hint:1" }\nrequirements:\n  ResourceRequirement: { coresMin: 4, ramMin: 4000 }\n'),
      '    hints:\n      DockerRequirement: { dockerPull: "step-hint:1" }\n');
    const tool = `${ECHO}requirements:\n  ResourceRequirement: { coresMin: 1 }\nhints:\n  ResourceRequirement: { coresMin: 16 }\n`;
    const s = batchOf({ 'wf.cwl': wf, 'echo.cwl': tool });
    // The tool's requirement (1 core) as a whole: the default memory, not the workflow's 4000 MiB.
    expect(s.executor).toMatchObject({ image: 'step-hint:1', vcpus: 1, memoryMb: 2048 });
    // Tool hint over the step's and workflow's hints.
    const s2 = batchOf({ 'wf.cwl': wf, 'echo.cwl': `${ECHO}hints:\n  DockerRequirement: { dockerPull: "tool-hint:1" }\n` });
    expect(s2.executor).toMatchObject({ image: 'tool-hint:1', vcpus: 4, memoryMb: 8192 });
  });

  it('EnvVarRequirement: a workflow requirement replaces a tool hint as a whole; a hint applies when nothing requires the class', () => {
    const tool = `${ECHO}hints:\n  EnvVarRequirement:\n    envDef: { FROM_HINT: "1", SHARED: hint }\n`;
    expect(toolOf(imp({ 'wf.cwl': BASE, 'echo.cwl': tool }).workflow.steps['say']!.executor).tool.env).toEqual({ FROM_HINT: '1', SHARED: 'hint' });
    const wf = withWf('requirements:\n  EnvVarRequirement:\n    envDef: { SHARED: workflow }\n');
    expect(toolOf(imp({ 'wf.cwl': wf, 'echo.cwl': tool }).workflow.steps['say']!.executor).tool.env).toEqual({ SHARED: 'workflow' });
  });
});

describe('importCwl: sources as full ids', () => {
  it('reads #main/msg as workflow input msg and #main/say/out as step say output out, in YAML and JSON', () => {
    const wf = BASE.replace('class: Workflow\n', 'class: Workflow\nid: main\n').replace('      msg: msg\n', '      msg: "#main/msg"\n').replace('outputSource: say/out', 'outputSource: "#main/say/out"');
    const { workflow } = imp({ 'wf.cwl': wf, 'echo.cwl': ECHO });
    expect(toolOf(workflow.steps['say']!.executor).in['msg']!.ref).toEqual({ input: 'msg' });
    expect(spec(workflow.steps['outputs']!.executor)).toMatchObject({ outputs: { result: { ref: { step: 'say', output: 'out' } } } });
    const json = JSON.stringify({
      cwlVersion: 'v1.2', class: 'Workflow', id: '#main',
      inputs: [{ id: '#main/f', type: 'string' }],
      outputs: [{ id: '#main/r', type: 'File', outputSource: '#main/say/out' }],
      steps: [{ id: '#main/say', run: 'echo.cwl', in: [{ id: '#main/say/msg', source: '#main/f' }], out: ['#main/say/out'] }],
    }, null, 1);
    const fromJson = imp({ 'wf.json': json, 'echo.cwl': ECHO }, 'wf.json').workflow;
    expect(toolOf(fromJson.steps['say']!.executor).in['msg']!.ref).toEqual({ input: 'f' });
  });
});

describe('importCwl: fields CWL does not read as expressions', () => {
  it('passes $(...) and ${...} in baseCommand, prefix, itemSeparator and dockerPull as they are', () => {
    const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'echo \${HOME} $(ls | wc -l)']
requirements:
  DockerRequirement: { dockerPull: "registry/$(odd):1" }
inputs:
  xs:
    type: string[]
    inputBinding: { prefix: "$(x)", itemSeparator: "\${sep}" }
outputs: {}
`;
    const { workflow } = imp({ 'wf.cwl': tool });
    const s = toolOf(workflow.steps['tool']!.executor);
    expect(s.tool.baseCommand).toEqual(['sh', '-c', 'echo ${HOME} $(ls | wc -l)']);
    expect(s.image).toBe('registry/$(odd):1');
    expect(buildCommandLine(s.tool, { xs: ['a', 'b'] })).toEqual(['sh', '-c', 'echo ${HOME} $(ls | wc -l)', '$(x)', 'a${sep}b']);
  });

  it('refuses a NUL character in baseCommand, arguments, prefix and envValue: no argument or variable can hold one', () => {
    const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: [tool, "a\\0b"]
arguments: ["c\\0"]
requirements:
  EnvVarRequirement: { envDef: { V: "x\\0" } }
inputs:
  i: { type: string, inputBinding: { prefix: "-\\0" } }
outputs: {}
`;
    const p = problemsOf(() => imp({ 'wf.cwl': tool })).map((x) => `${x.path} ${x.message}`);
    expect(p).toEqual([
      `wf.cwl:${pos(tool, '"x')} envDef V holds a NUL character, which no command-line argument, file name or environment variable can hold`,
      `wf.cwl:${pos(tool, '"a')} baseCommand holds a NUL character, which no command-line argument, file name or environment variable can hold`,
      `wf.cwl:${pos(tool, '"c')} an argument holds a NUL character, which no command-line argument, file name or environment variable can hold`,
      `wf.cwl:${pos(tool, '"-')} prefix holds a NUL character, which no command-line argument, file name or environment variable can hold`,
    ]);
  });

  it('still refuses expressions where CWL evaluates them (stdout, glob, envValue, ResourceRequirement)', () => {
    const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
requirements:
  EnvVarRequirement: { envDef: { A: $(inputs.x) } }
  ResourceRequirement: { coresMin: $(2) }
inputs: {}
outputs:
  o: { type: File, outputBinding: { glob: $(inputs.x) } }
stdout: $(inputs.x).txt
`;
    const messages = problemsOf(() => imp({ 'wf.cwl': tool })).map((p) => `${p.path} ${p.message}`);
    expect(messages).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^wf\\.cwl:${pos(tool, 'A: $')} the expression in envDef A`)),
      expect.stringMatching(/the expression in coresMin is not supported/),
      expect.stringMatching(/the expression in glob/),
      expect.stringMatching(/the expression in stdout/),
    ]));
  });
});

describe('importCwl: array item bindings, run paths, out', () => {
  it('binds the items of an array whose type has an inputBinding, even without one on the parameter', () => {
    const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: tool
inputs:
  tags: { type: { type: array, items: string, inputBinding: { prefix: -t } } }
  plain: string[]
outputs: {}
`;
    const s = toolOf(imp({ 'wf.cwl': tool }).workflow.steps['tool']!.executor);
    expect(buildCommandLine(s.tool, { tags: ['a', 'b'], plain: ['x'] })).toEqual(['tool', '-t', 'a', '-t', 'b']);
    expect(buildCommandLine(s.tool, { tags: [], plain: ['x'] })).toEqual(['tool']);
  });

  it('reads an absolute run: path and a file:// URL as they are, not below the workflow\'s directory', () => {
    const abs = '/abs/tools/echo.cwl';
    for (const run of [abs, 'file:///abs/tools/echo.cwl']) {
      const { workflow } = imp({ 'wf/wf.cwl': BASE.replace('run: echo.cwl', `run: ${run}`), [abs]: ECHO }, 'wf/wf.cwl');
      expect(toolOf(workflow.steps['say']!.executor).tool.baseCommand).toEqual(['echo']);
    }
  });

  it('%-decodes a run: reference, as CWL reads it (an IRI), and names a malformed escape', () => {
    for (const run of ['"my%20tools/echo.cwl"', '"my tools/echo.cwl"']) {
      const { workflow } = imp({ 'wf/wf.cwl': BASE.replace('run: echo.cwl', `run: ${run}`), 'wf/my tools/echo.cwl': ECHO }, 'wf/wf.cwl');
      expect(toolOf(workflow.steps['say']!.executor).tool.baseCommand).toEqual(['echo']);
    }
    const wf = BASE.replace('run: echo.cwl', 'run: "100%.cwl"');
    expect(problemsOf(() => imp({ 'wf.cwl': wf }))).toEqual([
      { path: `wf.cwl:${pos(wf, '"100%')}`, message: 'run: "100%.cwl" has a malformed %-escape (write "%25" for a literal "%")' },
    ]);
  });

  it('reports an out entry that names no output of the tool, with its line and the tool\'s outputs', () => {
    const wf = BASE.replace('out: [out]', 'out: [out, reprot]');
    const problems = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO }));
    expect(problems).toEqual([{ path: `wf.cwl:${pos(wf, 'reprot')}`, message: 'step "say": out "reprot" is not an output of the tool it runs (its outputs: out)' }]);
  });

  it('an output the tool declares but that is refused (an expression in its glob) is reported once, not again as missing', () => {
    const tool = 'cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  msg: { type: string, inputBinding: { position: 1 } }\noutputs:\n  out: { type: File, outputBinding: { glob: "$(inputs.msg).txt" } }\n';
    const messages = problemsOf(() => imp({ 'wf.cwl': BASE, 'echo.cwl': tool })).map((p) => p.message);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^the expression in glob .* is not supported/);
  });

  it('reads YAML merge keys as cwltool does (an anchored map merged into another)', () => {
    const tool = 'cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  msg:\n    <<: &text {type: string}\n    inputBinding: { position: 1 }\n  also:\n    <<: *text\n    default: hi\n    inputBinding: { position: 2, prefix: --also }\noutputs:\n  out: stdout\nstdout: out.txt\n';
    const inputs = toolOf(imp({ 'wf.cwl': BASE, 'echo.cwl': tool }).workflow.steps['say']!.executor).tool.inputs;
    expect(inputs.map((i) => [i.id, i.type, i.binding])).toEqual([
      ['msg', { base: 'string', depth: 0, optional: false }, { position: 1, separate: true }],
      ['also', { base: 'string', depth: 0, optional: false }, { position: 2, prefix: '--also', separate: true }],
    ]);
  });

  it('a glob naming a character class glob(3) does not know is refused at its line (it would match no file); known ones are taken', () => {
    const tool = (glob: string) => `cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  msg: { type: string, inputBinding: { position: 1 } }\noutputs:\n  out: { type: File, outputBinding: { glob: "${glob}" } }\n`;
    const bad = tool('out[[:alfa:]]/[[:digit:][:nope:]].txt');
    const problems = problemsOf(() => imp({ 'wf.cwl': BASE, 'echo.cwl': bad }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe(`echo.cwl:${pos(bad, '"out[[:alfa:]]')}`);
    expect(problems[0]!.message).toBe('glob "out[[:alfa:]]/[[:digit:][:nope:]].txt": unknown character class [:alfa:], [:nope:] (it would match no file): one of [:alpha:], [:digit:], [:alnum:], [:upper:], [:lower:], [:space:], [:blank:], [:punct:], [:xdigit:], [:cntrl:], [:graph:], [:print:]');
    // Outside a bracket expression "[:x:]" is a set of characters, not a class.
    expect(() => imp({ 'wf.cwl': BASE, 'echo.cwl': tool('[[:alpha:]][:x:].txt') })).not.toThrow();
  });
});

describe('importCwl: values and File defaults', () => {
  const tool = (input: string): string => `cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: cat\ninputs:\n${input}outputs: {}\n`;

  it('writes File defaults as absolute paths when no output directory is given (a workflow written to stdout)', () => {
    const t = tool('  f: { type: File, default: { class: File, path: data/in.txt }, inputBinding: { position: 1 } }\n');
    const { workflow } = importCwl('tools/cat.cwl', t, { readFile: () => '', runner: RUNNER });
    expect(toolOf(workflow.steps['tool']!.executor).tool.inputs[0]!.default).toEqual({ class: 'File', path: path.resolve('tools/data/in.txt') });
  });

  it('%-decodes a relative File location (an IRI), but not a path', () => {
    const t = tool('  f: { type: File, default: { class: File, location: "my%20data/a%25b.txt" } }\n  g: { type: File, default: { class: File, path: "x%20y.txt" } }\n');
    const { workflow } = imp({ 'tools/t.cwl': t }, 'tools/t.cwl', { outDir: path.resolve('tools') });
    const inputs = toolOf(workflow.steps['tool']!.executor).tool.inputs;
    expect(inputs.map((i) => (i.default as { path: string }).path)).toEqual(['my data/a%b.txt', 'x%20y.txt']);
    const bad = tool('  f: { type: File, default: { class: File, location: "a%zz.txt" } }\n');
    expect(problemsOf(() => imp({ 'wf.cwl': bad })).map((p) => `${p.path} ${p.message}`))
      .toEqual([`wf.cwl:${pos(bad, '{ class: File, location')} File default: location "a%zz.txt" has a malformed %-escape (write "%25" for a literal "%")`]);
  });

  it('refuses a long beyond 2^53, which would be passed as another number', () => {
    const t = tool('  n: { type: long, default: 9007199254740993 }\n');
    expect(problemsOf(() => imp({ 'wf.cwl': t })).map((p) => p.message))
      .toEqual(['default of input "n": long 9007199254740992 is beyond ±(2^53-1): it cannot be passed exactly']);
    expect(() => imp({ 'wf.cwl': tool('  n: { type: long, default: 9007199254740991 }\n') })).not.toThrow();
  });
});

describe('importCwl: the workflow as a whole', () => {
  it('refuses a workflow without steps at import, at its "steps" (joinflow run would refuse it)', () => {
    const empty = 'cwlVersion: v1.2\nclass: Workflow\ninputs:\n  a: File\noutputs: {}\nsteps: {}\n';
    expect(problemsOf(() => imp({ 'wf.cwl': empty }))).toEqual([{ path: `wf.cwl:${pos(empty, 'steps')}`, message: 'a workflow needs at least one step: "steps" is empty' }]);
    const list = empty.replace('steps: {}', 'steps: []');
    expect(problemsOf(() => imp({ 'wf.cwl': list }))).toEqual([{ path: `wf.cwl:${pos(list, 'steps')}`, message: 'a workflow needs at least one step: "steps" is empty' }]);
    const none = empty.replace('steps: {}\n', '');
    expect(problemsOf(() => imp({ 'wf.cwl': none }))).toEqual([{ path: 'wf.cwl:1:1', message: 'a workflow needs at least one step: it has no "steps"' }]);
  });

  it('names a workflow whose file name has no usable character "cwl-workflow"', () => {
    expect(imp({ '....cwl': BASE, 'echo.cwl': ECHO }, '....cwl').workflow.name).toBe('cwl-workflow');
    expect(imp({ 'my flow.cwl': BASE, 'echo.cwl': ECHO }, 'my flow.cwl').workflow.name).toBe('my-flow');
  });
});

describe('importCwl: schema salad directives inside a document', () => {
  it('refuses $import, $include and $mixin at any depth by name and place, and reads no further (no misleading problems)', () => {
    const wf = BASE
      .replace('class: Workflow\n', 'class: Workflow\nrequirements:\n  - $import: reqs.yml\n')
      .replace('  msg: string\n', '  msg: string\n  opts:\n    $import: opt.yml\n')
      .replace('    run: echo.cwl\n', '    run: {$import: echo.cwl}\n    doc: {$include: README.txt}\n');
    const spliced = 'is not supported by joinflow\'s CWL subset (documents are not spliced together:';
    expect(problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO }))).toEqual([
      { path: `wf.cwl:${pos(wf, '$import: reqs')}`, message: `$import of "reqs.yml" ${spliced} write the value in place)` },
      { path: `wf.cwl:${pos(wf, '$import: opt')}`, message: `$import of "opt.yml" ${spliced} write the value in place)` },
      { path: `wf.cwl:${pos(wf, '$import: echo')}`, message: `$import of "echo.cwl" ${spliced} write run: "echo.cwl", a path)` },
      { path: `wf.cwl:${pos(wf, '$include')}`, message: '$include of "README.txt" is not supported by joinflow\'s CWL subset (files are not included: write their text in place)' },
    ]);
  });

  it('refuses them in a tool file too, at their place in that file', () => {
    const tool = ECHO.replace('baseCommand: echo\n', 'baseCommand: echo\narguments:\n  - $include: args.txt\n').replace('inputs:\n  msg: { type: string, inputBinding: { position: 1 } }\n', 'inputs:\n  $import: inputs.yml\n') + 'hints:\n  - $mixin: hints.yml\n';
    expect(problemsOf(() => imp({ 'wf.cwl': BASE, 'echo.cwl': tool })).map((p) => `${p.path} ${p.message.replace(/ is not supported.*/, '')}`)).toEqual([
      `echo.cwl:${pos(tool, '$include')} $include of "args.txt"`,
      `echo.cwl:${pos(tool, '$import')} $import of "inputs.yml"`,
      `echo.cwl:${pos(tool, '$mixin')} $mixin of "hints.yml"`,
    ]);
    // A lone tool is read the same way.
    expect(problemsOf(() => imp({ 'wf.cwl': tool })).map((p) => p.path)).toEqual([pos(tool, '$include'), pos(tool, '$import'), pos(tool, '$mixin')].map((x) => `wf.cwl:${x}`));
  });
});

describe('importCwl: names that Object.prototype has', () => {
  it('passes a tool input called __proto__ or constructor that the step does not wire, with its default, and leaves it off the command line when absent', () => {
    const tool = ECHO.replace('inputs:\n', 'inputs:\n  __proto__: { type: string, default: p, inputBinding: { position: 2 } }\n  constructor: { type: string?, inputBinding: { position: 3 } }\n');
    const s = toolOf(imp({ 'wf.cwl': BASE, 'echo.cwl': tool }).workflow.steps['say']!.executor);
    expect(Object.keys(s.in).sort()).toEqual(['__proto__', 'constructor', 'msg']);
    expect(Object.getOwnPropertyDescriptor(s.in, '__proto__')?.value).toEqual({ default: 'p', type: { base: 'string', depth: 0, optional: false } });
    expect(buildCommandLine(s.tool, { msg: 'hi' })).toEqual(['echo', 'hi']);
    expect(buildCommandLine(s.tool, JSON.parse('{"msg": "hi", "__proto__": "p", "constructor": "c"}') as Record<string, unknown>)).toEqual(['echo', 'hi', 'p', 'c']);
  });

  it('names a field or a requirement called constructor or toString as unknown, not by Object.prototype\'s function', () => {
    const wf = BASE.replace('    run: echo.cwl\n', '    run: echo.cwl\n    constructor: 1\n    requirements:\n      - class: toString\n');
    const messages = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO })).map((p) => p.message);
    expect(messages).toEqual([
      expect.stringMatching(/^step "say" field "constructor" is not supported by joinflow's CWL subset \(joinflow reads only "id"/),
      'toString is not supported by joinflow\'s CWL subset (joinflow does not know this requirement)',
    ]);
    const hint = imp({ 'wf.cwl': BASE.replace('    run: echo.cwl\n', '    run: echo.cwl\n    hints:\n      - class: valueOf\n'), 'echo.cwl': ECHO }).notes;
    expect(hint).toEqual([expect.stringMatching(/: hint valueOf ignored \(not supported\)$/)]);
  });
});

describe('importCwl: File formats', () => {
  const EDAM = 'http://edamontology.org/';
  const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: [grep, -c, "^>"]
inputs:
  fasta: { type: File, format: edam:format_1929, inputBinding: { position: 1 } }
  more: { type: "File[]?", format: [edam:format_1929, "http://example.org/fa"] }
outputs:
  count: { type: stdout, format: edam:format_3475 }
$namespaces:
  edam: ${EDAM}
`;
  const wf = `cwlVersion: v1.2
class: Workflow
inputs:
  seqs: { type: File, format: "e:format_1930", default: { class: File, path: s.fa, format: "e:format_1929" } }
outputs:
  n: { type: File, outputSource: count/count }
steps:
  count:
    run: tool.cwl
    in: { fasta: seqs }
    out: [count]
$namespaces:
  e: ${EDAM}
$schemas: [${EDAM}EDAM_1.18.owl]
`;

  it('expands formats by each document\'s $namespaces, for the runner to check; $schemas gets a note', () => {
    const { workflow, notes } = imp({ 'wf.cwl': wf, 'tool.cwl': tool });
    const s = toolOf(workflow.steps['count']!.executor);
    expect(s.in['fasta']!.type.format).toEqual([`${EDAM}format_1929`]);
    expect(s.tool.inputs.find((i) => i.id === 'more')!.type.format).toEqual([`${EDAM}format_1929`, 'http://example.org/fa']);
    expect(s.tool.outputs[0]).toMatchObject({ id: 'count', format: `${EDAM}format_3475`, stream: 'stdout' });
    // The workflow input's format and its File default's, by the workflow's own prefix; the map goes to the runner.
    expect(s.check!['seqs']!.type.format).toEqual([`${EDAM}format_1930`]);
    expect(s.check!['seqs']!.ref).toMatchObject({ default: { class: 'File', format: `${EDAM}format_1929` } });
    expect(s.namespaces).toEqual({ e: EDAM });
    expect(notes).toContain(`wf.cwl:${pos(wf, '$schemas')}: $schemas: the ontology is not read: a File's format must be one that its input lists, exactly (a subclass or an equivalent class of it is refused)`);
  });

  it('refuses format on an input that is not a File, and an expression in it', () => {
    const bad = tool.replace('outputs:\n', '  name: { type: string, format: edam:x }\n  g: { type: File, format: $(inputs.name) }\noutputs:\n');
    const p = problemsOf(() => imp({ 'wf.cwl': bad })).map((x) => `${x.path} ${x.message}`);
    expect(p).toEqual([
      `wf.cwl:${pos(bad, 'format: edam:x')} format applies to File and File[] parameters only, not to string`,
      `wf.cwl:${pos(bad, 'format: $(')} the expression in format ("$(inputs.name)") is not supported by joinflow's CWL subset (parameter references and JavaScript expressions are not evaluated: use a literal value, and write \\$( for a literal $()`,
    ]);
  });
});
