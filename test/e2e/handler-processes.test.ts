/**
 * The processes a function step's handler starts (in its worker thread) do not outlive the run:
 * stopped when the step times out, when `joinflow run` ends, and when it is interrupted.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startJoinflow } from '../helpers/cli.ts';
import { projectDirs } from '../helpers/tmp.ts';

const HANDLERS = `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const sleep = (detached) => {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore', detached });
  child.unref();
  return child.pid;
};
export const leaves = async () => {
  writeFileSync('leaves.json', JSON.stringify([sleep(false), sleep(true)]));
  return 'left';
};
export const hangs = async () => {
  writeFileSync('hangs.json', JSON.stringify([sleep(false)]));
  await new Promise(() => {});
};
`;

const project = projectDirs('jf-handler-procs-');

const runCli = startJoinflow;

/** Whether a process is there (not a zombie), read from /proc. */
function running(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pids a handler wrote to `file` that still run after up to 10 s (at once when none does). */
async function stillRunning(file: string): Promise<number[]> {
  const pids = JSON.parse(readFileSync(file, 'utf8')) as number[];
  for (let i = 0; i < 200 && pids.some(running); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const left = pids.filter(running);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  return left;
}

describe.runIf(process.platform === 'linux')('processes a function handler starts', () => {
  it('are stopped when the run ends, and when its step times out', async () => {
    const dir = project({
      'h/x.mjs': HANDLERS,
      'ends.yaml': 'name: ends\nsteps:\n  a: { executor: { type: function, module: ./h/x.mjs, export: leaves } }\n',
      'times-out.yaml': 'name: times-out\nsteps:\n  b: { timeoutMs: 300, executor: { type: function, module: ./h/x.mjs, export: hangs } }\n',
    });
    const ends = runCli(['run', 'ends.yaml', '--memory', '--json'], dir);
    expect((await ends.exit).code, ends.err()).toBe(0);
    expect(JSON.parse(ends.out())).toMatchObject({ status: 'succeeded', output: { a: 'left' } });
    expect(await stillRunning(path.join(dir, 'leaves.json'))).toEqual([]);
    expect(ends.err()).toContain('stopping 2 processes that function handlers started and left running');

    const timesOut = runCli(['run', 'times-out.yaml', '--memory', '--json'], dir);
    expect((await timesOut.exit).code, timesOut.err()).toBe(1);
    expect(JSON.parse(timesOut.out())).toMatchObject({ status: 'failed', error: { type: 'StepTimeout' } });
    expect(await stillRunning(path.join(dir, 'hangs.json'))).toEqual([]);
  }, 60_000);

  it('are stopped when `joinflow run` is interrupted', async () => {
    const dir = project({
      'h/x.mjs': HANDLERS,
      'w.yaml': 'name: w\nsteps:\n  b: { executor: { type: function, module: ./h/x.mjs, export: hangs } }\n',
    });
    const run = runCli(['run', 'w.yaml', '--memory'], dir);
    const file = path.join(dir, 'hangs.json');
    for (let i = 0; i < 600 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    run.child.kill('SIGTERM');
    expect((await run.exit).signal).toBe('SIGTERM');
    const [pid] = JSON.parse(readFileSync(file, 'utf8')) as number[];
    expect(await stillRunning(file)).toEqual([]);
    // Said, as when a worker thread ends (README: the engine says which processes it stops, and whose).
    expect(run.err()).toMatch(new RegExp(`joinflow: stopping a process that function handlers started, as the command is interrupted: pid ${pid} \\(started by the handler of step "b" \\(attempt 1, run `));
  }, 60_000);
});
