import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findOrphans } from '../../src/adapters/local/orphans.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-cwl-');
const fixtures = path.join(root, 'test/fixtures/cwl');
type File = { class: 'File'; path: string; basename: string; size: number };
const read = (f: File): string => readFileSync(f.path, 'utf8');

/** Pids of the processes whose argv is exactly `argv` (Linux). */
function processesRunning(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === want ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

describe('joinflow import cwl + run', () => {
  it('imports the word-count workflow (scatter, gather, stdout, glob) and runs it to the expected files', () => {
    const dir = tmp();
    const out = path.join(dir, 'wc.yaml');
    const imported = joinflow(['import', 'cwl', 'workflows/word-count/cwl/word-count.cwl', '-o', out]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain('word-count: 7 CWL steps (2 scattered), 2 inputs, 4 outputs -> 9 process steps');
    expect(imported.stderr).toMatch(/note: workflows\/word-count\/cwl\/tools\/line-count\.cwl:6:3: DockerRequirement debian:12-slim/);
    const wf = parseYaml(readFileSync(out, 'utf8')) as { steps: Record<string, { executor: { args: string[] } }> };
    // Named relative to the workflow file, unless the two share nothing but "/" (then absolute):
    // which one depends on where the repository is checked out.
    const bin = path.join(root, 'bin/joinflow.js');
    const rel = path.relative(dir, bin);
    const sharesOnlyRoot = rel.split(path.sep).filter((s) => s === '..').length >= dir.split(path.sep).filter(Boolean).length;
    const runner = wf.steps['extract']!.executor.args[0]!;
    expect([runner, wf.steps['extract']!.executor.args[1]]).toEqual([sharesOnlyRoot ? bin : rel, 'cwl-tool']);
    expect(path.resolve(dir, runner)).toBe(bin);

    const texts = ['a', 'b', 'c'].map((n) => ({ class: 'File', path: path.join(root, `workflows/word-count/texts/${n}.txt`) }));
    const state = tmp();
    const r = joinflow(['run', out, '--input', JSON.stringify({ texts, chunk_lines: 4 }), '--json', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { runId: string; status: string; output: Record<string, File | File[]>; steps: Record<string, number> };
    expect(result.status).toBe('succeeded');
    expect(result.steps['failed']).toBe(0);
    const o = result.output;
    expect(Object.keys(o).sort()).toEqual(['chunk_sizes', 'counts', 'lines', 'words']);
    const ranked = read(o['counts'] as File).split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/));
    expect(ranked).toEqual([['4', 'the'], ['2', 'a'], ['2', 'cat'], ['2', 'dog'], ['2', 'sat'], ['1', 'and'], ['1', 'end'], ['1', 'mat'], ['1', 'on'], ['1', 'too']]);
    // One words file per text, gathered in input order.
    const words = o['words'] as File[];
    expect(words.map(read)).toEqual(['the\ncat\nsat\non\nthe\nmat\nthe\ndog\nsat\ntoo\n', 'a\ncat\nand\na\ndog\n', 'the\nend\n']);
    // The working directories are in the run's data directory, which `joinflow gc` deletes with the run.
    expect(words.map((w) => path.relative(state, w.path))).toEqual([0, 1, 2].map((i) => `runs/${result.runId}/data/cwl/extract.${i}.1/words.txt`));
    // 10 ranked lines in chunks of 4: 4 + 4 + 2, each measured by its own scattered wc -l.
    expect((o['chunk_sizes'] as File[]).map((f) => read(f).trim().split(' ')[0])).toEqual(['4', '4', '2']);
    expect(read(o['lines'] as File).trim().split('\n').at(-1)!.trim()).toBe('4 total');
  });

  it('runs a lone CommandLineTool imported as batch steps locally: the output file holds the command line it built', () => {
    const dir = tmp();
    const out = path.join(dir, 'printf.json');
    const imported = joinflow(['import', 'cwl', path.join(fixtures, 'printf-tool.cwl'), '-o', out, '--executor', 'batch', '--image', 'example/joinflow-cwl:1']);
    expect(imported.code, imported.stderr).toBe(0);
    const steps = (JSON.parse(readFileSync(out, 'utf8')) as { steps: Record<string, { executor: { type: string; image: string } }> }).steps;
    expect(Object.values(steps).map((s) => `${s.executor.type} ${s.executor.image}`)).toEqual(['batch example/joinflow-cwl:1', 'batch example/joinflow-cwl:1']);
    const input = { names: ['x', 'y'], sizes: [10, 20], tags: ['p', 'q'] };
    const r = joinflow(['run', out, '--input', JSON.stringify(input), '--json', '--state', tmp()]);
    expect(r.code, r.stderr).toBe(0);
    const argv = read((JSON.parse(r.stdout) as { output: { argv: File } }).output.argv).split('\n').slice(0, -1);
    expect(argv).toEqual(['--first', '-v', '-I', '10,20', '-n', 'x', 'y', '-t=p', '-t=q', '--mode=fast', path.join(fixtures, 'data/ref.txt')]);
  });

  it.skipIf(process.platform !== 'linux')('stops the tool of a CWL step that times out: no process of it is left', () => {
    const dir = tmp();
    // A duration no other process has, to find this tool's process by its command line.
    const seconds = `4242.${String(process.pid).padStart(7, '0')}${Date.now() % 1000}`;
    writeFileSync(path.join(dir, 'sleep.cwl'), `cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: [sleep, "${seconds}"]\nrequirements:\n  ToolTimeLimit: { timelimit: 1 }\ninputs: {}\noutputs: {}\n`);
    const out = path.join(dir, 'sleep.json');
    expect(joinflow(['import', 'cwl', path.join(dir, 'sleep.cwl'), '-o', out]).code).toBe(0);
    try {
      const r = joinflow(['run', out, '--json', '--state', tmp()]);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as { runId: string; status: string; error: { type: string } };
      expect([result.status, result.error.type]).toEqual(['failed', 'StepTimeout']);
      // The tool carries the step's identity (JOINFLOW_RUN_ID, ...), by which the engine found and stopped it.
      expect(findOrphans(result.runId)).toEqual([]);
      expect(processesRunning(['sleep', seconds])).toEqual([]);
    } finally {
      for (const pid of processesRunning(['sleep', seconds])) process.kill(pid, 'SIGKILL');
    }
  });

  it('writes absolute paths when the workflow goes to stdout, so that it runs wherever it is saved', () => {
    const imported = joinflow(['import', 'cwl', 'test/fixtures/cwl/printf-tool.cwl']);
    expect(imported.code, imported.stderr).toBe(0);
    const elsewhere = path.join(tmp(), 'saved', 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const out = path.join(elsewhere, 'redirected.json');
    writeFileSync(out, imported.stdout);
    const wf = JSON.parse(imported.stdout) as { steps: Record<string, { executor: { args: string[] } }> };
    expect(wf.steps['tool']!.executor.args[0]).toBe(path.join(root, 'bin/joinflow.js'));
    const r = joinflow(['run', out, '--input', JSON.stringify({ names: ['x'], sizes: [1], tags: ['p'] }), '--json', '--state', tmp()], { cwd: elsewhere });
    expect(r.code, r.stderr).toBe(0);
    const argv = read((JSON.parse(r.stdout) as { output: { argv: File } }).output.argv).split('\n').slice(0, -1);
    expect(argv.at(-1)).toBe(path.join(fixtures, 'data/ref.txt'));
  });

  it('gives {} as the output of a workflow that declares no outputs, as cwltool does (not its steps\' outputs), after every step ran', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'touch.cwl'), 'cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: [sh, -c, "echo ran > ran.txt"]\ninputs: {}\noutputs:\n  done:\n    type: File\n    outputBinding: {glob: ran.txt}\n');
    writeFileSync(path.join(dir, 'wf.cwl'), 'cwlVersion: v1.2\nclass: Workflow\ninputs: {}\noutputs: {}\nsteps:\n  touch:\n    run: touch.cwl\n    in: {}\n    out: [done]\n');
    const out = path.join(dir, 'wf.json');
    expect(joinflow(['import', 'cwl', path.join(dir, 'wf.cwl'), '-o', out]).code).toBe(0);
    const r = joinflow(['run', out, '--json', '--state', tmp()]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { output: unknown; steps: { total: number; succeeded: number } };
    expect(result.output).toEqual({});
    // The tool's step and the outputs step both ran.
    expect(result.steps).toMatchObject({ total: 2, succeeded: 2 });
  });

  it('passes an escaped \\$( and \\${ to the tool as a literal $( and ${ (CWL v1.2 string interpolation); an unescaped one is still refused at its line', () => {
    const dir = tmp();
    const tool = [
      'cwlVersion: v1.2',
      'class: CommandLineTool',
      "baseCommand: [printf, '%s\\n']",
      'arguments:',
      "  - '\\$(date) costs \\${HOME}'",
      "  - { valueFrom: 'C:\\\\dir \\$(x)', position: 2 }",
      "  - 'a\\\\b'",
      'inputs:',
      '  msg: { type: string, inputBinding: { position: 1 } }',
      'outputs:',
      '  out: stdout',
      "stdout: '\\$(said).txt'",
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'say.cwl'), tool);
    const out = path.join(dir, 'say.json');
    const imported = joinflow(['import', 'cwl', path.join(dir, 'say.cwl'), '-o', out]);
    expect(imported.code, imported.stderr).toBe(0);
    const r = joinflow(['run', out, '--input', JSON.stringify({ msg: '$(inputs.msg)' }), '--json', '--state', tmp()]);
    expect(r.code, r.stderr).toBe(0);
    const file = (JSON.parse(r.stdout) as { output: { out: File } }).output.out;
    expect(file.basename).toBe('$(said).txt');
    // `\\` is a backslash in a string that is interpolated (it holds `$(`); `a\\b` holds none and is passed as written.
    // Run-input values are never interpolated.
    expect(read(file).split('\n').slice(0, -1)).toEqual(['$(date) costs ${HOME}', 'a\\\\b', '$(inputs.msg)', 'C:\\dir $(x)']);

    // `$(` unescaped, and `$(` after an escaped backslash (`\\` then `$(`), are parameter references.
    const argument = '$(inputs.msg) costs \\${HOME}';
    const valueFrom = 'C:\\\\$(x)';
    const unescaped = tool.replace("'\\$(date) costs \\${HOME}'", `'${argument}'`).replace("'C:\\\\dir \\$(x)'", `'${valueFrom}'`);
    writeFileSync(path.join(dir, 'say.cwl'), unescaped);
    const refused = joinflow(['import', 'cwl', path.join(dir, 'say.cwl'), '-o', out]);
    expect(refused.code).toBe(2);
    const why = 'is not supported by joinflow\'s CWL subset (parameter references and JavaScript expressions are not evaluated: use a literal value, and write \\$( for a literal $()';
    expect(refused.stderr.split('\n').filter((l) => l.startsWith('  - '))).toEqual([
      `  - ${path.join(dir, 'say.cwl')}:5:5: the expression in an argument (${JSON.stringify(argument)}) ${why}`,
      `  - ${path.join(dir, 'say.cwl')}:6:7: the expression in valueFrom (${JSON.stringify(valueFrom)}) ${why}`,
    ]);
  });

  it('fails the run with the tool exit code and its stderr', () => {
    const dir = tmp();
    const out = path.join(dir, 'fail.json');
    expect(joinflow(['import', 'cwl', path.join(fixtures, 'fail.cwl'), '-o', out]).code).toBe(0);
    const r = joinflow(['run', out, '--state', tmp()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('something went wrong');
    expect(r.stderr).toContain('step "tool": sh exited with code 3');
  });

  it('checks the whole run input before the first steps run: a missing or mistyped input fails the run before any work', () => {
    const dir = tmp();
    const cwl = path.join(dir, 'late.cwl');
    // "n" is read only by the last step, and "unused" by none.
    writeFileSync(cwl, [
      'cwlVersion: v1.2',
      'class: Workflow',
      'inputs: {word: string, n: int, unused: File}',
      'outputs: {o: {type: File, outputSource: last/o}}',
      'steps:',
      '  first:',
      '    in: {w: word}',
      '    out: [o]',
      '    run: {class: CommandLineTool, baseCommand: [touch, first-ran], inputs: {w: string}, outputs: {o: {type: File, outputBinding: {glob: first-ran}}}}',
      '  last:',
      '    in: {f: first/o, n: n}',
      '    out: [o]',
      '    run: {class: CommandLineTool, baseCommand: [cat], inputs: {f: {type: File, inputBinding: {position: 1}}, n: int}, outputs: {o: stdout}}',
      '',
    ].join('\n'));
    const out = path.join(dir, 'late.json');
    expect(joinflow(['import', 'cwl', cwl, '-o', out]).code).toBe(0);
    writeFileSync(path.join(dir, 'u.txt'), 'u');
    const unused = { class: 'File', path: 'u.txt' };
    const state = tmp();
    const runs: Array<[unknown, string]> = [
      [{ word: 'w', n: 'three', unused }, 'step "first": workflow input "n": expected int, got string "three"'],
      [{ word: 'w', n: 3 }, 'step "first": the workflow input "unused" is missing from the run\'s input (expected File, got null)'],
      [{ word: 'w', n: 3, unused: { class: 'File', path: 'gone.txt' } }, 'step "first": workflow input "unused": no such file'],
    ];
    for (const [input, error] of runs) {
      const r = joinflow(['run', out, '--input', JSON.stringify(input), '--json', '--state', state]);
      expect(r.code, r.stderr).toBe(1);
      const result = JSON.parse(r.stdout) as { runId: string; error: { step: string; message: string } };
      expect(result.error.step).toBe('first');
      expect(result.error.message).toContain(error);
      // The tool of the first step did not run (its working directory was not even made).
      expect(existsSync(path.join(state, 'runs', result.runId, 'data', 'cwl', 'first.1'))).toBe(false);
    }
    const ok = joinflow(['run', out, '--input', JSON.stringify({ word: 'w', n: 3, unused }), '--json', '--state', state]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('cwl-tool run by hand names what is wrong with its spec or event (exit 2)', () => {
    const cases: Array<[string, string, string]> = [
      ['{"kind":"bogus"}', '{}', 'the step spec is not what joinflow import cwl writes: kind: Invalid option: expected one of "tool"|"items"|"outputs"'],
      ['[]', '{}', 'the step spec is not what joinflow import cwl writes: the spec: Invalid input: expected object, received array'],
      ['{"kind":"outputs"', '{}', 'the step spec is not what joinflow import cwl writes: '],
      ['{"kind":"outputs","outputs":{}}', 'not json', 'the step event (stdin or $JOINFLOW_EVENT) must be JSON {input, results, item?}: '],
    ];
    for (const [spec, event, message] of cases) {
      const r = joinflow(['cwl-tool', spec], { cwd: tmp(), input: event });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toContain(`joinflow cwl-tool: ${message}`);
      expect(r.stderr.split('\n')[0]).not.toMatch(/: \[$/);
    }
  });

  it('refuses constructs outside the subset with file:line:col, all at once, exit 2', () => {
    const file = path.relative(root, path.join(fixtures, 'unsupported.cwl'));
    const r = joinflow(['import', 'cwl', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(lines).toEqual([
      `  - ${file}:4:5: SubworkflowFeatureRequirement is not supported by joinflow's CWL subset (steps must run CommandLineTools, not nested workflows)`,
      `  - ${file}:6:10: the type Directory is not supported by joinflow's CWL subset (pass files one by one as File or File[])`,
      `  - ${file}:18:5: step "align" field "when" is not supported by joinflow's CWL subset (conditional steps are not supported: every step runs)`,
      `  - ${file}:13:7: CommandLineTool field "stdin" is not supported by joinflow's CWL subset (tools get no stdin: pass the file as an input bound on the command line)`,
    ]);
    expect(r.stderr).toContain(`joinflow import: ${file}: invalid workflow definition (4 problems):`);
  });

  it('refuses an -o that is the CWL file or one of its tools (by any path or link), and --image without --executor batch; nothing is written', () => {
    const dir = tmp();
    const cwl = path.join(dir, 'cwl');
    mkdirSync(path.join(cwl, 'tools'), { recursive: true });
    for (const f of ['word-count.cwl', ...readdirSync(path.join(root, 'workflows/word-count/cwl/tools')).map((t) => `tools/${t}`)]) {
      writeFileSync(path.join(cwl, f), readFileSync(path.join(root, 'workflows/word-count/cwl', f)));
    }
    const main = path.join(cwl, 'word-count.cwl');
    const tool = path.join(cwl, 'tools/words.cwl');
    const before = [readFileSync(main, 'utf8'), readFileSync(tool, 'utf8')];
    symlinkSync(tool, path.join(dir, 'link.yaml'));
    // The CWL file itself: refused (as not a workflow file name, before anything is read).
    const self = joinflow(['import', 'cwl', main, '-o', main]);
    expect([self.code, self.stderr]).toEqual([2, expect.stringContaining(`-o ${main}: the workflow is written as JSON or YAML, by the file's extension`)]);
    // A link to it with a workflow file's name: refused as the CWL file being imported.
    symlinkSync(main, path.join(dir, 'main.json'));
    const selfLink = joinflow(['import', 'cwl', main, '-o', path.join(dir, 'main.json')]);
    expect([selfLink.code, selfLink.stderr]).toEqual([2, expect.stringContaining(`-o ${path.join(dir, 'main.json')}: is the CWL file being imported (${main}); writing the workflow there would overwrite it`)]);
    const viaLink = joinflow(['import', 'cwl', main, '-o', path.join(dir, 'link.yaml')]);
    expect(viaLink.code).toBe(2);
    expect(viaLink.stderr).toMatch(/link\.yaml: is a CWL file the workflow runs \(.*tools\/words\.cwl\)/);
    expect([readFileSync(main, 'utf8'), readFileSync(tool, 'utf8')]).toEqual(before);
    const image = joinflow(['import', 'cwl', main, '--image', 'example/x:1', '-o', path.join(dir, 'x.json')]);
    expect([image.code, image.stderr]).toEqual([2, expect.stringContaining('--image applies to --executor batch')]);
    expect(readdirSync(dir).sort()).toEqual(['cwl', 'link.yaml', 'main.json']);
  });

  it('keeps joinflow import wfcommons working and names every format on bad usage', () => {
    const r = joinflow(['import', 'nope', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown format "nope" (supported: wfcommons, cwl, asl)');
    const wrong = joinflow(['import', 'wfcommons', 'x.json', '--tasks', 't.ts']);
    expect([wrong.code, wrong.stderr]).toEqual([2, expect.stringContaining('--tasks applies to joinflow import asl only')]);
    const trace = path.join(root, '../shared/corpora/wfcommons/blast-chameleon-small-001.json');
    const w = joinflow(['import', 'wfcommons', trace]);
    expect(w.code).toBe(0);
    expect(Object.keys((JSON.parse(w.stdout) as { steps: object }).steps)).toHaveLength(43);
  });
});
