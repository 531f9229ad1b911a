import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { importCwl } from '../../src/importers/cwl.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import type { ExecutorInput, WorkflowInput } from '../../src/model/workflow.ts';
import { problemsOf } from '../helpers/problems.ts';
import { BASE, ECHO, imp, pos, RUNNER, SCATTER_BASE, spec } from '../helpers/cwl-import.ts';


describe('importCwl: refusals name the construct, file, line and column', () => {
  const cases: Array<{ name: string; files: Record<string, string>; file: string; marker: string; construct: RegExp }> = [
    {
      name: 'valueFrom on a step input',
      files: { 'wf.cwl': BASE.replace('      msg: msg\n', '      msg:\n        source: msg\n        valueFrom: $(self.toUpperCase())\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'valueFrom', construct: /step input "msg" field "valueFrom" is not supported by joinflow's CWL subset \(values are passed as they are/,
    },
    {
      name: 'a conditional step (when)',
      files: { 'wf.cwl': BASE.replace('    out: [out]\n', '    out: [out]\n    when: $(inputs.msg != "")\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'when', construct: /step "say" field "when" is not supported .*conditional steps/,
    },
    {
      name: 'scatter over two inputs',
      files: {
        'wf.cwl': SCATTER_BASE.replace('    out: [out]\n', '    out: [out]\n    scatter: [msg, other]\n    scatterMethod: dotproduct\n').replace('      msg: msg\n', '      msg: msg\n      other: msg\n'),
        'echo.cwl': ECHO,
      },
      file: 'wf.cwl', marker: 'scatter:', construct: /scatter over 2 inputs is not supported by joinflow's CWL subset \(a step scatters over exactly one input: a dynamic fan-out over one array\)$/,
    },
    {
      name: 'ShellCommandRequirement in a tool',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('baseCommand: echo\n', 'baseCommand: echo\nrequirements:\n  - class: ShellCommandRequirement\n') },
      file: 'echo.cwl', marker: 'class: Shell', construct: /ShellCommandRequirement is not supported .*without a shell/,
    },
    {
      name: 'InitialWorkDirRequirement in map form on a workflow',
      files: { 'wf.cwl': BASE.replace('inputs:\n', 'requirements:\n  InitialWorkDirRequirement:\n    listing: []\ninputs:\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'InitialWorkDirRequirement', construct: /InitialWorkDirRequirement is not supported/,
    },
    {
      name: 'a Directory input',
      files: { 'wf.cwl': BASE.replace('  msg: string\n', '  msg: string\n  dir: Directory\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'Directory', construct: /the type Directory is not supported/,
    },
    {
      name: 'an expression in arguments',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('baseCommand: echo\n', 'baseCommand: echo\narguments: [-n, $(inputs.msg.length)]\n') },
      file: 'echo.cwl', marker: '$(inputs', construct: /the expression in an argument \("\$\(inputs.msg.length\)"\) is not supported/,
    },
    {
      name: 'stdin',
      files: { 'wf.cwl': BASE, 'echo.cwl': `${ECHO}stdin: $(inputs.msg)\n` },
      file: 'echo.cwl', marker: 'stdin', construct: /CommandLineTool field "stdin" is not supported/,
    },
    {
      name: 'outputEval',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('  out: stdout\n', '  out: stdout\n  n:\n    type: int\n    outputBinding:\n      glob: out.txt\n      outputEval: $(self.length)\n') },
      file: 'echo.cwl', marker: 'type: int', construct: /the output type int of output "n" is not supported/,
    },
    {
      name: 'secondaryFiles',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('  msg: { type: string, inputBinding: { position: 1 } }\n', '  msg: { type: string, inputBinding: { position: 1 } }\n  bam:\n    type: File?\n    secondaryFiles: [.bai]\n') },
      file: 'echo.cwl', marker: 'secondaryFiles', construct: /input "bam" field "secondaryFiles" is not supported/,
    },
    {
      name: 'a nested Workflow as run',
      files: { 'wf.cwl': BASE, 'echo.cwl': 'cwlVersion: v1.2\nclass: Workflow\ninputs: {}\noutputs: {}\nsteps: {}\n' },
      file: 'echo.cwl', marker: 'class', construct: /class Workflow is not supported .*not nested workflows/,
    },
    {
      name: 'an ExpressionTool',
      files: { 'wf.cwl': BASE, 'echo.cwl': 'cwlVersion: v1.2\nclass: ExpressionTool\ninputs: {}\noutputs: {}\nexpression: ${ return {}; }\n' },
      file: 'echo.cwl', marker: 'class', construct: /class ExpressionTool is not supported/,
    },
    {
      name: 'an unknown cwlVersion',
      files: { 'wf.cwl': BASE.replace('v1.2', 'draft-3'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'cwlVersion', construct: /cwlVersion "draft-3" is not supported .*v1.0, v1.1, v1.2/,
    },
    {
      name: 'a packed document ($graph)',
      files: { 'wf.cwl': `${BASE}$graph: []\n`, 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: '$graph', construct: /Workflow field "\$graph" is not supported .*packed documents/,
    },
    {
      name: 'several sources for one input',
      files: { 'wf.cwl': BASE.replace('      msg: msg\n', '      msg:\n        source: [msg, msg]\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'source: [msg', construct: /^a list of 2 sources is not supported .*\(each step input takes one source; /,
    },
    {
      name: 'several sources for one workflow output',
      files: { 'wf.cwl': BASE.replace('outputSource: say/out', 'outputSource: [say/out, say/out]'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'outputSource', construct: /^a list of 2 sources is not supported .*\(each workflow output takes one source; /,
    },
    {
      name: 'a record type',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('  msg: { type: string, inputBinding: { position: 1 } }\n', '  msg: { type: string, inputBinding: { position: 1 } }\n  rec:\n    type: { type: record, fields: [] }\n') },
      file: 'echo.cwl', marker: 'type: record', construct: /the type "record" is not supported/,
    },
    {
      name: 'a union type',
      files: { 'wf.cwl': BASE.replace('  msg: string\n', '  msg: [string, int]\n'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: '[string, int]', construct: /the union type \["string","int"\] is not supported/,
    },
    {
      name: 'run with a #fragment',
      files: { 'wf.cwl': BASE.replace('run: echo.cwl', 'run: echo.cwl#main'), 'echo.cwl': ECHO },
      file: 'wf.cwl', marker: 'run', construct: /run: "echo.cwl#main" is not supported/,
    },
    {
      name: 'a misspelled field',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('baseCommand', 'baseComand') },
      file: 'echo.cwl', marker: 'baseComand', construct: /CommandLineTool field "baseComand" is not supported .*joinflow reads only "class"/,
    },
    {
      name: 'valueFrom in an inputBinding',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('inputBinding: { position: 1 }', 'inputBinding: { position: 1, valueFrom: $(self).txt }') },
      file: 'echo.cwl', marker: 'valueFrom', construct: /inputBinding field "valueFrom" is not supported/,
    },
    {
      name: 'a recursive glob',
      files: { 'wf.cwl': BASE, 'echo.cwl': ECHO.replace('  out: stdout\n', '  out: stdout\n  all:\n    type: File[]\n    outputBinding: { glob: "**/*.txt" }\n') },
      file: 'echo.cwl', marker: 'glob: "**', construct: /the glob pattern "\*\*\/\*.txt" is not supported/,
    },
    {
      name: 'a packed document ($graph)',
      files: { 'wf.cwl': `cwlVersion: v1.2\n$graph:\n  - ${BASE.replace(/\n/g, '\n    ')}\n` },
      file: 'wf.cwl', marker: '$graph', construct: /^\$graph is not supported by joinflow's CWL subset \(packed documents are not read/,
    },
    {
      name: 'DockerRequirement with dockerFile',
      files: { 'wf.cwl': BASE, 'echo.cwl': `${ECHO}requirements:\n  DockerRequirement:\n    dockerFile: FROM debian\n` },
      file: 'echo.cwl', marker: 'dockerFile', construct: /DockerRequirement field "dockerFile" is not supported .*dockerPull/,
    },
  ];

  it.each(cases)('$name', ({ files, file, marker, construct }) => {
    const problems = problemsOf(() => imp(files));
    const expected = `${file}:${pos(files[file]!, marker)}`;
    const hit = problems.find((p) => construct.test(p.message));
    expect(hit, JSON.stringify(problems)).toBeDefined();
    expect(hit!.path).toBe(expected);
  });

  it('reports a refused construct of a step without what would only follow from it', () => {
    const wf = SCATTER_BASE.replace('    out: [out]\n', '    out: [out]\n    scatter: [msg, other]\n    scatterMethod: dotproduct\n').replace('      msg: msg\n', '      msg: msg\n      other: msg\n');
    const problems = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO }));
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/^scatter over 2 inputs is not supported/)]);
  });

  it('collects every problem of every file before failing, in the documented format', () => {
    const files = {
      'wf.cwl': BASE.replace('    out: [out]\n', '    out: [out]\n    when: $(true)\n').replace('  msg: string\n', '  msg: string\n  dir: Directory\n'),
      'echo.cwl': `${ECHO}stdin: x\n`,
    };
    let error: WorkflowDefinitionError | undefined;
    try {
      imp(files);
    } catch (e) {
      error = e as WorkflowDefinitionError;
    }
    expect(error?.problems).toHaveLength(3);
    expect(error?.message).toContain(`wf.cwl: invalid workflow definition (3 problems):`);
    expect(error?.message).toContain(`  - wf.cwl:${pos(files['wf.cwl'], 'Directory')}: the type Directory is not supported by joinflow's CWL subset (`);
    expect(error?.message).toContain(`  - echo.cwl:${pos(files['echo.cwl'], 'stdin')}: CommandLineTool field "stdin" is not supported by joinflow's CWL subset (`);
  });

  it('reports YAML syntax errors and unreadable run files with their position', () => {
    expect(problemsOf(() => imp({ 'wf.cwl': 'class: Workflow\ninputs: [\n' }))[0]!.path).toMatch(/^wf\.cwl:\d+:\d+$/);
    // One broken line brings a cascade: the first three are listed, then how many more; no dangling "at line N:".
    const cascade = problemsOf(() => imp({ 'wf.cwl': 'cwlVersion: v1.2\nclass: Workflow\ninputs: {a: [1, 2\nsteps: {x: {run: y}}\noutputs: [}\n  zz: [[[\n' }));
    expect(cascade).toHaveLength(4);
    expect(cascade.slice(0, 3).every((x) => x.message.startsWith('not valid YAML or JSON: ') && !/ at line \d+/.test(x.message))).toBe(true);
    expect(cascade[3]).toEqual({ path: 'wf.cwl', message: expect.stringMatching(/^and \d+ more YAML errors? after these/) });
    const p = problemsOf(() => imp({ 'wf.cwl': BASE }));
    expect(p).toEqual([{ path: `wf.cwl:${pos(BASE, 'echo.cwl')}`, message: expect.stringMatching(/^cannot read echo\.cwl: ENOENT/) }]);
  });

  it('checks sources and types between steps', () => {
    const unknown = problemsOf(() => imp({ 'wf.cwl': BASE.replace('msg: msg', 'msg: mgs'), 'echo.cwl': ECHO }));
    expect(unknown).toEqual([{ path: `wf.cwl:${pos(BASE, 'msg: msg', 1).split(':')[0]}:12`, message: 'unknown workflow input "mgs" (known: msg)' }]);
    const badOut = problemsOf(() => imp({ 'wf.cwl': BASE.replace('say/out', 'say/nope'), 'echo.cwl': ECHO }));
    expect(badOut[0]!.message).toBe('step "say" has no output "nope" in its out (known: out)');
    const types = problemsOf(() => imp({ 'wf.cwl': BASE.replace('  msg: string\n', '  msg: int\n'), 'echo.cwl': ECHO }));
    expect(types[0]!.message).toBe('step "say" input "msg" expects string, but its source has type int');
    const missing = problemsOf(() => imp({ 'wf.cwl': BASE.replace('    in:\n      msg: msg\n', '    in: {}\n'), 'echo.cwl': ECHO }));
    expect(missing[0]!.message).toBe(`step "say": the tool's required input "msg" has no source and no default`);
  });

  it('refuses a File? output of a scattered step where it is used: gathered, its items could be null', () => {
    const tool = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: touch
inputs:
  msg: { type: string, inputBinding: { position: 1 } }
outputs:
  maybe: { type: File?, outputBinding: { glob: "*.txt" } }
  all: { type: "File[]", outputBinding: { glob: "*.txt" } }
`;
    const wf = `cwlVersion: v1.2
class: Workflow
requirements: { ScatterFeatureRequirement: {} }
inputs:
  msgs: string[]
outputs:
  maybes: { type: "File[]", outputSource: each/maybe }
  alls: { type: "File[][]", outputSource: each/all }
steps:
  each:
    run: tool.cwl
    scatter: msg
    in: { msg: msgs }
    out: [maybe, all]
`;
    // Without the check the import passed and the run failed at its end: "item 0: expected File, got null".
    const p = problemsOf(() => imp({ 'wf.cwl': wf, 'tool.cwl': tool }));
    expect(p).toEqual([{
      path: `wf.cwl:${pos(wf, 'each/maybe')}`,
      message: 'step "each" scatters, and its output "maybe" is File?: gathered, it is an array whose items can be null, which joinflow\'s CWL subset does not take (array items cannot be null): make the output File[] (an empty list where nothing matches)',
    }]);
  });

  it('refuses steps that depend on each other in a cycle', () => {
    const wf = `cwlVersion: v1.2
class: Workflow
inputs: {}
outputs: {}
steps:
  a:
    run: echo.cwl
    in: { msg: b/out }
    out: [out]
  b:
    run: echo.cwl
    in: { msg: a/out }
    out: [out]
`;
    const tool = ECHO.replace('type: string', 'type: File');
    const p = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': tool }));
    expect(p.map((x) => x.message)).toEqual(['the steps form a cycle: b -> a -> b']);
  });

  it('refuses step ids joinflow cannot keep: "__proto__", and "<scattered step>.<n>" (item n\'s files)', () => {
    const wf = (steps: string) => `cwlVersion: v1.2
class: Workflow
requirements: { ScatterFeatureRequirement: {} }
inputs:
  msgs: string[]
outputs: {}
steps:
${steps}`;
    const plain = (id: string) => `  ${id}:\n    run: echo.cwl\n    in: { msg: { default: hi } }\n    out: [out]\n`;
    const proto = wf(plain('__proto__'));
    expect(problemsOf(() => imp({ 'wf.cwl': proto, 'echo.cwl': ECHO })).map((x) => x.message)).toEqual(['step id "__proto__" cannot be a step\'s name in joinflow: rename the step']);
    const clash = wf(`  a:\n    run: echo.cwl\n    scatter: msg\n    in: { msg: msgs }\n    out: [out]\n${plain('a.0')}`);
    const p = problemsOf(() => imp({ 'wf.cwl': clash, 'echo.cwl': ECHO }));
    expect(p.map((x) => x.message)).toEqual(['step id "a.0" would share its files (logs, working directory) with item 0 of the scattered step "a": rename one of them']);
    expect(p[0]!.path).toBe(`wf.cwl:${pos(clash, 'a.0:')}`);
  });

  it('ignores unusable hints with a note instead of failing', () => {
    const tool = `${ECHO}hints:\n  SoftwareRequirement:\n    packages: [coreutils]\n  ResourceRequirement: { coresMin: 2, ramMin: 512 }\n`;
    const { notes, workflow } = imp({ 'wf.cwl': BASE, 'echo.cwl': tool });
    expect(notes).toEqual([`echo.cwl:${pos(tool, 'SoftwareRequirement')}: hint SoftwareRequirement ignored (software is not installed for a step; use DockerRequirement for the AWS image)`]);
    expect(Object.keys(workflow.steps)).toEqual(['say', 'outputs']);
  });
});

describe('importCwl: the workflow it writes', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const example = path.join(root, 'workflows/word-count/cwl/word-count.cwl');
  const readFile = (f: string): string => readFileSync(f, 'utf8');

  it('turns the word-count example into forEach steps, a scatter helper and an outputs step; it compiles', () => {
    const { workflow, stats } = importCwl(example, readFile(example), { readFile, outDir: path.join(root, 'workflows/word-count'), runner: RUNNER });
    expect(stats).toEqual({ steps: 7, scatters: 2, helpers: 1, inputs: 2, outputs: 4 });
    const steps = workflow.steps;
    expect(Object.keys(steps).sort()).toEqual(['chunks', 'count', 'extract', 'extract.scatter', 'measure', 'merge', 'outputs', 'rank', 'total']);
    // A scatter over a workflow input reads the array from a helper step; over a step's output, straight from it.
    expect(steps['extract']!.forEach).toBe('extract.scatter');
    expect(steps['extract']!.needs).toEqual(['extract.scatter']);
    expect(steps['measure']!.forEach).toEqual({ step: 'chunks', path: 'parts' });
    expect(steps['merge']!.needs).toEqual(['extract']);
    expect(steps['outputs']!.needs).toEqual(['chunks', 'extract', 'measure', 'rank', 'total'].filter((s) => s !== 'chunks'));
    expect(workflow.output).toBe('outputs');
    expect(spec(steps['merge']!.executor)).toMatchObject({ kind: 'tool', in: { files: { ref: { step: 'extract', output: 'words', gather: true } } } });
    expect(spec(steps['total']!.executor)).toMatchObject({ kind: 'tool', image: 'debian:12-slim' });
    expect(spec(steps['outputs']!.executor)).toMatchObject({ kind: 'outputs', outputs: { words: { ref: { step: 'extract', output: 'words', gather: true } } } });
    const plan = compileWorkflow(workflow, { source: 'workflows/word-count/workflow.json' });
    expect(plan.stats.steps).toBe(9);
  });

  it('is what workflows/word-count/workflow.json holds (re-import after changing the CWL files)', () => {
    const outDir = path.join(root, 'workflows/word-count');
    const runner = { command: 'node', args: ['../../bin/joinflow.js', 'cwl-tool'] };
    const { workflow } = importCwl(path.relative(root, example), readFile(example), { readFile: (f) => readFile(path.resolve(root, f)), outDir, runner });
    expect(workflow).toEqual(JSON.parse(readFile(path.join(outDir, 'workflow.json'))) as WorkflowInput);
  });

  it('uses a helper when the scattering step also takes another output of the same step, or a gathered one', () => {
    const tool2 = `cwlVersion: v1.2
class: CommandLineTool
baseCommand: cat
inputs:
  a: { type: File, inputBinding: { position: 1 } }
  b: { type: File, inputBinding: { position: 2 } }
outputs:
  out: stdout
  many: { type: "File[]", outputBinding: { glob: "*.txt" } }
`;
    const wf = `cwlVersion: v1.2
class: Workflow
requirements: { ScatterFeatureRequirement: {} }
inputs: { x: File }
outputs: {}
steps:
  first:
    run: tool.cwl
    in: { a: x, b: x }
    out: [out, many]
  both:
    run: tool.cwl
    scatter: a
    in: { a: first/many, b: first/out }
    out: [out]
  gathered:
    run: tool.cwl
    scatter: a
    in: { a: both/out, b: x }
    out: [out]
`;
    const { workflow } = imp({ 'wf.cwl': wf, 'tool.cwl': tool2 });
    expect(workflow.steps['both']!.forEach).toBe('both.scatter');
    expect(workflow.steps['both']!.needs).toEqual(['both.scatter', 'first']);
    expect(spec(workflow.steps['both.scatter']!.executor)).toEqual({ kind: 'items', value: { ref: { step: 'first', output: 'many', gather: false }, type: { base: 'File', depth: 1, optional: false } } });
    expect(workflow.steps['gathered']!.forEach).toBe('gathered.scatter');
    // The gathered array reaches the items through the helper only, not in every item's results.
    expect(workflow.steps['gathered']!.needs).toEqual(['gathered.scatter']);
    expect(workflow.steps['gathered.scatter']!.needs).toEqual(['both']);
    expect(spec(workflow.steps['gathered.scatter']!.executor)).toMatchObject({ value: { ref: { step: 'both', output: 'out', gather: true } } });
    // No workflow outputs: its output is {}, as cwltool gives it (a step of no needs that gathers nothing).
    expect(workflow.output).toBe('outputs');
    expect(workflow.steps['outputs']!.needs).toEqual([]);
    expect(spec(workflow.steps['outputs']!.executor)).toMatchObject({ kind: 'outputs', outputs: {} });
  });

  it('imports a lone CommandLineTool as a one-step workflow, with File defaults relative to the written file', () => {
    const tool = `cwlVersion: v1.0
class: CommandLineTool
baseCommand: cat
inputs:
  f:
    type: File
    default: { class: File, location: data/in.txt }
    inputBinding: { position: 1 }
outputs:
  out: stdout
`;
    const { workflow } = imp({ 'tools/cat.cwl': tool }, 'tools/cat.cwl', { outDir: '/out/wf' });
    expect(workflow.name).toBe('cat');
    expect(Object.keys(workflow.steps)).toEqual(['tool', 'outputs']);
    const s = spec(workflow.steps['tool']!.executor);
    const expected = path.relative('/out/wf', path.resolve('tools/data/in.txt'));
    expect(s).toMatchObject({ kind: 'tool', in: { f: { ref: { input: 'f', default: { class: 'File', path: expected } } } } });
    // No stdout name: the runner makes a random hidden one at run time (CWL: a random name).
    expect(s.kind === 'tool' && 'stdout' in s.tool).toBe(false);
  });

  it('reads the type notations of the subset into one form', () => {
    const tool = `cwlVersion: v1.1
class: CommandLineTool
baseCommand: tool
inputs:
  a: [null, File]
  b: "string[]?"
  c: { type: { type: array, items: int } }
  d: { type: ["null", { type: array, items: File }] }
  e: { type: double, default: 1 }
outputs: {}
`;
    const { workflow } = imp({ 'wf.cwl': tool });
    const s = spec(workflow.steps['tool']!.executor);
    expect(s.kind === 'tool' && s.tool.inputs.map((i) => [i.id, i.type, i.default])).toEqual([
      ['a', { base: 'File', depth: 0, optional: true }, undefined],
      ['b', { base: 'string', depth: 1, optional: true }, undefined],
      ['c', { base: 'int', depth: 1, optional: false }, undefined],
      ['d', { base: 'File', depth: 1, optional: true }, undefined],
      ['e', { base: 'double', depth: 0, optional: false }, 1],
    ]);
    expect(workflow.output).toBe('outputs');
    const typo = problemsOf(() => imp({ 'wf.cwl': SCATTER_BASE.replace('    out: [out]\n', '    out: [out]\n    scatter: msg\n    scatterMethod: dot\n'), 'echo.cwl': ECHO }));
    expect(typo.map((p) => p.message)).toContain('scatterMethod must be dotproduct, nested_crossproduct or flat_crossproduct, got the string "dot"');
  });

  it('accepts a step input the tool does not declare (valid CWL) with a note, and does not pass it', () => {
    const wf = BASE.replace('      msg: msg\n', '      msg: msg\n      extra: msg\n');
    const { workflow, notes } = imp({ 'wf.cwl': wf, 'echo.cwl': ECHO });
    const run = spec(workflow.steps['say']!.executor);
    expect(run.kind === 'tool' && Object.keys(run.in)).toEqual(['msg']);
    expect(notes).toEqual([`wf.cwl:${pos(wf, 'extra: msg').split(':')[0]}:7: step "say": "extra" is not an input of the tool it runs (known: msg): its value is not passed to the tool`]);
    // Its source must still exist.
    const bad = wf.replace('extra: msg', 'extra: nothere');
    expect(problemsOf(() => imp({ 'wf.cwl': bad, 'echo.cwl': ECHO })).map((p) => p.message)).toEqual(['unknown workflow input "nothere" (known: msg)']);
  });

  it('passes EnvVarRequirement to the tool: the most specific one as a whole (its own, else its step\'s, else its workflow\'s)', () => {
    const wf = BASE.replace('class: Workflow\n', 'class: Workflow\nrequirements:\n  EnvVarRequirement:\n    envDef: { LEVEL: workflow, FROM_WF: "1" }\n');
    const withStep = wf.replace('    run: echo.cwl\n', '    run: echo.cwl\n    requirements:\n      - class: EnvVarRequirement\n        envDef: [{ envName: LEVEL, envValue: step }, { envName: FROM_STEP, envValue: "2" }]\n');
    const tool = `${ECHO}requirements:\n  EnvVarRequirement:\n    envDef: { FROM_TOOL: "3" }\n`;
    const env = (files: Record<string, string>): unknown => {
      const run = spec(imp(files).workflow.steps['say']!.executor);
      return run.kind === 'tool' && run.tool.env;
    };
    // CWL v1.2: the most specific instance of a requirement class is used, not merged field by field.
    expect(env({ 'wf.cwl': withStep, 'echo.cwl': tool })).toEqual({ FROM_TOOL: '3' });
    expect(env({ 'wf.cwl': withStep, 'echo.cwl': ECHO })).toEqual({ LEVEL: 'step', FROM_STEP: '2' });
    expect(env({ 'wf.cwl': wf, 'echo.cwl': ECHO })).toEqual({ LEVEL: 'workflow', FROM_WF: '1' });
    // Without the requirement the tool gets no variables of its own.
    expect(env({ 'wf.cwl': BASE, 'echo.cwl': ECHO })).toEqual({});
  });

  it('--executor batch: image from DockerRequirement or --image, resources, the runner as the local command', () => {
    const tool = `${ECHO}requirements:\n  DockerRequirement: { dockerPull: "alpine:3" }\n  ResourceRequirement: { coresMin: 2, ramMin: 100 }\n  ToolTimeLimit: { timelimit: 30 }\n`;
    const { workflow, notes } = imp({ 'wf.cwl': BASE, 'echo.cwl': tool }, 'wf.cwl', { executor: 'batch', image: 'me/joinflow:1' });
    const say = workflow.steps['say']!;
    expect(say.timeoutMs).toBe(30_000);
    const e = say.executor as Extract<ExecutorInput, { type: 'batch' }>;
    // CPU jobs run on Fargate, which takes fixed sizes: 2 cores and 100 MiB become 2 vCPU and 4096 MiB.
    expect(e).toMatchObject({ type: 'batch', image: 'alpine:3', vcpus: 2, memoryMb: 4096, local: { command: 'node' } });
    expect(notes).toContain('step "say": ResourceRequirement (2 cores, 100 MiB) rounded up to the smallest AWS Fargate size that holds it: 2 vCPU, 4096 MiB');
    // A size Fargate has is kept as it is, without a note; one beyond its largest is refused.
    const exact = imp({ 'wf.cwl': BASE, 'echo.cwl': tool.replace('ramMin: 100', 'ramMin: 8192') }, 'wf.cwl', { executor: 'batch', image: 'me/joinflow:1' });
    expect(exact.workflow.steps['say']!.executor).toMatchObject({ vcpus: 2, memoryMb: 8192 });
    expect(exact.notes.filter((n) => n.includes('rounded up'))).toEqual([]);
    const huge = problemsOf(() => imp({ 'wf.cwl': BASE, 'echo.cwl': tool.replace('coresMin: 2', 'coresMin: 32') }, 'wf.cwl', { executor: 'batch', image: 'me/joinflow:1' }));
    expect(huge.map((x) => x.message)).toEqual(['step "say": ResourceRequirement (32 cores, 100 MiB) is more than AWS Fargate\'s largest task (16 vCPUs, 122,880 MiB), where --executor batch runs CPU jobs']);
    // At the requirement, in the tool's file (line 11 of echo.cwl), not at the top of the workflow.
    expect(huge.map((x) => x.path)).toEqual(['echo.cwl:11:24']);
    expect(e.command!.slice(0, 2)).toEqual(['joinflow', 'cwl-tool']);
    expect(e.command![2]).toBe(e.local!.args!.at(-1));
    expect(workflow.steps['outputs']!.executor).toMatchObject({ type: 'batch', image: 'me/joinflow:1' });
    const p = problemsOf(() => imp({ 'wf.cwl': BASE, 'echo.cwl': ECHO }, 'wf.cwl', { executor: 'batch' }));
    expect(p.map((x) => x.message)).toEqual(['--executor batch needs an image for "say", "outputs": give --image (an image with node, joinflow and the tools) or a DockerRequirement']);
  });
});
