/**
 * `joinflow resume` of several runs that one engine cannot serve together: runs started in other
 * project directories (their plans' paths are relative to it), or with another version of their
 * workflow. Each must go on as it started, not with the flags or plan of the first run resumed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { projectDirs, tempDirs } from '../helpers/tmp.ts';
import { until } from '../helpers/until.ts';

const tmp = tempDirs('jf-resume-groups-');
const project = projectDirs('jf-resume-project-');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A workflow whose `gate` waits for the file `open` in the project; `go` then says which project and version ran it. */
function workflow(version: string): string {
  return [
    'name: w',
    'steps:',
    '  gate: { executor: { type: process, command: node, args: [scripts/gate.mjs] } }',
    `  go: { needs: [gate], executor: { type: process, command: node, args: [scripts/hello.mjs, ${version}] } }`,
    '',
  ].join('\n');
}

function projectFiles(name: string): Record<string, string> {
  return {
    'workflows/w.yaml': workflow('v1'),
    'workflows/scripts/gate.mjs': [
      "import { existsSync } from 'node:fs';",
      "const flag = new URL('../../open', import.meta.url);",
      "const t = setInterval(() => { if (existsSync(flag)) { clearInterval(t); console.log('{}'); } }, 50);",
      '',
    ].join('\n'),
    'workflows/scripts/hello.mjs': `console.log(JSON.stringify({ project: ${JSON.stringify(name)}, version: process.argv[2] }));\n`,
  };
}

function gateStarted(state: string, runId: string): boolean {
  const r = joinflow(['status', runId, '--state', state, '--json']);
  return r.code === 0 && (JSON.parse(r.stdout) as { steps: Array<{ step: string; state: string }> }).steps.some((s) => s.step === 'gate' && s.state === 'started');
}

/** `joinflow run w` in `cwd`, killed (SIGKILL) once its gate step has started. */
async function killedRun(cwd: string, state: string, runId: string, ...args: string[]): Promise<void> {
  const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', 'w', '--state', state, '--run-id', runId, ...args], { cwd, stdio: 'ignore' });
  children.push(child);
  const exit = new Promise((resolve) => child.on('exit', resolve));
  await until(`${runId}'s gate to start`, () => gateStarted(state, runId));
  child.kill('SIGKILL');
  await exit;
}

describe('resume of runs that need engines of their own', () => {
  it('continues each run in its own project directory and with its own version of the workflow', async () => {
    const state = tmp();
    const a = project(projectFiles('A'));
    const b = project(projectFiles('B'));
    await killedRun(a, state, 'a-v1');
    writeFileSync(path.join(a, 'workflows/w.yaml'), workflow('v2'));
    await killedRun(a, state, 'a-v2');
    await killedRun(b, state, 'b-v1');
    for (const dir of [a, b]) writeFileSync(path.join(dir, 'open'), '');
    const r = joinflow(['resume', '--state', state, '--json'], { cwd: tmp() });
    expect(r.code).toBe(0);
    const outputs = Object.fromEntries(r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { runId: string; output: unknown }).map((x) => [x.runId, x.output]));
    expect(outputs).toEqual({
      'a-v1': { go: { project: 'A', version: 'v1' } },
      'a-v2': { go: { project: 'A', version: 'v2' } },
      'b-v1': { go: { project: 'B', version: 'v1' } },
    });
    expect(r.stderr).toContain('joinflow resume: 3 runs need 3 engines');
  });

  it('says that --trace is not written when more than one run is resumed', async () => {
    const state = tmp();
    const a = project(projectFiles('A'));
    await killedRun(a, state, 't-1');
    await killedRun(a, state, 't-2');
    writeFileSync(path.join(a, 'open'), '');
    const trace = path.join(tmp(), 'trace.json');
    const r = joinflow(['resume', '--state', state, '--trace', trace]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`joinflow resume: --trace ${trace} is not written: it is the trace of one run, and 2 runs are resumed`);
    expect(existsSync(trace)).toBe(false);
  });

  it('writes the trace file each run was started with when several are resumed', async () => {
    const state = tmp();
    const a = project(projectFiles('A'));
    const out = tmp();
    await killedRun(a, state, 'own-1', '--trace', path.join(out, 'own-1.json'));
    await killedRun(a, state, 'own-2', '--trace', path.join(out, 'own-2.json'));
    writeFileSync(path.join(a, 'open'), '');
    const r = joinflow(['resume', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    for (const id of ['own-1', 'own-2']) {
      const records = JSON.parse(readFileSync(path.join(out, `${id}.json`), 'utf8')) as Array<{ step: string; attempt: number; status: string }>;
      // The whole run: the attempt cut off by the kill, its rerun, and the step after it.
      expect(records.map((x) => `${x.step}.${x.attempt}:${x.status}`).sort()).toEqual(['gate.1:cancelled', 'gate.2:succeeded', 'go.1:succeeded']);
    }
  });

  it('says so when several resumed runs were started with one --trace file, which keeps the last trace written', async () => {
    const state = tmp();
    const a = project(projectFiles('A'));
    const trace = path.join(tmp(), 'shared.json');
    await killedRun(a, state, 'one-1', '--trace', trace);
    await killedRun(a, state, 'one-2', '--trace', trace);
    writeFileSync(path.join(a, 'open'), '');
    const r = joinflow(['resume', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`joinflow resume: runs one-1, one-2 were started with the same --trace file ${trace}: each run's trace is written to it as the run ends, and the last one written stays`);
    expect(existsSync(trace)).toBe(true);
  });
});
