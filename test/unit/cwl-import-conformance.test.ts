/** What CWL v1.2 says beyond a document's shape: feature requirements, the escapes of string interpolation. */
import { describe, expect, it } from 'vitest';
import { interpolateLiteral } from '../../src/importers/cwl/escapes.ts';
import { problemsOf } from '../helpers/problems.ts';
import { BASE, ECHO, imp, pos, spec } from '../helpers/cwl-import.ts';

describe('importCwl: a scatter needs ScatterFeatureRequirement (CWL v1.2, WorkflowStep)', () => {
  /** BASE with a workflow input of strings that step "say" scatters over. */
  const scattering = (wfBlock = '', stepBlock = ''): string => BASE
    .replace('class: Workflow\n', `class: Workflow\n${wfBlock}`)
    .replace('  msg: string\n', '  msg: string[]\n')
    .replace('    type: File\n    outputSource', '    type: File[]\n    outputSource')
    .replace('    run: echo.cwl\n', `    run: echo.cwl\n    scatter: msg\n${stepBlock}`);
  const fix = 'add ScatterFeatureRequirement to the workflow\'s requirements (requirements: {ScatterFeatureRequirement: {}}), or to the step\'s';

  it('refuses a scatter that neither the workflow nor the step declares it for, at the step\'s scatter, naming the fix', () => {
    const wf = scattering();
    const problems = problemsOf(() => imp({ 'wf.cwl': wf, 'echo.cwl': ECHO }));
    expect(problems).toEqual([{
      path: `wf.cwl:${pos(wf, 'scatter:')}`,
      message: `step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares: ${fix}`,
    }]);
  });

  it('takes it from the workflow\'s requirements (map or list form) or the step\'s', () => {
    for (const wf of [
      scattering('requirements: { ScatterFeatureRequirement: {} }\n'),
      scattering('requirements:\n  - class: ScatterFeatureRequirement\n'),
      scattering('', '    requirements: [{ class: ScatterFeatureRequirement }]\n'),
    ]) {
      const { workflow } = imp({ 'wf.cwl': wf, 'echo.cwl': ECHO });
      expect(workflow.steps['say']!.forEach).toBe('say.scatter');
    }
  });

  it('a hint, or the tool\'s own requirement, does not enable it: the problem names where it is', () => {
    const hinted = scattering('hints: { ScatterFeatureRequirement: {} }\n');
    const [hint] = problemsOf(() => imp({ 'wf.cwl': hinted, 'echo.cwl': ECHO }));
    expect(hint).toEqual({
      path: `wf.cwl:${pos(hinted, 'scatter:')}`,
      message: `step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares (it is only a hint at wf.cwl:${pos(hinted, 'ScatterFeatureRequirement')}, and CWL requires it under requirements): ${fix}`,
    });
    const tool = `${ECHO}requirements: { ScatterFeatureRequirement: {} }\n`;
    const [own] = problemsOf(() => imp({ 'wf.cwl': scattering(), 'echo.cwl': tool }));
    expect(own!.message).toBe(`step "say": scatter needs ScatterFeatureRequirement, which neither the workflow nor the step declares (the tool's at echo.cwl:${pos(tool, 'ScatterFeatureRequirement')} does not count: CWL reads it from the workflow or the step): ${fix}`);
  });
});

describe('interpolateLiteral: the escapes of CWL string interpolation, nothing evaluated', () => {
  it.each([
    // CWL v1.2: `\$(` and `\${` are literal, `\\` is a backslash, any other backslash stays.
    ['v1.2', 'a \\$(b) \\${c}', { text: 'a $(b) ${c}' }],
    ['v1.2', '\\\\\\$(x)', { text: '\\$(x)' }],
    ['v1.2', 'C:\\\\dir \\n \\$(x) \\', { text: 'C:\\dir \\n $(x) \\' }],
    ['v1.2', '\\$x \\$(x)', { text: '\\$x $(x)' }],
    // A string without `$(` or `${` is not interpolated: its backslashes are as written.
    ['v1.2', 'a\\\\b \\n', { text: 'a\\\\b \\n' }],
    // A reference left: where it starts (after an escaped backslash too).
    ['v1.2', 'x $(inputs.a)', { reference: 2 }],
    ['v1.2', '\\\\$(inputs.a)', { reference: 2 }],
    ['v1.2', '\\$(a) ${return 1}', { reference: 6 }],
    // CWL v1.0 and v1.1 define no escapes; cwltool reads a backslash as escaping any character there.
    ['v1.0', 'C:\\\\dir \\n \\$(x)', { text: 'C:\\dir n $(x)' }],
    ['v1.1', '\\\\$(inputs.a)', { reference: 2 }],
  ])('%s %j', (version, raw, expected) => {
    expect(interpolateLiteral(raw, version)).toEqual(expected);
  });
});

describe('importCwl: escaped $( and ${ in the fields CWL interpolates', () => {
  const tool = (block: string): string => `cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo]
${block}`;

  it('takes \\$( and \\${ as literal text in arguments, valueFrom, stdout, glob, envValue and format', () => {
    const cwl = tool(String.raw`arguments: ['\$(a)', { valueFrom: 'b\${c}', position: 1 }]
requirements:
  EnvVarRequirement: { envDef: { PRICE: '\$(cost) \\ \$(tax)' } }
inputs:
  f: { type: File, format: 'http://x.org/\$(f)' }
outputs:
  out: stdout
  all: { type: 'File[]', format: 'http://x.org/\$(o)', outputBinding: { glob: '\$(x)*.txt' } }
stdout: '\$(said).txt'
`);
    const run = spec(imp({ 'tool.cwl': cwl }, 'tool.cwl').workflow.steps['tool']!.executor);
    if (run.kind !== 'tool') throw new Error('not a tool step');
    expect(run.tool.arguments.map((a) => a.value)).toEqual(['$(a)', 'b${c}']);
    expect(run.tool.stdout).toBe('$(said).txt');
    expect(run.tool.env).toEqual({ PRICE: '$(cost) \\ $(tax)' });
    expect(run.tool.outputs.map((o) => ['glob' in o ? o.glob : o.stream, o.format])).toEqual([['stdout', undefined], [['$(x)*.txt'], 'http://x.org/$(o)']]);
    expect(run.in['f']!.type.format).toEqual(['http://x.org/$(f)']);
  });

  it('still refuses an unescaped reference in each, and a position that is an escaped string is no number', () => {
    const cwl = tool(String.raw`arguments: ['$(a)', { valueFrom: x, position: '\$(p)' }]
inputs: {}
outputs:
  all: { type: 'File[]', outputBinding: { glob: '\\$(x).txt' } }
stdout: 'a$(b)'
`);
    const problems = problemsOf(() => imp({ 'tool.cwl': cwl }, 'tool.cwl')).map((p) => `${p.path} ${p.message.replace(/ is not supported .*/, '')}`);
    expect(problems).toEqual([
      `tool.cwl:${pos(cwl, "'$(a)'")} the expression in an argument ("$(a)")`,
      `tool.cwl:${pos(cwl, String.raw`'\$(p)'`)} position must be a whole number, got the string ${JSON.stringify(String.raw`\$(p)`)}`,
      `tool.cwl:${pos(cwl, 'stdout:')} the expression in stdout ("a$(b)")`,
      `tool.cwl:${pos(cwl, 'glob:')} the expression in glob (${JSON.stringify(String.raw`\\$(x).txt`)})`,
    ]);
  });
});

describe('importCwl: a source whose Files have a format the tool input does not take', () => {
  const X = 'http://example.org/formats#';
  const tool = (id: string, format: string, out = ''): string => `cwlVersion: v1.2
class: CommandLineTool
baseCommand: [cat]
inputs:
  ${id}: { type: File, format: ${format}, inputBinding: { position: 1 } }
outputs:
  out: { type: stdout${out === '' ? '' : `, format: ${out}`} }
$namespaces: { x: "${X}" }
`;
  const wf = `cwlVersion: v1.2
class: Workflow
requirements: { ScatterFeatureRequirement: {} }
$namespaces: { f: "${X}" }
inputs:
  reads: { type: File, format: [f:fastq, f:fasta] }
  many: { type: "File[]", format: f:fastq }
outputs:
  n: { type: File, outputSource: count/out }
steps:
  trim:
    run: trim.cwl
    in: { fq: reads }
    out: [out]
  each:
    run: trim.cwl
    scatter: fq
    in:
      fq:
        source: many
    out: [out]
  count:
    run: count.cwl
    in: { table: trim/out }
    out: [out]
`;
  const files = { 'wf.cwl': wf, 'trim.cwl': tool('fq', 'x:fastq', 'x:fasta'), 'count.cwl': tool('table', 'x:csv') };

  it('is a note at import naming both sides and the line of the source, not a problem (valid CWL, checked on the Files at run time)', () => {
    const { notes, workflow } = imp(files);
    const why = 'such a File fails the step when it runs (formats are compared exactly: the ontology of $schemas is not read)';
    expect(notes.filter((n) => n.includes('takes Files of format'))).toEqual([
      `wf.cwl:${pos(wf, 'reads }')}: step "trim" input "fq" takes Files of format ${X}fastq; its source is workflow input "reads", which takes Files of format ${X}fasta (besides ones the input takes): ${why}`,
      `wf.cwl:${pos(wf, 'trim/out')}: step "count" input "table" takes Files of format ${X}csv; its source is step "trim" output "out", which gives Files of format ${X}fasta: ${why}`,
    ]);
    // The run still checks every File against its input's formats.
    expect(Object.keys(workflow.steps).sort()).toEqual(['count', 'each', 'each.scatter', 'outputs', 'trim']);
  });

  it('says nothing where the formats agree, or where a side declares none', () => {
    const agreeing = { ...files, 'count.cwl': tool('table', 'x:fasta'), 'wf.cwl': wf.replace('[f:fastq, f:fasta]', 'f:fastq') };
    expect(imp(agreeing).notes.filter((n) => n.includes('takes Files of format'))).toEqual([]);
    const untyped = { ...files, 'trim.cwl': tool('fq', 'x:fastq') };
    expect(imp(untyped).notes.filter((n) => n.includes('takes Files of format'))).toEqual([`wf.cwl:${pos(wf, 'reads }')}: step "trim" input "fq" takes Files of format ${X}fastq; its source is workflow input "reads", which takes Files of format ${X}fasta (besides ones the input takes): such a File fails the step when it runs (formats are compared exactly: the ontology of $schemas is not read)`]);
  });
});
