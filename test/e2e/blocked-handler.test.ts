/**
 * A function step whose handler is blocked in a native call when it times out does not keep
 * `joinflow run` from exiting once the run has ended and its state is saved.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NATIVE_SPAWN_ADDON } from '../../src/adapters/local/native-launcher.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { projectDirs } from '../helpers/tmp.ts';

const bin = path.join(root, 'bin/joinflow.js');
const project = projectDirs('jf-blocked-');

/** Runs the CLI; its exit, or 'still running after 30 s' (it is then killed). */
async function runCli(args: string[], cwd: string): Promise<{ code: number | null | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    once(child, 'exit').then(([c]) => c as number | null),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running after 30 s'), 30_000))),
  ]);
  clearTimeout(timer);
  if (typeof code === 'string') child.kill('SIGKILL');
  return { code, stdout, stderr };
}

/** Whether a process is there (not a zombie), read from /proc. */
function running(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function hasExitNow(): boolean {
  try {
    return typeof (createRequire(import.meta.url)(NATIVE_SPAWN_ADDON) as { exitNow?: unknown }).exitNow === 'function';
  } catch {
    return false;
  }
}

describe.runIf(process.platform === 'linux')('joinflow run with a handler blocked in a native call', () => {
  it('exits when the step times out in execSync, its child stopped', async () => {
    const dir = project({
      'h/x.mjs': "import { execSync } from 'node:child_process';\nexport const handler = async () => execSync('echo $$ > child.pid; exec sleep 1000').toString();\n",
      'w.yaml': 'name: w\nsteps:\n  s: { timeoutMs: 300, executor: { type: function, module: ./h/x.mjs } }\n',
    });
    const r = await runCli(['run', 'w.yaml', '--memory', '--json'], dir);
    const pid = Number(readFileSync(path.join(dir, 'child.pid'), 'utf8'));
    try {
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed', error: { type: 'StepTimeout' } });
      expect(running(pid)).toBe(false);
    } finally {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);

  it.runIf(hasExitNow())('exits with its code when the thread cannot be stopped (a read of a FIFO no one writes to), its state saved', async () => {
    const dir = project({
      'h/x.mjs': "import { readFileSync } from 'node:fs';\nexport const handler = async () => readFileSync('fifo', 'utf8');\n",
      'w.yaml': 'name: w\nsteps:\n  s: { timeoutMs: 300, executor: { type: function, module: ./h/x.mjs } }\n',
    });
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    try {
      const r = await runCli(['run', 'w.yaml', '--state', 'st', '--run-id', 'blocked-1', '--json'], dir);
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ runId: 'blocked-1', status: 'failed', error: { type: 'StepTimeout' } });
      expect(r.stderr).toContain("the thread of the handler ");
      expect(r.stderr).toContain("#handler of step 's' (attempt 1, run blocked-1) did not stop when told: it is blocked in a native call");
      // What the run wrote was committed and closed before the process went.
      expect(existsSync(path.join(dir, 'st', 'state.db'))).toBe(true);
      const status = joinflow(['status', 'blocked-1', '--state', 'st', '--json'], { cwd: dir });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ run: { runId: 'blocked-1', status: 'failed', error: { type: 'StepTimeout' } } });
    } finally {
      // Releases the reader if the process is still there.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader any more.
      }
    }
  }, 60_000);
});
