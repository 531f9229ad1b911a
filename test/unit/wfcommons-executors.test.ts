import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import { parseExecutorMapping, singleExecutorMapping } from '../../src/importers/wfcommons-executors.ts';
import { UsageError } from '../../src/model/errors.ts';
import { problemsOf } from '../helpers/problems.ts';

const root = path.resolve(import.meta.dirname, '../..');
const corpus = path.join(root, '../shared/corpora/wfcommons');
const load = (file: string): unknown => JSON.parse(readFileSync(path.join(corpus, file), 'utf8'));
const MONTAGE = 'montage-chameleon-2mass-005d-001.json';
const GENOME = '1000genome-chameleon-2ch-100k-001.schema14.json';

type RawTask = { id: string; inputFiles: string[]; outputFiles: string[] };
const montageTasks = (load(MONTAGE) as { workflow: { specification: { tasks: RawTask[] } } }).workflow.specification.tasks;

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}


describe('WfCommons import: data files', () => {
  it('keeps every Montage task\'s input and output files, in trace order, when asked', () => {
    // Simulated imports leave them out unless asked: simulate steps do not stage anything.
    expect(Object.values(importWfCommons(load(MONTAGE)).workflow.steps).filter((s) => s.files !== undefined)).toEqual([]);
    const { workflow } = importWfCommons(load(MONTAGE), { files: true });
    expect(Object.keys(workflow.steps)).toHaveLength(58);
    for (const t of montageTasks) {
      expect(workflow.steps[t.id]!.files, t.id).toEqual({ inputs: t.inputFiles, outputs: t.outputFiles });
      expect(workflow.steps[t.id]!.executor.type).toBe('simulate');
    }
    // Files do not change the plan's simulated critical path, and the plan carries them.
    const plan = compileWorkflow(workflow, { source: 'workflows/montage/workflow.json' });
    expect(plan.stats.criticalPathMs).toBeCloseTo(21385, 6);
    expect(plan.steps['mAdd_ID0000018']!.files!.outputs).toEqual(['1-mosaic.fits', '1-mosaic_area.fits']);
  });

  it('reads 1.4 files[] by link, and the recorded command', () => {
    const mapping = singleExecutorMapping('process', 'echo {category} {program} {arguments} -- {inputs} -- {outputs}');
    const { workflow } = importWfCommons(load(GENOME), { executors: mapping });
    const step = workflow.steps['individuals_ID0000001']!;
    expect(step.files).toEqual({ inputs: ['ALL.chr21.100000.vcf', 'columns.txt'], outputs: ['chr21n-1-1001.tar.gz'] });
    expect(step.executor).toEqual({
      type: 'process',
      command: 'echo',
      args: ['individuals', 'individuals', 'ALL.chr21.100000.vcf', '21', '1', '1001', '10000', '--', 'ALL.chr21.100000.vcf', 'columns.txt', '--', 'chr21n-1-1001.tar.gz'],
      env: {},
    });
  });

  it('drops the file lists of mapped tasks when asked', () => {
    const { workflow } = importWfCommons(load(MONTAGE), { executors: singleExecutorMapping('process', 'true'), files: false });
    expect(Object.values(workflow.steps).filter((s) => s.files !== undefined)).toEqual([]);
    const mapped = importWfCommons(load(MONTAGE), { executors: parseExecutorMapping({ files: false, default: { type: 'simulate' } }) });
    expect(Object.values(mapped.workflow.steps).filter((s) => s.files !== undefined)).toEqual([]);
  });

  it('keeps file lists only on steps that stage them: a task mapped to a handler gets none (and is counted)', () => {
    const mapping = parseExecutorMapping({ tasks: { mProject: { type: 'function', module: './h.ts' } }, default: { type: 'process', command: 'true' } });
    const { workflow, stats } = importWfCommons(load(MONTAGE), { executors: mapping });
    const projects = Object.entries(workflow.steps).filter(([id]) => id.startsWith('mProject'));
    expect(projects.length).toBeGreaterThan(0);
    expect(projects.filter(([, s]) => s.files !== undefined)).toEqual([]);
    expect(stats.filesDropped).toBe(projects.length);
    expect(workflow.steps['mAdd_ID0000018']!.files).toBeDefined();
    // What it writes compiles: a function step with files would be refused.
    expect(() => compileWorkflow(workflow, { source: 'x.json' })).not.toThrow();
  });

  it('orders a reader after the writer of its file when the trace does not, and says so; not when files are not staged', () => {
    const spec = (tasks: unknown[]) => ({ schemaVersion: '1.5', workflow: { specification: { tasks }, execution: { tasks: [] } } });
    const trace = spec([
      { id: 'a', parents: [], children: [], inputFiles: [], outputFiles: ['f.txt'] },
      { id: 'b', parents: [], children: [], inputFiles: ['f.txt'], outputFiles: ['g.txt'] },
      // Already after a (through b): no edge added.
      { id: 'c', parents: ['b'], children: [], inputFiles: ['f.txt', 'g.txt'], outputFiles: [] },
    ]);
    const staged = importWfCommons(trace, { executors: singleExecutorMapping('process', 'true') });
    expect(Object.fromEntries(Object.entries(staged.workflow.steps).map(([id, s]) => [id, s.needs]))).toEqual({ a: [], b: ['a'], c: ['b'] });
    expect(staged.stats.edges).toBe(2);
    expect(staged.warnings.map((w) => `${w.path}: ${w.message}`)).toContain('workflow.specification.tasks[1]: reads "f.txt", which a writes, but the trace does not order them: b now needs a');
    // Simulated, the files are not staged: the trace's edges only.
    expect(importWfCommons(trace).workflow.steps['b']!.needs).toEqual([]);
    // Two writers of one file: said. A reader that the trace puts before the writer: a cycle, refused.
    const twice = importWfCommons(spec([{ id: 'a', outputFiles: ['f.txt'] }, { id: 'b', outputFiles: ['f.txt'] }]), { files: true, executors: singleExecutorMapping('process', 'true') });
    expect(twice.warnings.map((w) => w.message)).toContain('file "f.txt" is written by 2 tasks (a, b): they share the run\'s data directory, so the last to end leaves its copy');
    const loop = spec([{ id: 'a', parents: ['b'], outputFiles: [] }, { id: 'b', parents: [], inputFiles: ['f.txt'] }, { id: 'w', parents: ['a'], outputFiles: ['f.txt'] }]);
    expect(problemsOf(() => importWfCommons(loop, { executors: singleExecutorMapping('process', 'true') })).map((p) => `${p.path}: ${p.message}`)).toEqual([
      'workflow.specification.tasks[1]: dependency cycle once the file lists order their readers after their writers: w -> b -> a -> w ("f.txt" is written by w and read by b)',
    ]);
  });

  it('refuses file names that would leave the run\'s data area, with their path', () => {
    const trace = { workflow: { specification: { tasks: [{ id: 'a', inputFiles: ['ok.txt', '../etc/passwd'], outputFiles: ['/abs'] }] } } };
    expect(problemsOf(() => importWfCommons(trace, { files: true })).map((p) => p.path)).toEqual([
      'workflow.specification.tasks[0].inputFiles[1]',
      'workflow.specification.tasks[0].outputFiles[0]',
    ]);
  });

  it('says what a file entry without a name is, in a sentence', () => {
    const trace = { schemaVersion: '1.4', workflow: { tasks: [{ name: 'a', parents: [], runtime: 1, files: [{ link: 'output' }, { link: 'input', name: 7 }] }] } };
    expect(problemsOf(() => importWfCommons(trace, { files: true })).map((p) => `${p.path}: ${p.message}`)).toEqual([
      'workflow.tasks[0].files[0].name: must be a file name (a string), got nothing (the field is missing)',
      'workflow.tasks[0].files[1].name: must be a file name (a string), got number 7',
    ]);
  });
});

describe('WfCommons import: executor mapping', () => {
  it('the shipped Montage mapping gives every task tool.mjs with its files and scaled runtime', () => {
    const raw = parseYaml(readFileSync(path.join(root, 'workflows/montage/mapping.yaml'), 'utf8'));
    // As the CLI does for `-o workflows/montage-files/workflow.json`.
    const mapping = parseExecutorMapping(raw, { relocate: (p) => path.posix.join('../montage', p) });
    const { workflow } = importWfCommons(load(MONTAGE), { executors: mapping });
    for (const t of montageTasks) {
      const e = workflow.steps[t.id]!.executor;
      expect(e).toMatchObject({ type: 'process', command: 'node', cwd: '../montage' });
      const args = (e as { args: string[] }).args;
      expect(args.slice(0, 2)).toEqual(['tool.mjs', t.id.replace(/_ID\d+$/, '')]);
      expect(args.slice(3)).toEqual(['--in', ...t.inputFiles, '--out', ...t.outputFiles]);
    }
    expect((workflow.steps['mProject_ID0000001']!.executor as { args: string[] }).args[2]).toBe('0.16712');
  });

  it('looks a task up by id, then name, then category, then program, then the default', () => {
    const mapping = parseExecutorMapping({
      tasks: {
        mAdd_ID0000018: { type: 'process', command: 'by-id' },
        mAdd: { type: 'process', command: 'by-category' },
        mViewer: { type: 'batch', image: 'montage:1', command: 'mViewer {arguments}', local: 'echo {id}', timeoutMs: 60000, retry: { maxAttempts: 3 } },
      },
      default: { type: 'simulate', scale: 0.5 },
    });
    const { workflow } = importWfCommons(load(MONTAGE), { executors: mapping });
    expect(workflow.steps['mAdd_ID0000018']!.executor).toMatchObject({ command: 'by-id' });
    expect(workflow.steps['mAdd_ID0000037']!.executor).toMatchObject({ command: 'by-category' });
    expect(workflow.steps['mProject_ID0000001']!.executor).toEqual({ type: 'simulate', durationMs: 16712 * 0.5 });
    const viewer = workflow.steps['mViewer_ID0000019']!;
    expect(viewer.executor).toMatchObject({ type: 'batch', image: 'montage:1', local: { command: 'echo', args: ['mViewer_ID0000019'] } });
    expect((viewer.executor as { command: string[] }).command[0]).toBe('mViewer');
    expect(viewer).toMatchObject({ timeoutMs: 60000, retry: { maxAttempts: 3 } });
    // The result is a valid workflow.
    expect(compileWorkflow(workflow, { source: 'x.json' }).steps['mViewer_ID0000019']!.executor.type).toBe('batch');
  });

  it('lists the categories no entry covers', () => {
    const mapping = parseExecutorMapping({ tasks: { mProject: { type: 'process', command: 'p' }, mDiffFit: { type: 'process', command: 'd' } } });
    expect(problemsOf(() => importWfCommons(load(MONTAGE), { executors: mapping }))).toEqual([
      {
        path: 'mapping.tasks',
        message: 'no executor for 28 of 58 tasks, by category: mConcatFit (3 tasks), mBgModel (3 tasks), mBackground (12 tasks), mImgtbl (3 tasks), mAdd (3 tasks), mViewer (4 tasks): add keys under "tasks" (a task id, name, category or program) or give a "default" entry',
      },
    ]);
  });

  it('reports every problem of a mapping file with its path', () => {
    const message = usageMessage(() =>
      parseExecutorMapping(
        {
          tasks: {
            mProject: { type: 'process' },
            mAdd: { type: 'process', command: 'tool {nope}' },
            mViewer: { type: 'container', command: 'x', module: 'y.ts' },
            mBgModel: { type: 'process', command: 'ok', env: { LEVEL: '{inputs}' } },
          },
          default: { type: 'batch' },
          extra: 1,
        },
        { source: 'mapping.yaml' },
      ),
    );
    expect(message).toMatch(/^mapping\.yaml: invalid executor mapping \(\d+ problems\):/);
    expect(message).toContain('tasks.mProject.command:');
    expect(message).toContain('tasks.mViewer: give exactly one of "command" and "module"');
    expect(message).toContain('default.image:');
    expect(message).toContain('Unrecognized key: "extra"');
    // The templates' problems are in the same report as the schema's.
    expect(message).toContain('tasks.mAdd.command: has an unknown placeholder {nope}');
    expect(message).toContain('tasks.mBgModel.env.LEVEL: {inputs} is a list; a single value cannot hold it');
    // And alone, once the schema is satisfied.
    const templates = usageMessage(() =>
      parseExecutorMapping({ tasks: { mAdd: { type: 'process', command: 'tool {nope}' }, mBgModel: { type: 'process', command: 'ok', env: { LEVEL: '{inputs}' } } } }),
    );
    expect(templates).toContain('tasks.mAdd.command: has an unknown placeholder {nope}');
    expect(templates).toContain('tasks.mBgModel.env.LEVEL: {inputs} is a list; a single value cannot hold it');
  });

  it('names the task whose recorded command a template needs but the trace lacks', () => {
    const trace = { workflow: { specification: { tasks: [{ id: 'a' }] } } };
    expect(problemsOf(() => importWfCommons(trace, { executors: singleExecutorMapping('process', '{program}') }))).toEqual([
      { path: 'workflow.specification.tasks[0]', message: 'task "a" has no recorded command, so {program} cannot be filled' },
    ]);
  });

  it('--executor accepts process and container, and says what to use otherwise', () => {
    expect(usageMessage(() => singleExecutorMapping('batch', 'x'))).toMatch(/batch and function steps need a --mapping file/);
    expect(usageMessage(() => singleExecutorMapping('process', undefined))).toMatch(/needs --command/);
    expect(usageMessage(() => singleExecutorMapping('simulate', 'echo'))).toBe('--executor simulate runs no command: drop --command, or use --executor process');
    const { workflow } = importWfCommons(load(MONTAGE), { executors: singleExecutorMapping('container', 'tool {id}') });
    expect(workflow.steps['mAdd_ID0000018']!.executor).toEqual({ type: 'container', queue: 'default', command: 'tool', args: ['mAdd_ID0000018'], env: {} });
  });
});
