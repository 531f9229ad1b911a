/**
 * Data staging around command steps, with an in-process stand-in for the process executor that
 * records the environment it was given and writes the outputs it is told to.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRunDirStage, createStagingExecutor, type DataStage } from '../../src/adapters/local/data-staging.ts';
import { createProcessExecutor } from '../../src/adapters/local/process-executor.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { WorkflowDefinitionError } from '../../src/model/errors.ts';
import { makeTask } from '../../src/runtime/tasks.ts';
import type { Executor, StepOutcome, StopSignal, Task } from '../../src/ports.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-staging-');
const signal: StopSignal = { aborted: false, reason: undefined, addEventListener: () => {}, removeEventListener: () => {} };

/** Writes every output named in JOINFLOW_OUTPUTS except `skip`, after checking it can read the inputs. */
function fakeCommands(skip: string[] = []): Executor & { seen: Task[] } {
  const seen: Task[] = [];
  return {
    kind: 'process',
    seen,
    async execute(task): Promise<StepOutcome> {
      seen.push(task);
      if (task.executor.type !== 'process') throw new Error('not a process task');
      const env = task.executor.env;
      const dir = env['JOINFLOW_DATA_DIR'];
      if (dir === undefined) return { status: 'succeeded', output: 'no data' };
      const read = (env['JOINFLOW_INPUTS'] ?? '').split('\n').filter(Boolean).map((f) => readFileSync(path.join(dir, f), 'utf8'));
      for (const f of (env['JOINFLOW_OUTPUTS'] ?? '').split('\n').filter(Boolean)) {
        if (!skip.includes(f)) writeFileSync(path.join(dir, f), `from ${task.step}: ${read.join('+')}`);
      }
      return { status: 'succeeded', output: read.length };
    },
    async close() {},
  };
}

function task(step: string, files?: { inputs: string[]; outputs: string[] }): Task {
  return {
    workflow: 'wf', runId: 'run-1', step, attempt: 1, maxAttempts: 1,
    executor: { type: 'process', command: 'tool', args: [], env: { KEEP: 'me' } },
    event: { input: null, results: {} },
    ...(files ? { files } : {}),
  };
}

describe('data staging (embedded engine)', () => {
  it("tells a task without files where its run's data is, without creating the directory", async () => {
    const inner = fakeCommands();
    const data = path.join(tmp(), 'runs', 'run-1', 'data');
    const staged = createStagingExecutor(inner, createRunDirStage({ dir: () => data }));
    expect(await staged.execute(task('plain'), signal)).toEqual({ status: 'succeeded', output: 0 });
    expect(inner.seen[0]!.executor).toEqual({ ...task('plain').executor, env: { KEEP: 'me', JOINFLOW_DATA_DIR: data } });
    expect(existsSync(data)).toBe(false);
  });

  it('passes tasks without files through untouched when the stage is not a directory kept for the run', async () => {
    const inner = fakeCommands();
    const local = createRunDirStage({ dir: () => tmp() });
    const staged = createStagingExecutor(inner, { dir: local.dir, fetch: local.fetch, missingHint: local.missingHint });
    expect(await staged.execute(task('plain'), signal)).toEqual({ status: 'succeeded', output: 'no data' });
    expect(inner.seen[0]!.executor).toEqual(task('plain').executor);
  });

  it('copies external inputs from the source, gives the command the data env, checks outputs', async () => {
    const data = tmp();
    const source = tmp();
    mkdirSync(path.join(source, 'raw'));
    writeFileSync(path.join(source, 'raw/a.fits'), 'A');
    const inner = fakeCommands();
    const staged = createStagingExecutor(inner, createRunDirStage({ dir: () => data, source }));
    const first = await staged.execute(task('project', { inputs: ['raw/a.fits'], outputs: ['p/a.fits', 'p/a_area.fits'] }), signal);
    expect(first).toEqual({ status: 'succeeded', output: 1 });
    expect(inner.seen[0]!.executor).toMatchObject({ env: { KEEP: 'me', JOINFLOW_DATA_DIR: data, JOINFLOW_INPUTS: 'raw/a.fits', JOINFLOW_OUTPUTS: 'p/a.fits\np/a_area.fits' } });
    // The next step reads what the first wrote, from the same run directory.
    const second = await staged.execute(task('add', { inputs: ['p/a.fits', 'p/a_area.fits'], outputs: ['mosaic.fits'] }), signal);
    expect(second).toEqual({ status: 'succeeded', output: 2 });
    expect(readFileSync(path.join(data, 'mosaic.fits'), 'utf8')).toBe('from add: from project: A+from project: A');
    expect(existsSync(path.join(data, 'raw/a.fits'))).toBe(true);
  });

  it('passes long file lists as a file (JOINFLOW_FILES_URI), which a real process reads: no E2BIG', async () => {
    const root = tmp();
    const data = path.join(root, 'runs', 'run-1', 'data');
    // 2,500 names of 63 characters: 160 KB, over Linux's 128 KiB for one environment string.
    const outputs = Array.from({ length: 2500 }, (_, i) => `out/${String(i).padStart(5, '0')}-${'x'.repeat(53)}.dat`);
    const writer = "const fs=require('fs'),p=require('path'),u=require('url');const l=JSON.parse(fs.readFileSync(u.fileURLToPath(process.env.JOINFLOW_FILES_URI)));for(const o of l.outputs)fs.writeFileSync(p.join(process.env.JOINFLOW_DATA_DIR,o),'');console.log(JSON.stringify({inputs:process.env.JOINFLOW_INPUTS===undefined,n:l.outputs.length}))";
    const processes = createProcessExecutor({ logDir: () => path.join(root, 'logs') });
    try {
      const staged = createStagingExecutor(processes, createRunDirStage({ dir: () => data }));
      const long: Task = { ...task('many', { inputs: [], outputs }), executor: { type: 'process', command: process.execPath, args: ['-e', writer], env: {} } };
      expect(await staged.execute(long, signal)).toEqual({ status: 'succeeded', output: { inputs: true, n: 2500 } });
      expect(existsSync(path.join(data, outputs[2499]!))).toBe(true);
      // Short lists stay in the environment.
      const short: Task = { ...task('few', { inputs: [], outputs: ['one.dat'] }), executor: { type: 'process', command: 'sh', args: ['-c', 'touch "$JOINFLOW_DATA_DIR/$JOINFLOW_OUTPUTS"; echo "\"${JOINFLOW_FILES_URI:-none}\""'], env: {} } };
      expect(await staged.execute(short, signal)).toEqual({ status: 'succeeded', output: 'none' });
    } finally {
      await processes.close();
    }
  });

  it('fails for good, naming the file and --data, when an input is nowhere', async () => {
    const data = tmp();
    const inner = fakeCommands();
    const staged = createStagingExecutor(inner, createRunDirStage({ dir: () => data }));
    const r = await staged.execute(task('project', { inputs: ['here.txt', 'gone.txt'], outputs: [] }), signal);
    expect(r).toEqual({
      status: 'failed',
      retriable: false,
      error: { type: 'MissingInput', message: `step "project": input files "here.txt", "gone.txt" not in the run's data directory ${data}: no earlier step left it there (none wrote it, or it was removed since); the workflow's own input files come with --data DIR` },
    });
    expect(inner.seen).toHaveLength(0);
    const withSource = createStagingExecutor(inner, createRunDirStage({ dir: () => data, source: '/nonexistent-src' }));
    const r2 = await withSource.execute(task('project', { inputs: ['gone.txt'], outputs: [] }), signal);
    expect(r2.status === 'failed' && r2.error.message).toContain('not in --data /nonexistent-src either');
  });

  it('fails a command that exited 0 without writing a declared output, naming it', async () => {
    const data = tmp();
    const staged = createStagingExecutor(fakeCommands(['b.txt']), createRunDirStage({ dir: () => data }));
    const r = await staged.execute(task('viewer', { inputs: [], outputs: ['a.txt', 'b.txt'] }), signal);
    expect(r).toEqual({
      status: 'failed',
      retriable: true,
      error: { type: 'MissingOutput', message: `step "viewer": 'tool' exited 0 but did not write its output file "b.txt" in ${data}` },
    });
    // A directory of that name is not the file.
    mkdirSync(path.join(data, 'b.txt'), { recursive: true });
    const again = await staged.execute(task('viewer', { inputs: [], outputs: ['a.txt', 'b.txt'] }), signal);
    expect(again.status === 'failed' && again.error.type).toBe('MissingOutput');
  });

  it('does not take what a failed attempt left of an output for the next attempt\'s output', async () => {
    const root = tmp();
    const data = path.join(root, 'data');
    // Attempt 1 writes half its output and fails; attempt 2 exits 0 without writing it (as a tool
    // that skips work whose output exists would): that is MissingOutput, not a success.
    const tool = 'cd "$JOINFLOW_DATA_DIR"; if [ "$JOINFLOW_ATTEMPT" = 1 ]; then echo half > out.txt; echo in-place >> both.txt; exit 1; fi; echo in-place >> both.txt';
    const processes = createProcessExecutor({ logDir: () => path.join(root, 'logs') });
    try {
      const staged = createStagingExecutor(processes, createRunDirStage({ dir: () => data }));
      mkdirSync(data, { recursive: true });
      writeFileSync(path.join(data, 'both.txt'), 'input\n');
      const attempt = (n: number): Task => ({
        ...task('half', { inputs: ['both.txt'], outputs: ['out.txt', 'both.txt'] }),
        attempt: n, maxAttempts: 2,
        executor: { type: 'process', command: 'sh', args: ['-c', tool], env: {} },
      });
      const first = await staged.execute(attempt(1), signal);
      expect(first.status === 'failed' && first.error.type).toBe('ProcessExited');
      const second = await staged.execute(attempt(2), signal);
      expect(second).toEqual({
        status: 'failed',
        retriable: true,
        error: { type: 'MissingOutput', message: `step "half": 'sh' exited 0 but did not write its output file "out.txt" in ${data}` },
      });
      expect(existsSync(path.join(data, 'out.txt'))).toBe(false);
      // An output the step also reads (a file it updates in place) is its input: kept.
      expect(readFileSync(path.join(data, 'both.txt'), 'utf8')).toBe('input\nin-place\nin-place\n');
      // Items of a forEach step share the step's files: one item does not remove another's.
      writeFileSync(path.join(data, 'out.txt'), 'item 0');
      const item: Task = { ...attempt(1), item: 1, executor: { type: 'process', command: 'true', args: [], env: {} } };
      expect((await staged.execute(item, signal)).status).toBe('succeeded');
      expect(readFileSync(path.join(data, 'out.txt'), 'utf8')).toBe('item 0');
    } finally {
      await processes.close();
    }
  });

  it('hands verified outputs to the stage (uploads), and only those of a success', async () => {
    const data = tmp();
    const stored: string[][] = [];
    const stage: DataStage = { ...createRunDirStage({ dir: () => data }), store: async (_t, names) => void stored.push(names) };
    const staged = createStagingExecutor(fakeCommands(), stage);
    await staged.execute(task('a', { inputs: [], outputs: ['x', 'y'] }), signal);
    await createStagingExecutor(fakeCommands(['z']), stage).execute(task('b', { inputs: [], outputs: ['z'] }), signal);
    expect(stored).toEqual([['x', 'y']]);
  });
});

describe('step files in workflow definitions', () => {
  it('are refused on handler steps and when they would leave the run\'s data area', () => {
    let problems: Array<{ path: string; message: string }> = [];
    try {
      compileWorkflow({
        name: 'files',
        steps: {
          fn: { executor: { type: 'function', module: 'h.ts' }, files: { inputs: ['a'] } },
          p: { executor: { type: 'process', command: 'x' }, files: { inputs: ['../up'], outputs: ['ok/', 'a\nb'] } },
        },
      }, { source: 'files.yaml' });
    } catch (e) {
      problems = (e as WorkflowDefinitionError).problems;
    }
    expect(problems.map((p) => p.path).sort()).toEqual(['steps.fn.files', 'steps.p.files.inputs[0]', 'steps.p.files.outputs[0]', 'steps.p.files.outputs[1]']);
    expect(problems.find((p) => p.path === 'steps.fn.files')!.message).toMatch(/not for function steps/);
  });

  it('travel from the definition through the plan into the task', () => {
    const plan = compileWorkflow({ name: 'files', steps: { p: { executor: { type: 'process', command: 'x' }, files: { outputs: ['o.txt'] } } } }, { source: 'files.yaml' });
    expect(plan.steps['p']!.files).toEqual({ inputs: [], outputs: ['o.txt'] });
    const t = makeTask(plan, { runId: 'r', workflow: 'files', status: 'running', input: null, startedAt: 0 }, 'p', 1, {});
    expect(t.files).toEqual({ inputs: [], outputs: ['o.txt'] });
  });
});
