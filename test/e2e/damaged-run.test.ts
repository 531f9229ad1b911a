/**
 * One run whose journal cannot be read (bytes of its rows changed on disk) is set aside, not in the
 * way of the others: `resume <other>` continues that one; `resume` continues the others and says
 * which run it skipped and why (exit 2); `resume <damaged>` is refused naming the damage; `cancel
 * <damaged>` records the run cancelled (its record is readable), after which nothing is left over.
 * Through the real bin, on runs of engines killed with SIGKILL.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-damaged-run-');

/** Starts `joinflow run` of `file` as `runId`, and SIGKILLs it once its run is listed as running. */
async function killedRun(file: string, state: string, runId: string): Promise<void> {
  const engine = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', file, '--state', state, '--run-id', runId, '--time-scale', '0.01'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => engine.on('exit', resolve));
  for (;;) {
    const r = joinflow(['list', '--state', state, '--json']);
    const status = r.code === 0 ? (JSON.parse(r.stdout) as Array<{ runId: string; status: string }>).find((x) => x.runId === runId)?.status : undefined;
    if (status === 'running') break;
    // Ended before it was seen running (a machine too busy for the step's time): say so, not hang.
    if (status !== undefined) throw new Error(`run ${runId} ended (${status}) before it could be killed`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  engine.kill('SIGKILL');
  await exited;
}

const statuses = (state: string) => Object.fromEntries((JSON.parse(joinflow(['list', '--state', state, '--json']).stdout) as Array<{ runId: string; status: string }>).map((r) => [r.runId, r.status]));

describe('a run whose state cannot be read', () => {
  it('is skipped by resume and can be cancelled, and the other runs of the state dir go on', async () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    const file = path.join(dir, 'long.yaml');
    // 300 s at --time-scale 0.01: 3 s, time enough to see the run running on a busy machine (at
    // 0.6 s, a run could end between two looks), and again once resumed.
    writeFileSync(file, 'name: long\nsteps:\n  first:\n    executor: { type: simulate, durationMs: 10 }\n  wait:\n    needs: [first]\n    executor: { type: simulate, durationMs: 300000 }\n');
    for (const runId of ['bad', 'one', 'two']) await killedRun(file, state, runId);
    const db = new Database(path.join(state, 'state.db'));
    expect(db.prepare('UPDATE journal SET facts = ? WHERE run_id = ?').run(Buffer.from([7, 1, 255, 0, 3]), 'bad').changes).toBeGreaterThan(0);
    db.close();

    // Another run, named: continued as if the damaged one were not there.
    const one = joinflow(['resume', 'one', '--state', state]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toContain('run one succeeded');
    expect(one.stderr).not.toContain('bad');

    // The damaged run, named: refused, naming the file, the run and what to do.
    const bad = joinflow(['resume', 'bad', '--state', state]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${path.join(state, 'state.db')}: a journal row of run bad cannot be read: the state database is damaged`);
    expect(bad.stderr).toContain(`'joinflow cancel <runId> --state ${state}' sets a run that cannot be read aside`);
    expect(bad.stderr).not.toMatch(/^\s+at /m);

    // All of them: the others go on, the damaged one is named as skipped, exit 2.
    const all = joinflow(['resume', '--state', state]);
    expect(all.code, all.stderr).toBe(2);
    expect(all.stderr).toContain(`joinflow resume: skipping run bad: a journal row of run bad cannot be read: the state database is damaged (journal row: unknown format 7); the other runs go on ('joinflow cancel bad --state ${state}' sets it aside)`);
    expect(all.stderr).toContain('run two succeeded');
    expect(statuses(state)).toEqual({ bad: 'running', one: 'succeeded', two: 'succeeded' });

    // Cancelled: its record says so and why; nothing is left to resume.
    const cancel = joinflow(['cancel', 'bad', '--state', state]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stderr).toContain('joinflow cancel: run bad cancelled (no engine was running it); a journal row of run bad cannot be read');
    expect(statuses(state)).toEqual({ bad: 'cancelled', one: 'succeeded', two: 'succeeded' });
    const after = joinflow(['resume', '--state', state]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toContain('no unfinished runs');
  }, 120_000);
});
