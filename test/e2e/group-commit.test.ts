/**
 * Group commit on the durable engine: batches whose effects stay in the process share commits;
 * anything that leaves the process (a spawned process, a run's end) waits for the commit of
 * what caused it; a pending commit is made within groupCommitMs even while nothing else happens.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/adapters/local/engine.ts';
import { openSqliteState, type SqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { openJournalState } from '../../src/adapters/local/journal-state.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';
import { closedAfterEach } from '../helpers/engines.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until as poll } from '../helpers/until.ts';

const tmp = tempDirs('jf-group-commit-');
const open = closedAfterEach();

function durable(groupCommitMs?: number): { engine: Engine; state: SqliteState; commits: () => number; dir: string } {
  const dir = tmp();
  const state = openSqliteState({ dir });
  let commits = 0;
  const commit = state.store.commit.bind(state.store);
  state.store.commit = () => {
    commits++;
    return commit();
  };
  const engine = createEngine({ store: state.store, log: state.log, stateDir: dir, ...(groupCommitMs === undefined ? {} : { groupCommitMs }) });
  open.push({ engine, state });
  return { engine, state, commits: () => commits, dir };
}

function chain(n: number, last?: WorkflowInput['steps'][string]): WorkflowInput {
  const steps: WorkflowInput['steps'] = {};
  for (let i = 0; i < n; i++) steps[`s${i}`] = { needs: i === 0 ? [] : [`s${i - 1}`], executor: { type: 'simulate', durationMs: 0, output: i } };
  if (last) steps['last'] = { ...last, needs: [`s${n - 1}`] };
  return { name: 'chain', steps };
}

/** Resolves once `check()` holds, polling every 20 ms; fails after a generous 30 s. */
const until = (what: string, check: () => boolean) => poll(what, check, 30_000, 20);

/** Rows of the tasks table as another process sees them: committed ones only. */
function committedTasks(dir: string): string[] {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    return db.prepare<[], string>('SELECT step FROM tasks ORDER BY dispatch_seq').pluck().all();
  } finally {
    db.close();
  }
}

describe('group commit', () => {
  it('shares commits between the batches of in-process steps, and commits every batch with groupCommitMs 0', async () => {
    const grouped = durable(1000);
    grouped.engine.register(compileWorkflow(chain(200), { source: 'test' }));
    const a = await grouped.engine.run('chain', null);
    expect(a.status).toBe('succeeded');
    expect(a.output).toEqual({ s199: 199 });

    const each = durable(0);
    each.engine.register(compileWorkflow(chain(200), { source: 'test' }));
    const b = await each.engine.run('chain', null);
    expect(b.output).toEqual({ s199: 199 });
    // One commit per step (and a few for the run's start and end) without group commit;
    // with it the run's 200 batches share a handful.
    expect(each.commits()).toBeGreaterThanOrEqual(200);
    expect(grouped.commits()).toBeLessThan(10);
    // Nothing is lost by committing less often: every task is on file once the run has ended.
    expect(committedTasks(grouped.dir)).toHaveLength(200);
  });

  it("shares commits between the batches of container steps whose handler runs in the process, as of function steps", async () => {
    const handler = path.resolve(import.meta.dirname, '../fixtures/handlers/plain.mjs');
    const steps: WorkflowInput['steps'] = {};
    for (let i = 0; i < 30; i++) steps[`c${i}`] = { needs: i === 0 ? [] : [`c${i - 1}`], executor: { type: 'container', queue: 'q', module: handler, export: 'handler' } };
    const { engine, dir, commits } = durable(60_000);
    engine.register(compileWorkflow({ name: 'containers', steps }, { source: 'test' }));
    const r = await engine.run('containers', { name: 'x' });
    expect(r.status, JSON.stringify(r.error)).toBe('succeeded');
    expect(r.output).toEqual({ c29: { greeting: 'hello x', step: 'c29' } });
    // Each batch committed at once (a commit per step) when such a step was taken to leave the process.
    expect(commits()).toBeLessThan(10);
    expect(committedTasks(dir)).toHaveLength(30);
  });

  it('commits before a process step starts: the process sees its own dispatch in the state file', async () => {
    const { engine, dir } = durable(60_000);
    // The child reads the state database the way another process would: committed rows only.
    const script = [
      "const D = require('better-sqlite3');",
      `const db = new D(${JSON.stringify(path.join(dir, 'state.db'))}, { readonly: true });`,
      "const steps = db.prepare('SELECT step FROM tasks').pluck().all();",
      'console.log(JSON.stringify(steps));',
    ].join('\n');
    const last = { executor: { type: 'process' as const, command: process.execPath, args: ['-e', script], cwd: path.resolve(import.meta.dirname, '../..') } };
    engine.register(compileWorkflow(chain(20, last), { source: 'test' }));
    const r = await engine.run('chain', null);
    expect(r.status, JSON.stringify(r.error)).toBe('succeeded');
    const seen = (r.output as { last: string[] }).last;
    // Every earlier step and the process step's own dispatch were committed before it was spawned,
    // although the group-commit window (60 s) had not run out.
    expect(seen).toContain('last');
    expect(seen.filter((s) => s.startsWith('s'))).toHaveLength(20);
  });

  it('commits within groupCommitMs while a long in-process step runs', async () => {
    const { engine, dir } = durable(20);
    // The last step sleeps an hour: nothing but the group-commit window can commit before the run ends.
    const wf = chain(30, { executor: { type: 'simulate', durationMs: 3_600_000 } });
    engine.register(compileWorkflow(wf, { source: 'test' }));
    const run = engine.run('chain', null, { runId: 'long' });
    let ended = false;
    const settled = run.then((r) => ((ended = true), r.status), () => ((ended = true), 'rejected'));
    // The 30 quick steps and the dispatch of the slow one come on file while the run is still going.
    await until('the quick steps and the dispatch of the last one to be committed', () => {
      const seen = committedTasks(dir);
      return seen.includes('last') && seen.filter((s) => s.startsWith('s')).length === 30;
    });
    expect(ended).toBe(false);
    expect(await engine.cancel('long')).toBe(true);
    expect(await settled).toBe('cancelled');
  });

  it('commits a task\'s start within groupCommitMs on a library engine with no one else on the bus', async () => {
    const dir = tmp();
    const state = openJournalState({ dir });
    const engine = createEngine({ store: state.store, log: state.log, stateDir: dir, groupCommitMs: 20 });
    open.push({ engine, state });
    // A process step: what it causes leaves the process, so its dispatch is committed before the
    // spawn; its start comes after, with nothing else to commit it.
    // The step runs until the test lets it end, so its start is seen, if it is committed, however slow the machine.
    const go = path.join(dir, 'go');
    const script = `const fs = require('fs'); const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(go)})) { clearInterval(t); console.log(1); } }, 20);`;
    engine.register(compileWorkflow({ name: 'slow', steps: { a: { executor: { type: 'process', command: process.execPath, args: ['-e', script] } } } }, { source: 'test' }));
    const run = engine.run('slow', null, { runId: 'slow-1' });
    // Another connection (as `joinflow status` in another process) sees only what is committed.
    const reader = openJournalState({ dir });
    try {
      await until("the step's start to be committed", () => reader.log.tasks('slow-1')[0]?.status === 'started');
    } finally {
      reader.close();
    }
    writeFileSync(go, '');
    expect((await run).status).toBe('succeeded');
  });
});
