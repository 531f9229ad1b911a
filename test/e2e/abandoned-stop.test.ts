/**
 * A run whose engine dies while it stops the run's steps: the run has ended (failed) but has no
 * end on file, and a step that ignores SIGTERM is still running. `status` says so, and `resume`
 * stops what the step left running, records it cancelled and records the run's end.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { findProcesses, stopProcesses } from '../../src/adapters/local/orphans.ts';
import { joinflow, startJoinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until as poll } from '../helpers/until.ts';

const tmp = tempDirs('jf-abandoned-');

// `stubborn` ignores SIGTERM (the engine sends SIGKILL 2 s later); `fail` fails the run once
// `stubborn` runs, so the run ends with a step still to stop.
const WORKFLOW = `name: stubborn
steps:
  stubborn:
    executor: { type: process, command: sh, args: [-c, 'trap "" TERM; touch started; while true; do sleep 0.05; done'] }
  fail:
    executor: { type: process, command: sh, args: [-c, 'while [ ! -e started ]; do sleep 0.02; done; exit 3'] }
`;

/** Polls every 10 ms: the moment to kill the engine in is short. */
const until = (what: string, ok: () => boolean) => poll(what, ok, 60_000, 10);

/** Starts the run and SIGKILLs its engine while the run has ended and still stops `stubborn`. */
async function abandonWhileStopping(dir: string, runId: string): Promise<void> {
  writeFileSync(path.join(dir, 'wf.yaml'), WORKFLOW);
  const run = startJoinflow(['run', 'wf.yaml', '--run-id', runId, '--json'], dir);
  const file = path.join(dir, '.joinflow', 'state.db');
  await until('the state file', () => existsSync(file));
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    await until('the run failed, with no end on file (stopping its steps)', () => {
      let r: { status: string; finished_at: number | null } | undefined;
      try {
        r = db.prepare<[string], { status: string; finished_at: number | null }>('SELECT status, finished_at FROM runs WHERE run_id = ?').get(runId);
      } catch {
        return false; // the engine has not made its tables yet
      }
      return r !== undefined && r.status === 'failed' && r.finished_at === null;
    });
  } finally {
    db.close();
  }
  run.child.kill('SIGKILL');
  await run.exit;
  // The step's shell and its sleep.
  expect(findProcesses({ JOINFLOW_RUN_ID: runId }).length).toBeGreaterThan(0);
}

describe.runIf(process.platform === 'linux')('a run whose engine died while stopping its steps', () => {
  it.each([
    ['resume <runId>', (runId: string) => ['resume', runId]],
    ['resume', () => ['resume']],
  ])('is shown interrupted while stopping, and %s stops what its steps left and records its end', async (_name, resumeArgs) => {
    const dir = tmp();
    const runId = `ab-${resumeArgs('x').length}`;
    try {
      await abandonWhileStopping(dir, runId);

      const before = joinflow(['status', runId, '--json'], { cwd: dir });
      expect(JSON.parse(before.stdout).run).toMatchObject({ status: 'failed', stopping: true, interrupted: true });
      expect(JSON.parse(before.stdout).run.finishedAt).toBeUndefined();
      expect(joinflow(['status', runId], { cwd: dir }).stdout).toContain(`interrupted while stopping: the run has ended (failed), but the engine process that ran it died before the steps it was stopping were gone; 'joinflow resume ${runId}'`);

      const resumed = joinflow(resumeArgs(runId), { cwd: dir });
      expect(resumed.stderr).toMatch(new RegExp(`run ${runId} had ended \\(failed\\) but its engine died while stopping its steps: recorded stubborn as cancelled, stopped [12] process\\(es\\) they had left running, recorded its end`));
      // The shell was killed; a 50 ms sleep it started while it ignored the SIGTERM may outlive it a moment.
      await until('the step\'s processes gone', () => findProcesses({ JOINFLOW_RUN_ID: runId }).length === 0);

      const after = JSON.parse(joinflow(['status', runId, '--json'], { cwd: dir }).stdout);
      expect(after.run.status).toBe('failed');
      expect(after.run.stopping).toBeUndefined();
      expect(after.run.interrupted).toBeUndefined();
      expect(after.run.finishedAt).toBeGreaterThanOrEqual(after.run.startedAt);
      const stubborn = after.steps.find((s: { step: string }) => s.step === 'stubborn');
      expect(stubborn).toMatchObject({ state: 'cancelled' });
      expect(after.run.finishedAt).toBeGreaterThanOrEqual(stubborn.finishedAt);
      // Settled once: a second resume has nothing to do.
      expect(joinflow(['resume'], { cwd: dir }).stderr).not.toContain('had ended');
    } finally {
      await stopProcesses(findProcesses({ JOINFLOW_RUN_ID: runId }), 100);
    }
  }, 120_000);
});
