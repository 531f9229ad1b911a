/**
 * `joinflow dev`: a handler whose file changed is loaded again, and that load is the attempt's
 * init, not part of its timeout: a step whose `timeoutMs` is shorter than the load succeeds.
 * The new module's top level waits 1.5 s (its timeout is 500 ms): the run fails with StepTimeout
 * if the load is counted. Both ways a changed handler is loaded: by the warm worker that ran it
 * (it imports the file again when its mtime changed: always so with --no-watch, and with the
 * watcher for a step that comes before the watcher has seen the change), and by a new worker
 * after the watcher retired the old one (which imports it before it takes the step).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinflow, startJoinflow } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until as poll } from '../helpers/until.ts';

const tmp = tempDirs('jf-dev-reload-timeout-');

/** Waits up to 90 s by default (see helpers/until.ts). */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 90_000) => poll(what, probe, ms);

/** The run's status and output once it has ended, from the state dir. */
function ended(dir: string, runId: string): { status: string; output: unknown; error: unknown } | undefined {
  const file = path.join(dir, '.joinflow/state.db');
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    const r = db.prepare<[string], { status: string; output: string | null; error: string | null }>('SELECT status, output, error FROM runs WHERE run_id = ?').get(runId);
    if (r === undefined || r.status === 'running') return undefined;
    return { status: r.status, output: r.output === null ? null : JSON.parse(r.output), error: r.error === null ? null : JSON.parse(r.error) };
  } catch {
    return undefined; // the engine has not made its tables yet
  } finally {
    db.close();
  }
}

/** A handler returning `v`; `slowLoadMs`: its module's top level first keeps its thread busy that long. */
const handler = (v: number, slowLoadMs = 0) =>
  `${slowLoadMs > 0 ? `const until = Date.now() + ${slowLoadMs};\nwhile (Date.now() < until);\n` : ''}export const handler = async () => ({ v: ${v} });\n`;

/** A project with one workflow: step `a`, a function handler with a 500 ms timeout. */
function project(): string {
  const dir = tmp();
  mkdirSync(path.join(dir, 'workflows/handlers'), { recursive: true });
  writeFileSync(path.join(dir, 'workflows/handlers/h.mjs'), handler(1));
  writeFileSync(path.join(dir, 'workflows/w.yaml'), 'name: w\nsteps:\n  a:\n    timeoutMs: 500\n    executor: { type: function, module: ./handlers/h.mjs }\noutput: a\n');
  return dir;
}

async function devSession(dir: string, args: string[], body: (run: (runId: string) => Promise<ReturnType<typeof ended>>, stderr: () => string) => Promise<void>): Promise<void> {
  const dev = startJoinflow(['dev', '--port', '0', ...args], dir);
  const url = await until('the dev server', () => /PutEvents on (http:\S+)/.exec(dev.err())?.[1]);
  const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  const run = async (runId: string) => {
    const r = await client.send(new PutEventsCommand({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 'w', runId }) }] }));
    expect(r.FailedEntryCount).toBe(0);
    const end = await until(`the end of run ${runId}`, () => ended(dir, runId));
    expect(end.error, `run ${runId}`).toBeNull();
    return end;
  };
  try {
    await body(run, dev.err);
  } finally {
    client.destroy();
    dev.child.kill('SIGINT');
  }
  expect((await dev.exit).code).toBe(0);
}

describe('joinflow dev: the load of a changed handler is not counted against the step\'s timeout', () => {
  it('on the warm worker that ran it (--no-watch: the worker sees the new file itself)', async () => {
    const dir = project();
    await devSession(dir, ['--no-watch'], async (run) => {
      expect(await run('r1')).toMatchObject({ status: 'succeeded', output: { v: 1 } });
      writeFileSync(path.join(dir, 'workflows/handlers/h.mjs'), handler(2, 1500));
      expect(await run('r2')).toMatchObject({ status: 'succeeded', output: { v: 2 } });
    });
    // One attempt: the step was not retried after a timeout either.
    expect(joinflow(['status', 'r2'], { cwd: dir }).stdout).toMatch(/^ {2}succeeded +a +1 attempt,/m);
  }, 300_000);

  it('on a new worker, once the watcher has retired the old one', async () => {
    const dir = project();
    await devSession(dir, [], async (run, stderr) => {
      expect(await run('r1')).toMatchObject({ status: 'succeeded', output: { v: 1 } });
      writeFileSync(path.join(dir, 'workflows/handlers/h.mjs'), handler(3, 1500));
      await until('the worker\'s restart', () => stderr().includes('files changed: 1 handler worker restarts'));
      expect(await run('r3')).toMatchObject({ status: 'succeeded', output: { v: 3 } });
    });
  }, 300_000);
});
