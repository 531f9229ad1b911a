/**
 * What a process step starts besides itself: stopped with it when its task is stopped (cancel,
 * timeout, shutdown), and never keeping the engine alive once the step has exited.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findProcesses, stopProcesses } from '../../src/adapters/local/orphans.ts';
import { startJoinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-stepproc-');
function runCli(args: string[], cwd: string) {
  const run = startJoinflow(args, cwd);
  return { exit: run.exit.then((e) => e.code), out: run.out, err: run.err };
}

/** The processes of a run left after up to 10 s (at once when there are none). */
async function gone(runId: string): Promise<ReturnType<typeof findProcesses>> {
  const end = Date.now() + 10_000;
  let left = findProcesses({ JOINFLOW_RUN_ID: runId });
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = findProcesses({ JOINFLOW_RUN_ID: runId });
  }
  return left;
}

describe.runIf(process.platform === 'linux')('processes a step starts', () => {
  it('are stopped with the step when it times out, grandchildren included', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'wf.yaml'), `name: bg\nsteps:\n  a:\n    timeoutMs: 1500\n    executor: { type: process, command: sh, args: [-c, 'sleep 61 & sleep 62; echo "{}"'] }\n`);
    const run = runCli(['run', 'wf.yaml', '--run-id', 'to-1', '--json'], dir);
    expect(await run.exit).toBe(1);
    expect(JSON.parse(run.out())).toMatchObject({ status: 'failed', error: { type: 'StepTimeout' } });
    // Signalled before the engine exited; on a loaded machine a sleep may take a moment to go.
    expect(await gone('to-1')).toEqual([]);
  });

  it('do not keep the engine alive after the step has exited (a background job holding its output pipes)', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'wf.yaml'), `name: bg\nsteps:\n  a:\n    executor: { type: process, command: sh, args: [-c, 'sleep 63 & echo 7'] }\n`);
    const run = runCli(['run', 'wf.yaml', '--run-id', 'bg-1', '--json', '--memory'], dir);
    try {
      // The engine exits while the background job (63 s) still runs; before, it waited for it.
      const code = await Promise.race([run.exit, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 30 s'), 30_000))]);
      expect(code).toBe(0);
      expect(JSON.parse(run.out())).toMatchObject({ status: 'succeeded', output: { a: 7 } });
      // The job was the step's to leave: it is still there.
      expect(findProcesses({ JOINFLOW_RUN_ID: 'bg-1' })).toHaveLength(1);
    } finally {
      await stopProcesses(findProcesses({ JOINFLOW_RUN_ID: 'bg-1' }), 100);
    }
  }, 60_000);
});
