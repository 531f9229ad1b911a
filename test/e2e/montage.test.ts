/**
 * The Montage seed (workflows/montage, simulated) and Montage imported with real process steps
 * (the shipped mapping: tool.mjs reads and writes the tasks' files in the run's data directory),
 * run through the real `joinflow` command.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-montage-');
const trace = path.join(root, '../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json');
const tool = path.join(root, 'workflows/montage/tool.mjs');

type RawTask = { id: string; parents: string[]; inputFiles: string[]; outputFiles: string[] };
const tasks = (JSON.parse(readFileSync(trace, 'utf8')) as { workflow: { specification: { tasks: RawTask[] } } }).workflow.specification.tasks;
const written = new Set(tasks.flatMap((t) => t.outputFiles));
const external = new Set(tasks.flatMap((t) => t.inputFiles).filter((f) => !written.has(f)));

type RunJson = { runId: string; status: string; output: Record<string, { read: number; wrote: string[] }>; error?: { type: string; message: string }; steps: Record<string, number> };

function runJson(args: string[]): { code: number; out: RunJson; stderr: string } {
  const r = joinflow(['run', ...args, '--json']);
  if (r.stdout.trim() === '') throw new Error(`no JSON from joinflow run (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, out: JSON.parse(r.stdout) as RunJson, stderr: r.stderr };
}

/** Imports the trace with a mapping into `dir`/workflow.json. */
function importWith(dir: string, mapping: string, name: string): string {
  const out = path.join(dir, 'workflow.json');
  const r = joinflow(['import', 'wfcommons', trace, '--mapping', mapping, '--name', name, '-o', out]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain(`${name}: 58 process step(s), 58 with data files`);
  return out;
}

describe('the Montage seed (simulated)', () => {
  it('has a current compiled plan in triggers/', () => {
    const r = joinflow(['compile', '--check', 'montage']);
    expect(r.stderr).toContain('1 plan(s) up to date');
    expect(r.code).toBe(0);
    const plan = JSON.parse(readFileSync(path.join(root, 'triggers/montage.json'), 'utf8')) as { steps: Record<string, { files?: unknown }> };
    expect(Object.keys(plan.steps)).toHaveLength(58);
    expect(Object.values(plan.steps).every((s) => s.files !== undefined)).toBe(true);
  });

  it('runs by name: every step once, after all its parents', () => {
    const state = tmp();
    const traceFile = path.join(state, 'trace.json');
    const { code, out } = runJson(['montage', '--time-scale', '0.001', '--state', state, '--trace', traceFile]);
    expect(code).toBe(0);
    expect(out.status).toBe('succeeded');
    expect(out.steps).toEqual({ total: 58, succeeded: 58, failed: 0, cancelled: 0, retried: 0 });
    const records = JSON.parse(readFileSync(traceFile, 'utf8')) as Array<{ step: string; start: number; end: number; status: string }>;
    const by = new Map(records.map((r) => [r.step, r]));
    expect(records).toHaveLength(58);
    expect(by.size).toBe(58);
    for (const t of tasks) {
      for (const p of t.parents) expect(by.get(t.id)!.start, `${t.id} after ${p}`).toBeGreaterThanOrEqual(by.get(p)!.end);
    }
  });
});

describe('Montage imported with process steps and data files', () => {
  let workflow: string;
  let inputs: string;
  beforeAll(() => {
    const dir = tmp();
    workflow = importWith(dir, path.join(root, 'workflows/montage/mapping.yaml'), 'montage-files');
    inputs = path.join(dir, 'inputs');
    const made = spawnSync(process.execPath, [tool, '--make-inputs', workflow, inputs], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
  });

  it('stages files end to end: every declared output appears and is made from its inputs', () => {
    expect(readdirSync(inputs).sort()).toEqual([...external].sort());
    const state = tmp();
    const { code, out, stderr } = runJson([workflow, '--data', inputs, '--state', state, '--concurrency', 'process=8']);
    expect(code, stderr).toBe(0);
    expect(out.steps).toEqual({ total: 58, succeeded: 58, failed: 0, cancelled: 0, retried: 0 });
    const data = path.join(state, 'runs', out.runId, 'data');
    // The 26 external inputs copied in, plus every file some task writes.
    expect(readdirSync(data).sort()).toEqual([...new Set([...external, ...written])].sort());
    // Each output records the digests of the task's inputs: the tool really read them.
    for (const t of tasks) {
      const note = JSON.parse(readFileSync(path.join(data, t.outputFiles[0]!), 'utf8')) as { step: string; run: string; inputs: Record<string, string> };
      expect(note.step).toBe(t.id);
      expect(note.run).toBe(out.runId);
      expect(Object.keys(note.inputs).sort()).toEqual([...t.inputFiles].sort());
    }
    // The sinks' outputs are the run's output.
    expect(out.output['mViewer_ID0000058']).toMatchObject({ read: 3, wrote: ['mosaic-color.png'] });
  });

  it('fails clearly when the external inputs are not given (no --data)', () => {
    const { code, out } = runJson([workflow, '--state', tmp(), '--concurrency', 'process=8']);
    expect(code).toBe(1);
    expect(out.status).toBe('failed');
    expect(out.error?.type).toBe('MissingInput');
    expect(out.error?.message).toMatch(/^step "mProject_ID\d+": input files? "[^"]+\.(fits|hdr)"/);
    expect(out.error?.message).toContain('--data DIR');
  });

  it('fails clearly when a command exits 0 without writing a declared output', () => {
    const dir = tmp();
    const mapping = path.join(dir, 'mapping.json');
    // mProject "forgets" its outputs; everything else is the shipped tool.
    writeFileSync(mapping, JSON.stringify({
      tasks: { mProject: { type: 'process', command: `node ${JSON.stringify(tool)} {category} 0 --in {inputs} --out` } },
      default: { type: 'process', command: `node ${JSON.stringify(tool)} {category} 0 --in {inputs} --out {outputs}` },
    }));
    const broken = importWith(dir, mapping, 'montage-broken');
    const { code, out } = runJson([broken, '--data', inputs, '--state', tmp(), '--concurrency', 'process=8']);
    expect(code).toBe(1);
    expect(out.error?.type).toBe('MissingOutput');
    const step = /^step "(mProject_ID\d+)"/.exec(out.error!.message)?.[1];
    const declared = tasks.find((t) => t.id === step)!.outputFiles;
    expect(out.error!.message).toContain(`exited 0 but did not write its output files ${declared.map((f) => JSON.stringify(f)).join(', ')}`);
  });
});
