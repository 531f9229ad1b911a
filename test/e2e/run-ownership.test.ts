/**
 * Which process executes a run of a state dir: `run`, `resume` and `dev` save their pid with the
 * runs they execute, `cancel` signals that process, and `resume` leaves alone a run whose
 * engine is alive (running it too would run its steps twice).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { findOrphans } from '../../src/adapters/local/orphans.ts';
import { requestCancel } from '../../src/cli/state.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until } from '../helpers/until.ts';

const tmp = tempDirs('jf-owner-');
const bin = path.join(root, 'bin/joinflow.js');
const SLOW = path.join(root, 'test/fixtures/workflows/slow.yaml');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function background(args: string[], cwd = root) {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

/** A run's status and saved options, read from the state file (undefined until it exists). */
function run(state: string, runId: string): { status: string | null; pid?: number } | undefined {
  if (!existsSync(path.join(state, 'state.db'))) return undefined;
  const db = new Database(path.join(state, 'state.db'), { readonly: true, timeout: 5000 });
  try {
    const row = db.prepare('SELECT status, options FROM runs WHERE run_id = ?').get(runId) as { status: string | null; options: string | null } | undefined;
    return row && { status: row.status, ...(row.options ? { pid: (JSON.parse(row.options) as { pid?: number }).pid } : {}) };
  } catch {
    return undefined; // the schema is still being created
  } finally {
    db.close();
  }
}

/** Whether the run's process step has started (the slow workflow's "sleeper"). */
function sleeperStarted(state: string, runId: string): boolean {
  const r = joinflow(['status', runId, '--state', state, '--json']);
  return r.code === 0 && (JSON.parse(r.stdout) as { steps: Array<{ step: string; state: string }> }).steps.some((s) => s.step === 'sleeper' && s.state === 'started');
}

/** A run of the slow workflow whose engine was killed (SIGKILL) once its process step had started. */
async function orphanedRun(state: string, runId: string): Promise<void> {
  const first = background(['run', SLOW, '--state', state, '--run-id', runId]);
  await until('the process step to start', () => sleeperStarted(state, runId));
  first.child.kill('SIGKILL');
  await first.exit;
}

describe('the process that executes a run', () => {
  it('resume leaves a run whose engine is alive alone, and claims the runs it takes over (cancel then reaches it)', async () => {
    const state = tmp();
    const first = background(['run', SLOW, '--state', state, '--run-id', 'live', '--json']);
    await until('the run to start its process step', () => sleeperStarted(state, 'live'));
    // Its engine is alive: resume must not run its steps a second time.
    let r = joinflow(['resume', 'live', '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`run "live" is being run by process ${first.child.pid}: wait for it, or stop it with joinflow cancel live`);
    r = joinflow(['resume', '--state', state]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`skipping run live: process ${first.child.pid} is running it`);
    expect(r.stderr).toContain('no unfinished runs');
    // Once that engine is gone, resume takes the run over and saves its own pid with it.
    first.child.kill('SIGKILL');
    await first.exit;
    const resumed = background(['resume', 'live', '--state', state, '--json']);
    await until('resume to claim the run', () => run(state, 'live')?.pid === resumed.child.pid);
    await until('the step to start again', () => sleeperStarted(state, 'live'));
    const listed = joinflow(['list', '--state', state]);
    expect(listed.stdout).toMatch(/live +slow +running/);
    expect(listed.stdout).not.toContain('interrupted');
    // cancel finds the resuming process and asks it: the run ends cancelled there, exit 1.
    const c = joinflow(['cancel', 'live', '--state', state]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain(`asked process ${resumed.child.pid} to cancel run live`);
    expect(await resumed.exit).toBe(1);
    expect(JSON.parse(resumed.out())).toMatchObject({ runId: 'live', status: 'cancelled' });
    expect(run(state, 'live')?.status).toBe('cancelled');
  });

  it.runIf(process.platform === 'linux')('stops the processes a killed engine\'s steps left running: cancel, and resume before it runs them again', async () => {
    const state = tmp();
    for (const id of ['orphan-1', 'orphan-2']) {
      const first = background(['run', SLOW, '--state', state, '--run-id', id]);
      await until('the process step to start', () => sleeperStarted(state, id));
      first.child.kill('SIGKILL');
      await first.exit;
      // Its step's process is nobody's child now, and still runs.
      expect(findOrphans(id)).toHaveLength(1);
    }
    const c = joinflow(['cancel', 'orphan-1', '--state', state]);
    expect(c.stderr).toContain('run orphan-1 cancelled (no engine was running it; stopped 1 process(es) its steps had left running)');
    expect(findOrphans('orphan-1')).toEqual([]);
    const resumed = background(['resume', 'orphan-2', '--state', state]);
    await until('resume to stop the old process', () => resumed.err().includes('run orphan-2: stopped 1 process(es) its steps had left running'));
    await until('the step to run again', () => findOrphans('orphan-2').length === 1 && sleeperStarted(state, 'orphan-2'));
    expect(joinflow(['cancel', 'orphan-2', '--state', state]).code).toBe(0);
    expect(await resumed.exit).toBe(1);
    expect(findOrphans('orphan-2')).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('gc stops the processes a killed --memory run\'s steps left running, then removes its directory', async () => {
    const cwd = tmp();
    const first = background(['run', SLOW, '--memory', '--run-id', 'mem-orphan'], cwd);
    await until('the process step to start', () => findOrphans('mem-orphan').length === 1);
    first.child.kill('SIGKILL');
    await first.exit;
    const runDir = path.join(cwd, '.joinflow', 'runs', 'mem-orphan');
    expect(existsSync(runDir)).toBe(true);
    const gc = joinflow(['gc'], { cwd });
    expect(gc.code).toBe(0);
    expect(gc.stderr).toContain('removed 1 directory of --memory runs (after stopping 1 process their steps left running)');
    expect(findOrphans('mem-orphan')).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
  });

  it('two resumes started together: one takes the run, the other leaves it; a cancel its engine never read is carried out by resume', async () => {
    const state = tmp();
    await orphanedRun(state, 'race');
    const a = background(['resume', '--state', state]);
    const b = background(['resume', '--state', state]);
    await until('one of them to claim the run', () => [a.child.pid, b.child.pid].includes(run(state, 'race')?.pid));
    const [winner, loser] = run(state, 'race')?.pid === a.child.pid ? [a, b] : [b, a];
    expect(await loser.exit).toBe(0);
    expect(loser.err()).toMatch(/skipping run race: process \d+ is running it|no unfinished runs/);
    expect(loser.err()).not.toContain('continuing');
    await until('the step to run again', () => sleeperStarted(state, 'race'));
    // A cancel whose signal the winner never got (it died first): the request waits in the state dir.
    requestCancel(state, 'race');
    winner.child.kill('SIGKILL');
    await winner.exit;
    const next = joinflow(['resume', '--state', state, '--json']);
    expect(next.code).toBe(1);
    expect(next.stderr).toContain('run race had been asked to cancel: cancelled, not resumed');
    expect(JSON.parse(next.stdout)).toMatchObject({ runId: 'race', status: 'cancelled' });
    expect(run(state, 'race')?.status).toBe('cancelled');
  });

  it.runIf(process.platform === 'linux')('a cancel asked for after resume claimed a run, before its engine runs it, is carried out', async () => {
    const state = tmp();
    // A step whose process ignores SIGTERM: resume waits its 2 s grace before the SIGKILL, with the run claimed.
    const wf = path.join(state, 'stubborn.yaml');
    writeFileSync(wf, 'name: stubborn\nsteps:\n  hold: { executor: { type: process, command: sh, args: ["-c", "trap \'\' TERM; sleep 15"] } }\n');
    const first = background(['run', wf, '--state', state, '--run-id', 'stub']);
    await until('the process step to start', () => findOrphans('stub').length > 0);
    first.child.kill('SIGKILL');
    await first.exit;
    const resumed = background(['resume', '--state', state, '--json']);
    await until('resume to claim the run', () => run(state, 'stub')?.pid === resumed.child.pid);
    const c = joinflow(['cancel', 'stub', '--state', state]);
    expect([c.code, c.stderr]).toEqual([0, `joinflow cancel: asked process ${resumed.child.pid} to cancel run stub\n`]);
    expect(await resumed.exit).toBe(1);
    expect(JSON.parse(resumed.out())).toMatchObject({ runId: 'stub', status: 'cancelled' });
    expect(run(state, 'stub')?.status).toBe('cancelled');
    expect(existsSync(path.join(state, 'cancel', 'stub.json'))).toBe(false);
  });

  it('two cancels of a run no engine runs: one cancels it, the other finds it cancelled, and Run Cancelled is emitted once', async () => {
    const state = tmp();
    await orphanedRun(state, 'twice');
    const a = background(['cancel', 'twice', '--state', state]);
    const b = background(['cancel', 'twice', '--state', state]);
    const codes = [await a.exit, await b.exit].sort();
    expect(codes).toEqual([0, 1]);
    expect(a.err() + b.err()).toContain('joinflow cancel: run twice cancelled (no engine was running it');
    expect(a.err() + b.err()).toContain('joinflow cancel: run twice already cancelled');
    const events = joinflow(['events', 'tail', '--from-start', '--no-follow', '--state', state, '--pattern', JSON.stringify({ 'detail-type': ['Run Cancelled'] })]);
    expect(events.code).toBe(0);
    expect(events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { detail: { runId: string } }).detail.runId)).toEqual(['twice']);
  });

  it.runIf(process.platform === 'linux')('an engine killed and never reaped (a zombie: its parent does not wait) is gone: list says interrupted, resume and cancel take its run over', async () => {
    const state = tmp();
    // The shell starts the engine, then becomes `sleep`, which never waits for it: once killed,
    // the engine stays a zombie as long as the sleep runs, as under a supervisor that does not
    // reap its children or a container's PID 1 that reaps no orphans.
    const parent = spawn('sh', ['-c', '"$0" "$@" >/dev/null 2>&1 & echo $!; exec sleep 300', process.execPath, bin, 'run', SLOW, '--state', state, '--run-id', 'zombie'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(parent);
    let out = '';
    parent.stdout!.on('data', (d) => (out += d));
    await until('the engine\'s pid', () => out.includes('\n'));
    const pid = Number(out.trim());
    await until('the process step to start', () => sleeperStarted(state, 'zombie'));
    process.kill(pid, 'SIGKILL');
    await until('the engine to be a zombie', () => /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')));
    expect(joinflow(['list', '--state', state]).stdout).toMatch(/zombie +slow +running .*interrupted/);
    const status = joinflow(['status', 'zombie', '--state', state]);
    expect(status.stdout + status.stderr).toContain('interrupted: the engine process that ran it is gone');
    const c = joinflow(['cancel', 'zombie', '--state', state]);
    expect(c.stderr).toContain('joinflow cancel: run zombie cancelled (no engine was running it; stopped 1 process(es) its steps had left running)');
    expect(c.code).toBe(0);
    expect(run(state, 'zombie')?.status).toBe('cancelled');
    parent.kill('SIGKILL');
  });

  it('a lock file left empty (its taker died, or the disk was full, before it wrote its pid) does not hold cancel and resume off', async () => {
    const state = tmp();
    await orphanedRun(state, 'stale-lock');
    const lock = path.join(state, 'runs.lock');
    writeFileSync(lock, '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(lock, past, past);
    const c = joinflow(['cancel', 'stale-lock', '--state', state]);
    expect(c.stderr).toContain('joinflow cancel: run stale-lock cancelled (no engine was running it');
    expect(c.code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('a joinflow process never dies of the signal cancel sends, whenever it comes', async () => {
    const state = tmp();
    const slow = background(['run', SLOW, '--state', state, '--run-id', 'usr2']);
    await until('the run to start', () => run(state, 'usr2')?.status === 'running');
    // Before any request is written: the signal alone does nothing.
    slow.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 300));
    expect(slow.child.exitCode).toBeNull();
    expect(joinflow(['cancel', 'usr2', '--state', state]).code).toBe(0);
    expect(await slow.exit).toBe(1);
    expect(run(state, 'usr2')?.status).toBe('cancelled');
  });

  it('cancel of a run that joinflow dev executes cancels the run and leaves the server running; Ctrl-C leaves a run resumable', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    copyFileSync(SLOW, path.join(dir, 'workflows/slow.yaml'));
    const dev = background(['dev', '--port', '0', '--no-watch'], dir);
    await until('dev to listen', () => /PutEvents on (http:\/\/\S+)/.test(dev.err()));
    const url = /PutEvents on (http:\/\/\S+)/.exec(dev.err())![1]!;
    const put = async (runId: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
        body: JSON.stringify({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 'slow', runId }) }] }),
      });
      expect(res.status).toBe(200);
    };
    await put('dev-1');
    const state = path.join(dir, '.joinflow');
    await until('the run to start its process step', () => sleeperStarted(state, 'dev-1'));
    const c = joinflow(['cancel', 'dev-1', '--state', state]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain(`asked process ${dev.child.pid} to cancel run dev-1`);
    await until('the run to be cancelled', () => run(state, 'dev-1')?.status === 'cancelled');
    // The server is still there and still runs workflows.
    expect(dev.child.exitCode).toBeNull();
    await put('dev-2');
    await until('a second run', () => run(state, 'dev-2')?.status === 'running');
    // A run of another engine (here one that died) requested again through dev is not dev's to take.
    const other = background(['run', SLOW, '--state', state, '--run-id', 'int-1']);
    await until('that run to start', () => sleeperStarted(state, 'int-1'));
    // Two engines on one state dir are not supported: the second says so.
    await until('the second engine to say so', () => other.err().includes(`process ${dev.child.pid} also runs an engine on ${state}; one engine per state dir is supported`));
    other.child.kill('SIGKILL');
    await other.exit;
    await put('int-1');
    await new Promise((r) => setTimeout(r, 300));
    expect(run(state, 'int-1')?.pid).toBe(other.child.pid);
    expect(joinflow(['list', '--state', state]).stdout).toMatch(/int-1 +slow +running +\S+ +interrupted/);
    // Stopped with a run going, dev leaves it as a killed engine would: running, for resume.
    dev.child.kill('SIGINT');
    expect(await dev.exit).toBe(0);
    expect(dev.err()).not.toContain('    at ');
    expect(run(state, 'dev-2')?.status).toBe('running');
    expect(joinflow(['list', '--state', state]).stdout).toMatch(/dev-2 +slow +running +\S+ +interrupted/);
  });
});
