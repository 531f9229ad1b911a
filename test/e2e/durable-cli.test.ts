/**
 * The durable state through the CLI: nothing written for a bad definition, resume after a kill,
 * "unfinished runs" notice, resume of a finished run, cancel across processes, dlq list, gc.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openDurableState, stateKind } from '../../src/adapters/local/durable-state.ts';
import { findProcesses } from '../../src/adapters/local/orphans.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { diamondDef, plan } from '../helpers/plans.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { journal } from '../helpers/journal.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-durable-');

function background(args: string[]) {
  const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One value from the state database; undefined until the engine has created it and its schema. */
function query(state: string, sql: string, ...args: unknown[]): Record<string, unknown> | undefined {
  if (!existsSync(path.join(state, 'state.db'))) return undefined;
  const db = new Database(path.join(state, 'state.db'), { readonly: true });
  try {
    return db.prepare(sql).get(...args) as Record<string, unknown> | undefined;
  } catch {
    return undefined; // the file exists but its schema is still being created
  } finally {
    db.close();
  }
}

function runStatus(state: string, runId: string): string | undefined {
  return query(state, 'SELECT status FROM runs WHERE run_id = ?', runId)?.['status'] as string | undefined;
}

/** What the journal on file says of a run; undefined until the engine has created its schema. */
function facts(state: string, runId: string): ReturnType<typeof journal> | undefined {
  if (!existsSync(path.join(state, 'state.db'))) return undefined;
  const db = new Database(path.join(state, 'state.db'), { readonly: true });
  try {
    return journal(db, runId);
  } catch {
    return undefined; // the file exists but its schema is still being created
  } finally {
    db.close();
  }
}

function taskStatus(state: string, runId: string, step: string): string | undefined {
  return facts(state, runId)?.tasks.find((t) => t.step === step)?.status;
}

describe('durable state through the CLI', () => {
  it('writes nothing to the state dir for a workflow that does not compile', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nsteps:\n  a: { needs: [zz], executor: { type: simulate, durationMs: 1 } }\n');
    const r = joinflow(['run', path.join(dir, 'bad.yaml'), '--state', state]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('steps.a.needs[0]: unknown step "zz"');
    expect(existsSync(state)).toBe(false);
  });

  it('a state dir deleted under a run: exit 2 naming the file, and no word of resuming from it', async () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    const wf = path.join(dir, 'two.yaml');
    writeFileSync(wf, 'name: two\nsteps:\n  a: { executor: { type: process, command: sleep, args: ["1"] } }\n  b: { needs: [a], executor: { type: simulate, durationMs: 0 } }\n');
    const run = background(['run', wf, '--state', state]);
    await until(() => runStatus(state, (query(state, 'SELECT run_id FROM runs')?.['run_id'] as string) ?? '') === 'running');
    rmSync(state, { recursive: true, force: true });
    expect(await run.exit).toBe(2);
    expect(run.err()).toContain('the state database was deleted, moved or replaced while this engine ran');
    expect(run.err()).not.toContain("'joinflow resume' continues the runs it was executing");
  });

  it('says there are unfinished runs, resumes a killed run, and reports a finished run as it is', async () => {
    const state = tmp();
    const slow = background(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'killed-1', '--json']);
    await until(() => runStatus(state, 'killed-1') === 'running' && taskStatus(state, 'killed-1', 'sleeper') === 'started');
    // While its engine lives, the run is running, not interrupted.
    const live = joinflow(['status', 'killed-1', '--state', state, '--json']);
    expect(JSON.parse(live.stdout).run).toMatchObject({ status: 'running' });
    expect(JSON.parse(live.stdout).run.interrupted).toBeUndefined();
    // The same id again: not a usage mistake, and it names the process that runs it.
    const twice = joinflow(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'killed-1']);
    expect(twice.code).toBe(2);
    // Refused before it becomes an engine on the state dir: no warning of two engines on it.
    expect(twice.stderr).toBe(`joinflow run: run "killed-1" is running in process ${slow.child.pid}\n`);
    slow.child.kill('SIGKILL');
    await slow.exit;
    const interrupted = joinflow(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'killed-1']);
    // The hint names the state dir: without it, resume would look in ./.joinflow and find no such run.
    expect([interrupted.code, interrupted.stderr]).toEqual([2, `joinflow run: run "killed-1" was interrupted: 'joinflow resume killed-1 --state ${state}' continues it\n`]);
    // Once it is gone, list and status say so, and how to continue.
    const listed = joinflow(['list', '--state', state]);
    expect(listed.stdout).toMatch(/killed-1 +slow +running +\S+ +interrupted\n/);
    expect(listed.stderr).toBe(`1 run(s) interrupted (the engine process that ran them is gone): 'joinflow resume --state ${state}' continues them\n`);
    const status = joinflow(['status', 'killed-1', '--state', state]);
    expect(status.stdout).toContain(`interrupted: the engine process that ran it is gone; 'joinflow resume killed-1 --state ${state}' continues it`);
    expect(JSON.parse(joinflow(['list', '--state', state, '--json']).stdout)).toMatchObject([{ runId: 'killed-1', status: 'running', interrupted: true }]);
    const r = joinflow(['run', 'diamond', '--input', '{"x": 1}', '--state', state]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("1 unfinished run(s)");
    expect(r.stderr).toContain(`killed-1); 'joinflow resume --state ${state}' continues them`);
    // Cancel the killed run (no engine runs it any more), so resume has nothing to do for it.
    const c = joinflow(['cancel', 'killed-1', '--state', state]);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/cancelled \(no engine was running it(; stopped \d+ process\(es\) its steps had left running)?\)/);
    expect(runStatus(state, 'killed-1')).toBe('cancelled');
    // Its Run Cancelled, logged by cancel, carries the run's error beside the reason (DESIGN.md "Events").
    const ended = (facts(state, 'killed-1')?.events.get('killed-1') ?? []).filter((e) => e['detail-type'] === 'Run Cancelled');
    expect(ended.map((e) => e.detail)).toEqual([
      { workflow: 'slow', runId: 'killed-1', reason: 'cancelled with joinflow cancel', error: { type: 'Cancelled', message: 'cancelled with joinflow cancel' } },
    ]);
    const again = joinflow(['resume', 'killed-1', '--state', state, '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ runId: 'killed-1', status: 'cancelled' });
  });

  // A program that runs the engine itself (the library) owns its runs as `joinflow run` does.
  it('leaves a library engine\'s live run to it: resume skips it, cancel refuses it; once the program is gone, it is interrupted', async () => {
    const state = tmp();
    const script = path.join(state, 'lib-run.mts');
    writeFileSync(script, [
      `import { createEngine } from ${JSON.stringify(path.join(root, 'src/adapters/local/engine.ts'))};`,
      `import { openDurableState } from ${JSON.stringify(path.join(root, 'src/adapters/local/durable-state.ts'))};`,
      `import { compileFile } from ${JSON.stringify(path.join(root, 'src/adapters/local/workflow-files.ts'))};`,
      'const s = openDurableState({ dir: process.argv[2]! });',
      'const engine = createEngine({ store: s.store, log: s.log });',
      `engine.register(await compileFile(${JSON.stringify(path.join(root, 'test/fixtures/workflows/slow.yaml'))}, ${JSON.stringify(root)}));`,
      "await engine.run('slow', null, { runId: 'lib-1' });",
    ].join('\n'));
    const lib = spawn(process.execPath, ['--import', 'tsx', script, state], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => lib.on('exit', resolve));
    try {
      // Dispatched is on file before its process starts (what comes after may wait for a commit).
      await until(() => taskStatus(state, 'lib-1', 'sleeper') !== undefined);
      const listed = joinflow(['list', '--state', state, '--json']);
      expect(JSON.parse(listed.stdout)).toMatchObject([{ runId: 'lib-1', status: 'running' }]);
      expect(JSON.parse(listed.stdout)[0].interrupted).toBeUndefined();
      const skipped = joinflow(['resume', '--state', state]);
      expect(skipped.stderr).toContain(`joinflow resume: skipping run lib-1: process ${lib.pid} is running it`);
      const refused = joinflow(['cancel', 'lib-1', '--state', state]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`run lib-1 is executed by process ${lib.pid}, a program that runs joinflow's engine itself and takes no cancel requests`);
      expect(lib.exitCode).toBeNull();
    } finally {
      lib.kill('SIGKILL');
      await exited;
    }
    expect(JSON.parse(joinflow(['list', '--state', state, '--json']).stdout)).toMatchObject([{ runId: 'lib-1', status: 'running', interrupted: true }]);
    const cancelled = joinflow(['cancel', 'lib-1', '--state', state]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
  });

  it('says, when Ctrl-C stops a run, that resume continues it, and still ends by the signal', async () => {
    const state = tmp();
    const slow = background(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'int-1']);
    const signalled = new Promise<NodeJS.Signals | null>((resolve) => slow.child.on('exit', (_code, signal) => resolve(signal)));
    await until(() => taskStatus(state, 'int-1', 'sleeper') === 'started');
    slow.child.kill('SIGINT');
    expect(await signalled).toBe('SIGINT');
    expect(slow.err()).toContain(`joinflow run: interrupted (SIGINT): the run stopped as if killed; 'joinflow resume --state ${state}' continues it`);
    expect(runStatus(state, 'int-1')).toBe('running');
  });

  // The signal went to the engine alone, not to its process group as a terminal's Ctrl-C does:
  // the step's process ran on (until resume, or for ever after a --memory run).
  it('stops the processes of process steps when a signal stops the engine alone (a supervisor\'s SIGTERM), durable or in memory', async () => {
    for (const [runId, mode] of [['term-1', ['--state', tmp()]], ['term-2', ['--memory']]] as const) {
      const slow = background(['run', 'test/fixtures/workflows/slow.yaml', ...mode, '--run-id', runId]);
      const signalled = new Promise<NodeJS.Signals | null>((resolve) => slow.child.on('exit', (_code, signal) => resolve(signal)));
      // The step's process: found by the run id its environment carries.
      await until(() => findProcesses({ JOINFLOW_RUN_ID: runId, JOINFLOW_STEP: 'sleeper' }).length > 0);
      slow.child.kill('SIGTERM');
      expect(await signalled, runId).toBe('SIGTERM');
      await until(() => findProcesses({ JOINFLOW_RUN_ID: runId }).length === 0);
      expect(slow.err(), runId).toContain('joinflow run: interrupted (SIGTERM)');
    }
  });

  it('resumes a run killed mid-way to the same output', async () => {
    const state = tmp();
    // 300 items of 25 ms, two at a time: about 4 s, so the kill lands mid-way even under load.
    const wf = path.join(state, 'slow-fan.json');
    writeFileSync(wf, JSON.stringify({
      name: 'slow-fan',
      steps: {
        split: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: 300 }, (_, i) => i) } },
        work: { needs: ['split'], forEach: 'split', executor: { type: 'simulate', durationMs: 25, output: 2 } },
        reduce: { needs: ['work'], executor: { type: 'simulate', durationMs: 0, output: 'done' } },
      },
    }));
    const run = background(['run', wf, '--state', state, '--run-id', 'fan-1', '--concurrency', 'simulate=2', '--json']);
    await until(() => (facts(state, 'fan-1')?.tasks.filter((t) => t.status === 'succeeded').length ?? 0) > 20);
    run.child.kill('SIGKILL');
    await run.exit;
    expect(runStatus(state, 'fan-1')).toBe('running');
    const r = joinflow(['resume', '--state', state, '--json']);
    expect(r.code).toBe(0);
    const resumed = JSON.parse(r.stdout);
    expect(resumed).toMatchObject({ runId: 'fan-1', status: 'succeeded', output: { reduce: 'done' } });
    // Every item ran to success exactly once or, if it was running at the kill, once more.
    expect(resumed.steps.total).toBe(302);
    expect(resumed.steps.succeeded).toBe(302);
    // Resuming a finished run prints its final state.
    const done = joinflow(['resume', 'fan-1', '--state', state, '--json']);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ runId: 'fan-1', status: 'succeeded', output: { reduce: 'done' } });
    // The events of both processes, as every later report counts them (not only the resume's).
    expect(resumed.events).toBe(JSON.parse(done.stdout).events);
    expect(resumed.events).toBeGreaterThan(600);
  });

  it('resume of a run that then fails says how it ended and why once (the progress lines), exit 1', async () => {
    const state = tmp();
    const wf = path.join(state, 'gate-fail.json');
    const open = path.join(state, 'open');
    writeFileSync(wf, JSON.stringify({
      name: 'gate-fail',
      steps: {
        gate: { executor: { type: 'process', command: process.execPath, args: ['-e', `const fs = require('node:fs'); const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(open)})) { clearInterval(t); console.log('{}'); } }, 50);`] } },
        bad: { needs: ['gate'], executor: { type: 'process', command: process.execPath, args: ['-e', "console.error('bad input'); process.exit(3)"] } },
      },
    }));
    const run = background(['run', wf, '--state', state, '--run-id', 'fails-1']);
    await until(() => taskStatus(state, 'fails-1', 'gate') === 'started');
    run.child.kill('SIGKILL');
    await run.exit;
    writeFileSync(open, '');
    const r = joinflow(['resume', '--state', state]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l.startsWith('run fails-1 failed'))).toEqual([expect.stringMatching(/^run fails-1 failed in \d+ ms: 1 succeeded, 1 failed/)]);
    expect(lines.filter((l) => l.includes('bad input'))).toHaveLength(1);
  });

  it('cancels a run in another process: SIGTERM to its processes, Run Cancelled, exit 1', async () => {
    const state = tmp();
    const trace = path.join(state, 'trace.json');
    const run = background(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'cancel-me', '--json', '--trace', trace]);
    await until(() => runStatus(state, 'cancel-me') === 'running' && taskStatus(state, 'cancel-me', 'sleeper') === 'started');
    const c = joinflow(['cancel', 'cancel-me', '--state', state]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain('to cancel run cancel-me');
    expect(await run.exit).toBe(1);
    const out = JSON.parse(run.out());
    expect(out).toMatchObject({ runId: 'cancel-me', status: 'cancelled' });
    expect(runStatus(state, 'cancel-me')).toBe('cancelled');
    expect(readFileSync(path.join(state, 'runs', 'cancel-me', 'logs', 'sleeper.1.err'), 'utf8')).toContain('got SIGTERM');
    const records = JSON.parse(readFileSync(trace, 'utf8')) as Array<{ step: string; status: string }>;
    expect(records.map((t) => `${t.step}:${t.status}`).sort()).toEqual(['sleeper:cancelled', 'wait:cancelled']);
    const types = (facts(state, 'cancel-me')?.events.get('cancel-me') ?? []).map((e) => e['detail-type']);
    expect(types).toContain('Run Cancelled');
    expect(types).not.toContain('Run Succeeded');
    // Ended, or never there: not running, exit 1 (as status says of an unknown run).
    const again = joinflow(['cancel', 'cancel-me', '--state', state]);
    expect([again.code, again.stderr]).toEqual([1, 'joinflow cancel: run cancel-me already cancelled\n']);
    const unknown = joinflow(['cancel', 'nope', '--state', state]);
    expect([unknown.code, unknown.stderr]).toEqual([1, `joinflow cancel: no run "nope" in ${state}\n`]);
  });

  it('lists dead letters with their reasons, and gc removes finished runs', async () => {
    const state = tmp();
    const s = openDurableState({ dir: state });
    const engine = createEngine({ store: s.store, log: s.log });
    engine.register(plan(diamondDef));
    await engine.run('diamond', null);
    await engine.bus.publish([{ id: 'bad', source: 'joinflow', 'detail-type': 'Run Requested', time: '', detail: { workflow: 'ghost' } }]);
    await engine.bus.idle();
    await engine.close();
    s.close();
    const list = joinflow(['dlq', 'list', '--state', state, '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ reason: string }>).map((d) => d.reason)).toEqual(['unknown workflow "ghost"']);
    const text = joinflow(['dlq', 'list', '--state', state]);
    expect(text.stdout).toContain('unknown workflow "ghost"');
    const gc = joinflow(['gc', '--state', state]);
    expect(gc.code).toBe(0);
    expect(gc.stderr).toBe('joinflow gc: removed 1 finished run(s), 1 dead letter and 0 finished subscription deliveries\n');
  });

  it('gc gives the space back to the file system, unless an engine runs on the state dir', async () => {
    const state = tmp();
    const s = openDurableState({ dir: state });
    const engine = createEngine({ store: s.store, log: s.log });
    engine.register(plan({ name: 'wide', steps: { a: { executor: { type: 'simulate', durationMs: 0, output: 'x'.repeat(2000) } }, b: { needs: ['a'], forEach: 'a', executor: { type: 'simulate', durationMs: 0 } } } }));
    engine.register(plan({ name: 'many', steps: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`s${i}`, { executor: { type: 'simulate', durationMs: 0, output: 'y'.repeat(500) } }])) }));
    for (let i = 0; i < 20; i++) expect((await engine.run('many', null)).status).toBe('succeeded');
    await engine.close();
    s.close();
    const size = () => ['state.db', 'state.db-wal'].reduce((n, f) => n + (existsSync(path.join(state, f)) ? statSync(path.join(state, f)).size : 0), 0);
    const before = size();
    expect(before).toBeGreaterThan(1_000_000);
    // An engine on the state dir (its mark, and a live process whose command line names joinflow).
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', path.join(root, 'bin/joinflow.js')], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => other.once('spawn', resolve));
      mkdirSync(path.join(state, 'engines'), { recursive: true });
      writeFileSync(path.join(state, 'engines', String(other.pid)), 'dev');
      const busy = joinflow(['gc', '--state', state, '--older-than', '1d']);
      expect(busy.stderr).toBe('joinflow gc: removed 0 finished run(s) and 0 finished subscription deliveries\n');
      const kept = joinflow(['gc', '--state', state]);
      expect(kept.stderr).toContain(`joinflow gc: removed 20 finished run(s) and 0 finished subscription deliveries\njoinflow gc: the database was not compacted: process ${other.pid} runs an engine on ${state}`);
      expect(size()).toBeGreaterThan(before / 2);
    } finally {
      other.kill('SIGKILL');
    }
    await new Promise((resolve) => other.once('exit', resolve));
    const gc = joinflow(['gc', '--state', state]);
    expect(gc.code).toBe(0);
    expect(gc.stderr).toMatch(/^joinflow gc: removed 0 finished run\(s\) and 0 finished subscription deliveries\njoinflow gc: compacted the database: [\d.]+ MB -> \d+ KB\n$/);
    expect(size()).toBeLessThan(before / 4);
  });

  it('a state dir made by the row store keeps using it: its runs are listed, and new runs go into it', async () => {
    const state = tmp();
    const s = openSqliteState({ dir: state });
    const engine = createEngine({ store: s.store, log: s.log });
    engine.register(plan(diamondDef));
    await engine.run('diamond', { x: 1 }, { runId: 'old-1' });
    await engine.close();
    s.close();
    expect(stateKind(state)).toBe('rows');
    const run = joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 2}', '--state', state, '--run-id', 'new-1', '--json']);
    expect(run.code).toBe(0);
    const list = joinflow(['list', '--state', state, '--json']);
    expect((JSON.parse(list.stdout) as Array<{ runId: string; status: string }>).map((r) => `${r.runId}:${r.status}`).sort()).toEqual(['new-1:succeeded', 'old-1:succeeded']);
    expect(stateKind(state)).toBe('rows');
    // A new state dir gets the journal.
    const fresh = tmp();
    expect(joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 2}', '--state', fresh]).code).toBe(0);
    expect(stateKind(fresh)).toBe('journal');
  });

  it('--run-id of a run that ended reports it and says it did not run it again, nor with the new input', () => {
    const state = tmp();
    const first = joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 1}', '--state', state, '--run-id', 'once', '--json']);
    expect(first.code).toBe(0);
    expect(first.stderr).not.toContain('already');
    const again = joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 1}', '--state', state, '--run-id', 'once', '--json']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/run "once" already succeeded on \S+; it is reported, not run again/);
    expect(JSON.parse(again.stdout)).toMatchObject({ runId: 'once', status: 'succeeded', output: { nodeC: { sum: 12 } } });
    // Its events are counted from the state dir, as the first report counted them.
    expect(JSON.parse(again.stdout).events).toBe(JSON.parse(first.stdout).events);
    const other = joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 5}', '--state', state, '--run-id', 'once', '--json']);
    expect(other.stderr).toContain('(with its own input: the --input given is not used)');
    expect(JSON.parse(other.stdout)).toMatchObject({ output: { nodeC: { sum: 12 } } });
    // Without --input there is no input to set aside.
    const bare = joinflow(['run', 'workflows/diamond.ts', '--state', state, '--run-id', 'once', '--json']);
    expect(bare.stderr).toMatch(/run "once" already succeeded on \S+; it is reported/);
    expect(bare.stderr).not.toContain('--input given');
  });

  it('--cost of a run that ended gives no estimate (nothing ran), and says so', () => {
    const state = tmp();
    const first = joinflow(['run', 'workflows/diamond.ts', '--state', state, '--run-id', 'costed', '--cost', '--json']);
    expect((JSON.parse(first.stdout) as { cost?: unknown }).cost).toBeDefined();
    const again = joinflow(['run', 'workflows/diamond.ts', '--state', state, '--run-id', 'costed', '--cost', '--json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { cost?: unknown }).cost).toBeUndefined();
    expect(again.stderr).toContain('--cost: the run had ended and is only reported, so nothing was counted');
  });

  it('a run reported again (--run-id, --json) has the critical path it had, at its time scale', () => {
    const state = tmp();
    const wf = path.join(state, 'two.yaml');
    writeFileSync(wf, 'name: two\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 300}\n  b:\n    needs: [a]\n    executor: {type: simulate, durationMs: 200}\n');
    const first = joinflow(['run', wf, '--state', state, '--run-id', 'cp', '--time-scale', '0.1', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ criticalPathMs: 50 });
    const again = joinflow(['run', wf, '--state', state, '--run-id', 'cp', '--json']);
    expect(again.stderr).toContain('it is reported, not run again');
    expect(JSON.parse(again.stdout)).toMatchObject({ criticalPathMs: 50 });
  });

  it('--trace of a run that ended writes the trace its state keeps, the first run\'s without initMs (not kept)', () => {
    const state = tmp();
    const file = path.join(state, 'trace.json');
    expect(joinflow(['run', 'workflows/diamond.ts', '--state', state, '--run-id', 'traced', '--trace', file]).code).toBe(0);
    const first = JSON.parse(readFileSync(file, 'utf8')) as Array<{ step: string; initMs?: number }>;
    expect(first.map((r) => r.step).sort()).toEqual(['nodeA', 'nodeB', 'nodeC']);
    const again = joinflow(['run', 'workflows/diamond.ts', '--state', state, '--run-id', 'traced', '--trace', file]);
    expect(again.stderr).toContain('it is reported, not run again');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first.map(({ initMs: _initMs, ...r }) => r));
  });

  it('a --run-id of another workflow\'s run is refused with that reason only; resume of an unknown run exits 1; an empty --time-scale is refused', () => {
    const state = tmp();
    expect(joinflow(['run', 'workflows/diamond.ts', '--input', '{"x": 1}', '--state', state, '--run-id', 'mine']).code).toBe(0);
    const other = joinflow(['run', 'test/fixtures/workflows/slow.yaml', '--state', state, '--run-id', 'mine']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('run id "mine" already belongs to workflow "diamond"');
    expect(other.stderr).not.toContain('reported, not run again');
    const unknown = joinflow(['resume', 'nosuch', '--state', state]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`joinflow resume: no run "nosuch" in ${state}`);
    const scale = joinflow(['run', 'workflows/diamond.ts', '--state', state, '--time-scale', '']);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain('--time-scale must be a number >= 0 (got "")');
  });

  it('stops quietly when its reader goes away (status | head), exit 0 and no EPIPE', async () => {
    const state = tmp();
    expect(joinflow(['run', 'workflows/fanout.ts', '--input', '{"n": 3000}', '--state', state, '--run-id', 'wide', '--json']).code).toBe(0);
    // `head -c 100` reads the first bytes and exits while ~150 KB are still to come.
    const script = `"${process.execPath}" "${path.join(root, 'bin/joinflow.js')}" status wide --state "${state}" 2>"${state}/err" | head -c 100 >/dev/null; echo \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', script], { cwd: root, encoding: 'utf8' });
    expect(readFileSync(path.join(state, 'err'), 'utf8')).not.toContain('EPIPE');
    expect(r.stdout.trim()).toBe('0');
  });

  it('gc deletes the logs and data directories of the runs it removes, and only those', () => {
    const state = tmp();
    const run = (id: string) => joinflow(['run', 'workflows/word-count/workflow.json', '--input', '@workflows/word-count/job.json', '--state', state, '--run-id', id]);
    expect(run('wc-1').code).toBe(0);
    expect(run('wc-2').code).toBe(0);
    const runs = path.join(state, 'runs');
    expect(readdirSync(runs).sort()).toEqual(['wc-1', 'wc-2']);
    expect(readdirSync(path.join(runs, 'wc-1', 'logs')).length).toBeGreaterThan(0);
    // word-count's CWL steps work in the run's data directory, not beside the workflow file.
    expect(readdirSync(path.join(runs, 'wc-1', 'data', 'cwl'))).toContain('rank.1');
    // Newer than the cutoff: kept, files and all.
    let gc = joinflow(['gc', '--state', state, '--older-than', '1h']);
    expect(gc.stderr).toBe('joinflow gc: removed 0 finished run(s) and 0 finished subscription deliveries\n');
    expect(readdirSync(runs).sort()).toEqual(['wc-1', 'wc-2']);
    // A directory that is not a removed run's stays.
    mkdirSync(path.join(runs, 'not-a-run'));
    gc = joinflow(['gc', '--state', state]);
    expect(gc.code).toBe(0);
    expect(gc.stderr).toMatch(/^joinflow gc: removed 2 finished run\(s\) and 0 finished subscription deliveries, and 2 directories of their logs, data and payloads\n(joinflow gc: compacted the database: \d+ KB -> \d+ KB\n)?$/);
    expect(readdirSync(runs)).toEqual(['not-a-run']);
    expect(runStatus(state, 'wc-1')).toBeUndefined();
  });

  it('gc says how many dead letters it removed (those older than --older-than), after dlq list showed them', async () => {
    const state = tmp();
    const s = openDurableState({ dir: state });
    s.log.deadLetter({ id: 'e1', source: 'joinflow', 'detail-type': 'Run Requested', detail: { workflow: 'nope' } }, 'unknown workflow "nope"', Date.now() - 2 * 3600_000);
    s.log.deadLetter({ id: 'e2', source: 'joinflow', 'detail-type': 'Run Requested', detail: { workflow: 'nope' } }, 'unknown workflow "nope"', Date.now());
    await s.store.commit();
    s.close();
    expect(joinflow(['dlq', 'list', '--state', state]).stdout).toContain('unknown workflow "nope"');
    let gc = joinflow(['gc', '--state', state, '--older-than', '1h']);
    expect(gc.stderr).toBe('joinflow gc: removed 0 finished run(s), 1 dead letter and 0 finished subscription deliveries\n');
    gc = joinflow(['gc', '--state', state]);
    expect(gc.stderr).toBe('joinflow gc: removed 0 finished run(s), 1 dead letter and 0 finished subscription deliveries\n');
    expect(joinflow(['dlq', 'list', '--state', state]).stdout).not.toContain('unknown workflow');
  });

  it('dlq list shows the control characters an event put into a reason as \\uXXXX, not as terminal escapes (a line break stays)', async () => {
    const state = tmp();
    const s = openDurableState({ dir: state });
    const event = { id: 'e1', source: 'joinflow', 'detail-type': 'Run Requested', detail: { workflow: 'he\u001b]0;owned\u0007llo\r' } };
    // What the processor writes for a Run Requested of a workflow it does not know: the name as the event gave it.
    s.log.deadLetter(event, `unknown workflow "${event.detail.workflow}"\nsecond line`, Date.now());
    await s.store.commit();
    s.close();
    const text = joinflow(['dlq', 'list', '--state', state]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(text.stdout).toContain('unknown workflow "he\\u001b]0;owned\\u0007llo\\u000d"\nsecond line\n');
    // --json is JSON: its escapes were already there.
    expect(JSON.parse(joinflow(['dlq', 'list', '--state', state, '--json']).stdout)[0].reason).toBe(`unknown workflow "${event.detail.workflow}"\nsecond line`);
  });

  it('gc collects a state dir that holds no database (exit 0) and refuses one that is not there (exit 2)', () => {
    const empty = tmp();
    const gc = joinflow(['gc', '--state', empty]);
    expect(gc.code).toBe(0);
    expect(gc.stderr).toBe(`joinflow gc: no database in ${empty}; removed 0 directories of --memory runs\n`);
    const missing = path.join(empty, 'typo');
    const bad = joinflow(['gc', '--state', missing]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`no joinflow state in ${missing} (nothing to collect; pass --state DIR)`);
    expect(existsSync(missing)).toBe(false);
  });
});
