/** `joinflow import wfcommons` through the real command: what it refuses, writes and warns of. */
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-wfcommons-import-');
const corpus = path.join(root, '../shared/corpora/wfcommons');
const MONTAGE = path.join(corpus, 'montage-chameleon-2mass-005d-001.json');

describe('joinflow import wfcommons', () => {
  it('refuses to write over the trace it reads, by any path, or over the mapping', () => {
    const dir = tmp();
    const trace = path.join(dir, 'same.json');
    copyFileSync(MONTAGE, trace);
    symlinkSync(trace, path.join(dir, 'link.json'));
    for (const out of ['same.json', './same.json', 'link.json', trace]) {
      const r = joinflow(['import', 'wfcommons', 'same.json', '-o', out], { cwd: dir });
      expect(r.code, out).toBe(2);
      expect(r.stderr).toContain(`joinflow import: -o ${out}: is the trace being imported (same.json); writing the workflow there would overwrite it`);
    }
    expect(readFileSync(trace, 'utf8')).toBe(readFileSync(MONTAGE, 'utf8'));
    writeFileSync(path.join(dir, 'map.yaml'), 'default: {type: simulate}\n');
    const r = joinflow(['import', 'wfcommons', 'same.json', '--mapping', 'map.yaml', '-o', 'map.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('-o map.yaml: is the mapping file (map.yaml)');
    expect(readFileSync(path.join(dir, 'map.yaml'), 'utf8')).toBe('default: {type: simulate}\n');
  });

  it('exits 2 and writes nothing for a workflow run would refuse, naming the trace file and the task', () => {
    const dir = tmp();
    const trace = path.join(dir, 'long.json');
    writeFileSync(trace, JSON.stringify({ workflow: { specification: { tasks: [{ id: 'a' }] }, execution: { tasks: [{ id: 'a', runtimeInSeconds: 2_000_000 }] } } }));
    const out = path.join(dir, 'wf.json');
    const r = joinflow(['import', 'wfcommons', trace, '--command', 'sleep 1', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`joinflow import: ${trace}: invalid workflow definition (1 problem):\n  - workflow.execution.tasks[0].runtimeInSeconds: step "a", resources.expectedSeconds`);
    expect(existsSync(out)).toBe(false);
    writeFileSync(trace, JSON.stringify({ workflow: { tasks: [] } }));
    const empty = joinflow(['import', 'wfcommons', trace, '-o', out]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('  - workflow.tasks: has no tasks, and a workflow needs at least one step');
    expect(existsSync(out)).toBe(false);
  });

  it('names the mapping file in warnings and problems of its keys', () => {
    const dir = tmp();
    const map = path.join(dir, 'map.yaml');
    writeFileSync(map, 'tasks:\n  mProjekt: {type: process, command: "true"}\ndefault: {type: simulate}\n');
    const out = path.join(dir, 'wf.json');
    let r = joinflow(['import', 'wfcommons', MONTAGE, '--mapping', map, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`joinflow import: warning: ${map}: tasks.mProjekt: matches no task id, name, category or program of the trace (did you mean "mProject"?)`);
    writeFileSync(map, 'tasks:\n  mProjekt: {type: process, command: "true"}\n');
    r = joinflow(['import', 'wfcommons', MONTAGE, '--mapping', map, '-o', path.join(dir, 'wf2.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`  - ${map}: tasks.mProjekt: matches no task id, name, category or program of the trace (did you mean "mProject"?)\n`);
    expect(r.stderr).toContain(`  - ${map}: tasks: no executor for 58 of 58 tasks, by category: mProject (12 tasks)`);
    expect(existsSync(path.join(dir, 'wf2.json'))).toBe(false);
  });

  it('checks the handler modules a mapping names, as run does: once per module, nothing written', () => {
    const dir = tmp();
    const mapDir = path.join(dir, 'mapping');
    const outDir = path.join(dir, 'out');
    for (const d of [mapDir, outDir]) mkdirSync(d);
    const map = path.join(mapDir, 'map.yaml');
    writeFileSync(map, 'tasks:\n  mAdd: {type: function, module: ./h.mjs, export: add}\ndefault: {type: simulate}\n');
    const out = path.join(outDir, 'wf.json');
    let r = joinflow(['import', 'wfcommons', MONTAGE, '--mapping', map, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`joinflow import: ${map}: invalid workflow definition (1 problem):`);
    expect(r.stderr).toMatch(/executor\.module: handler module "\.\.\/mapping\/h\.mjs" not found/);
    expect(existsSync(out)).toBe(false);
    writeFileSync(path.join(mapDir, 'h.mjs'), 'export const ad = async () => 1;\n');
    r = joinflow(['import', 'wfcommons', MONTAGE, '--mapping', map, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no function export "add" (it exports: ad)');
    expect(existsSync(out)).toBe(false);
    writeFileSync(path.join(mapDir, 'h.mjs'), 'export const add = async () => 1;\n');
    r = joinflow(['import', 'wfcommons', MONTAGE, '--mapping', map, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('montage: 55 simulate, 3 function step(s)');
    // The workflow written runs: its module path is relative to it.
    expect(joinflow(['run', out, '--memory', '--time-scale', '0.0001']).code).toBe(0);
  });

  it('--executor simulate drops the file lists, as the default does', () => {
    const r = joinflow(['import', 'wfcommons', MONTAGE, '--executor', 'simulate']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('montage: 58 simulate step(s), 0 with data files');
    expect(Object.values((JSON.parse(r.stdout) as { steps: Record<string, object> }).steps).filter((s) => 'files' in s)).toEqual([]);
  });
});
