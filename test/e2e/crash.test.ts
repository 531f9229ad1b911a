/**
 * Crash test: a ~2,000-step workflow (the Epigenomics trace, plus function and process steps)
 * runs in a child process that is killed with SIGKILL at random points, at least 20 times, and
 * resumed each time. The final output and every step's result must equal an uninterrupted run;
 * no arrival may be counted twice; executions are repeated only for tasks that were running at
 * a kill.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { importWfCommons } from '../../src/importers/wfcommons.ts';
import { rng } from '../helpers/driver.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { journal } from '../helpers/journal.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-crash-');

/** Epigenomics (1,695 simulate steps) + function, process, quorum and choice steps hanging off it: 2,025 steps. */
function crashWorkflow(dir: string): string {
  const trace = JSON.parse(readFileSync(path.join(root, '../shared/corpora/wfcommons/epigenomics-chameleon-ilmn-6seq-50k-001.json'), 'utf8'));
  const { workflow } = importWfCommons(trace, { name: 'crashy' });
  const ids = Object.keys(workflow.steps);
  for (const [id, s] of Object.entries(workflow.steps)) (s.executor as { output?: unknown }).output = `out:${id}`;
  writeFileSync(path.join(dir, 'h.mjs'), 'export const mix = (e) => Object.values(e.results).join("|").length + (e.input?.salt ?? 0);\n');
  writeFileSync(path.join(dir, 'p.mjs'), 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify({n:Object.keys(JSON.parse(s).results).length})));\n');
  for (let i = 0; i < 280; i++) {
    workflow.steps[`fn${i}`] = { needs: [ids[(i * 6) % ids.length]!, ids[(i * 6 + 3) % ids.length]!], executor: { type: 'function', module: './h.mjs', export: 'mix' } };
  }
  for (let i = 0; i < 20; i++) {
    workflow.steps[`proc${i}`] = { needs: [`fn${i * 14}`], executor: { type: 'process', command: process.execPath, args: ['p.mjs'] } };
  }
  // Steps that start with the first (or two) of their needs: joins of a smaller need, whose
  // output does not depend on which needs came first. Their needs are also needed in full (by a
  // proc step), so each of them runs to its end whatever the timing, as in the reference run.
  for (let i = 0; i < 10; i++) {
    const needs = [`fn${((i * 2) % 20) * 14}`, `fn${((i * 2 + 1) % 20) * 14}`, `fn${((i * 2 + 2) % 20) * 14}`];
    workflow.steps[`some${i}`] = { needs, wait: i % 2 === 0 ? 'any' : { quorum: 2 }, executor: { type: 'simulate', durationMs: 0, output: `some${i}` } };
  }
  // Choices: the even picks match the input (salt 7) and run, the odd ones are skipped, and so
  // are the steps after them.
  for (let i = 0; i < 10; i++) {
    workflow.steps[`pick${i}`] = { needs: [`fn${i * 14}`], when: { input: { salt: [i % 2 === 0 ? 7 : 8] } }, executor: { type: 'simulate', durationMs: 0, output: `pick${i}` } };
    workflow.steps[`after${i}`] = { needs: [`pick${i}`], executor: { type: 'simulate', durationMs: 0, output: `after${i}` } };
  }
  const file = path.join(dir, 'crashy.json');
  writeFileSync(file, JSON.stringify(workflow));
  return file;
}

const ARGS = ['--time-scale', '0.004', '--concurrency', 'function=2,process=2,simulate=unlimited', '--input', '{"salt": 7}'];

/** Starts `joinflow <args>` and SIGKILLs it after `killAfterMs`; resolves with its exit. */
function runAndKill(args: string[], killAfterMs: number): Promise<{ killed: boolean; code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, killAfterMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stdout });
    });
  });
}

type Db = InstanceType<typeof Database>;

/** Each (step, item)'s first recorded output, from the durable event log. */
function stepResults(db: Db, runId: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const e of journal(db).events.get(runId) ?? []) {
    if (e['detail-type'] === 'Step Skipped') {
      const d = e.detail as { step: string; reason: string };
      if (!out.has(`skipped:${d.step}`)) out.set(`skipped:${d.step}`, d.reason);
      continue;
    }
    if (e['detail-type'] !== 'Step Completed') continue;
    const d = e.detail as { step: string; item?: number; output?: unknown };
    const key = `${d.step}#${d.item ?? ''}`;
    if (!out.has(key)) out.set(key, d.output);
  }
  return out;
}

describe('crash recovery', () => {
  it('survives 20+ SIGKILLs with the same outputs and per-step results as an uninterrupted run', async () => {
    const dir = tmp();
    const file = crashWorkflow(dir);

    const refState = path.join(dir, 'ref-state');
    const ref = joinflow(['run', file, ...ARGS, '--state', refState, '--json']);
    expect(ref.code).toBe(0);
    const refResult = JSON.parse(ref.stdout);
    expect(refResult.steps.total).toBe(2015);

    const state = path.join(dir, 'state');
    const random = rng(20261121);
    let kills = 0;
    let finished: { stdout: string } | undefined;
    const runningAtKills = new Set<string>();
    let started = false;
    for (let life = 0; life < 200 && !finished; life++) {
      // Until the run's first batch is committed it does not exist durably: start it (again).
      const args = started ? ['resume', '--state', state, '--json'] : ['run', file, ...ARGS, '--state', state, '--json'];
      // Early lives die young; once 20 kills are in, let the run finish.
      const r = await runAndKill(args, kills < 20 ? 350 + Math.floor(random() * 900) : 600_000);
      if (!r.killed) {
        expect(r.code).toBe(0);
        finished = r;
        break;
      }
      if (!existsSync(path.join(state, 'state.db'))) continue; // killed before it opened its state
      const db = new Database(path.join(state, 'state.db'), { readonly: true });
      const hasSchema = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'runs'").get() as { n: number };
      if (hasSchema.n === 0) {
        db.close();
        continue; // killed while it was creating its state
      }
      try {
        // Exactly-once counting survives every kill: a counter is its arrivals' facts, written
        // once per new key; a key counted twice (after a restart forgot it) would show here.
        const facts = journal(db);
        const bad = [...facts.arrivals].filter(([, list]) => new Set(list).size !== list.length);
        expect(bad).toEqual([]);
        started = (db.prepare("SELECT COUNT(*) AS n FROM runs WHERE status IS NOT NULL").get() as { n: number }).n > 0;
        // Only kills that hit a run in progress count toward the 20.
        if (started) kills++;
        for (const t of facts.tasks.filter((x) => x.status === 'started')) runningAtKills.add(`${t.step}#${t.item}@${t.attempt}`);
      } finally {
        db.close();
      }
    }
    expect(kills).toBeGreaterThanOrEqual(20);
    expect(finished).toBeDefined();
    const result = JSON.parse(finished!.stdout.trim().split('\n').at(-1)!);
    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual(refResult.output);

    const db = new Database(path.join(state, 'state.db'), { readonly: true });
    const refDb = new Database(path.join(refState, 'state.db'), { readonly: true });
    try {
      const got = stepResults(db, result.runId);
      const want = stepResults(refDb, refResult.runId);
      // A result per step that ran, and a Step Skipped per skipped one.
      expect(got.size).toBe(2025);
      expect([...got.keys()].filter((k) => k.startsWith('skipped:')).sort()).toEqual(
        [1, 3, 5, 7, 9].flatMap((i) => [`skipped:after${i}`, `skipped:pick${i}`]).sort(),
      );
      expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
      // Repeated executions: a unit with more than one started attempt. Each repetition must come
      // from a task that was running when a kill hit (recovery re-runs it as attempt + 1).
      const attempts = journal(db)
        .tasks.filter((t) => t.runId === result.runId && t.started)
        .sort((x, y) => (x.step < y.step ? -1 : x.step > y.step ? 1 : x.item - y.item || x.attempt - y.attempt));
      const byUnit = new Map<string, number[]>();
      for (const a of attempts) byUnit.set(`${a.step}#${a.item}`, [...(byUnit.get(`${a.step}#${a.item}`) ?? []), a.attempt]);
      let repeated = 0;
      for (const [unit, list] of byUnit) {
        for (const attempt of list.slice(1)) {
          repeated++;
          expect(runningAtKills.has(`${unit}@${attempt - 1}`)).toBe(true);
        }
      }
      console.log(`crash test: ${kills} kills, ${repeated} step executions repeated (of ${byUnit.size} units), ${runningAtKills.size} tasks were running at kills`);
    } finally {
      db.close();
      refDb.close();
    }
  }, 600_000);
});
