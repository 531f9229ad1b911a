/**
 * `joinflow dev` as users run it (a child process in a project dir): it reloads workflows/ when
 * files change, keeps the running version when an edit does not compile, and `events tail`
 * streams the events it writes.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { until as poll } from '../helpers/until.ts';

const tmp = tempDirs('joinflow-dev-reload-');
const bin = path.join(root, 'bin/joinflow.js');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A CLI child whose output is collected; `exited` resolves with its code. */
function start(args: string[], cwd: string) {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { child, out, exited };
}

/** Waits up to 90 s by default (see helpers/until.ts). */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 90_000) => poll(what, probe, ms);

/** The runs in the project's state dir, read directly (a CLI per poll is slow on a busy machine). */
async function runs(cwd: string): Promise<Array<{ runId: string; status: string; output?: unknown }>> {
  const file = path.join(cwd, '.joinflow/state.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    const rows = db.prepare('SELECT run_id, status, output FROM runs WHERE status IS NOT NULL').all() as Array<{ run_id: string; status: string; output: string | null }>;
    return rows.map((r) => ({ runId: r.run_id, status: r.status, ...(r.output === null ? {} : { output: JSON.parse(r.output) }) }));
  } finally {
    db.close();
  }
}

async function finished(cwd: string, runId: string) {
  const end = Date.now() + 90_000;
  for (;;) {
    const r = (await runs(cwd)).find((x) => x.runId === runId && x.status !== 'running');
    if (r) return r;
    if (Date.now() > end) throw new Error(`run ${runId} did not finish`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const hello = (value: string) => `name: hello\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1, output: ${value}}\noutput: a\n`;

describe('joinflow dev reload', () => {
  it('refuses to start with two files of one workflow name, as compile does (exit 2, naming both)', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    for (const f of ['one.yaml', 'two.yaml']) writeFileSync(path.join(dir, 'workflows', f), 'name: same\nsteps:\n  a: {executor: {type: simulate, durationMs: 1}}\n');
    const r = joinflow(['dev', '--memory', '--no-watch'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('workflows/two.yaml: workflow name "same" is already used by workflows/one.yaml');
  });

  it('picks up changed and new workflows, keeps the old version when an edit is broken; events tail streams', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'workflows/hello.yaml'), hello('v1'));
    const dev = start(['dev', '--port', '0'], dir);
    const url = await until('the dev server', () => /PutEvents on (http:\S+)/.exec(dev.out.stderr)?.[1]);
    expect(dev.out.stderr).toContain('(1 workflow, 0 subscriptions, watching workflows/)');
    const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const startRun = async (workflow: string, runId: string) => {
      const r = await client.send(new PutEventsCommand({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow, runId }) }] }));
      expect(r.FailedEntryCount).toBe(0);
    };
    try {
      await startRun('hello', 'r1');
      expect(await finished(dir, 'r1')).toMatchObject({ status: 'succeeded', output: 'v1' });

      // From the log's start, so a tail that comes up after r2 or r3 has ended (a loaded machine)
      // still sees both; r1 is left out by the pattern.
      const tail = start(['events', 'tail', '--from-start', '--limit', '2', '--pattern', '{"detail-type": ["Run Succeeded"], "detail": {"runId": [{"anything-but": "r1"}]}}'], dir);

      writeFileSync(path.join(dir, 'workflows/hello.yaml'), hello('v2'));
      writeFileSync(path.join(dir, 'workflows/extra.yaml'), 'name: extra\nsteps:\n  x:\n    executor: {type: simulate, durationMs: 1, output: 7}\n');
      await until('the reload', () => dev.out.stderr.includes('reloaded workflow hello') && dev.out.stderr.includes('added workflow extra'));
      await startRun('hello', 'r2');
      await startRun('extra', 'r3');
      expect(await finished(dir, 'r2')).toMatchObject({ status: 'succeeded', output: 'v2' });
      expect(await finished(dir, 'r3')).toMatchObject({ status: 'succeeded' });

      expect(await tail.exited).toBe(0);
      const tailed = tail.out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { 'detail-type': string; detail: { runId: string } });
      expect(tailed.map((e) => e['detail-type'])).toEqual(['Run Succeeded', 'Run Succeeded']);
      expect(tailed.map((e) => e.detail.runId).sort()).toEqual(['r2', 'r3']);

      writeFileSync(path.join(dir, 'workflows/hello.yaml'), 'name: hello\nsteps:\n  a:\n    needs: [ghost]\n    executor: {type: simulate, durationMs: 1}\n');
      await until('the failed reload', () => dev.out.stderr.includes('reload failed, keeping the running version'));
      expect(dev.out.stderr).toContain('ghost');
      await startRun('hello', 'r4');
      expect(await finished(dir, 'r4')).toMatchObject({ status: 'succeeded', output: 'v2' });
    } finally {
      client.destroy();
      dev.child.kill('SIGINT');
    }
    expect(await dev.exited).toBe(0);
  }, 300_000);

  it('keeps seeing a workflow file an editor saved by renaming a new one over it (sed -i), and a directory made later', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    const file = path.join(dir, 'workflows/hello.yaml');
    writeFileSync(file, hello('v1'));
    const dev = start(['dev', '--port', '0'], dir);
    await until('the dev server', () => /PutEvents on (http:\S+)/.exec(dev.out.stderr)?.[1]);
    const reloads = () => dev.out.stderr.split('reloaded workflow hello').length - 1;
    try {
      // An atomic save: a new file renamed over the old one.
      writeFileSync(`${file}.tmp`, hello('v2'));
      renameSync(`${file}.tmp`, file);
      await until('the reload of the renamed file', () => reloads() === 1);
      // A plain write after it is still seen (a recursive watch lost the file here).
      writeFileSync(file, hello('v3'));
      await until('the reload of a write after the rename', () => reloads() === 2);
      mkdirSync(path.join(dir, 'workflows/later'));
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(path.join(dir, 'workflows/later/workflow.yaml'), 'name: extra\nsteps:\n  x:\n    executor: {type: simulate, durationMs: 1}\n');
      await until('the workflow in the new directory', () => dev.out.stderr.includes('added workflow extra'));
    } finally {
      dev.child.kill('SIGINT');
    }
    expect(await dev.exited).toBe(0);
  }, 300_000);

  // An ES module project's handler is first loaded without tsx (compiled CLI: ts-hooks.ts), the edited one with it.
  it.each(['without "type": "module"', 'with "type": "module"'])('loads .ts workflows and handlers in a project %s, and re-imports an edited handler', async (kind) => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows/handlers'), { recursive: true });
    if (kind.startsWith('with ')) writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
    writeFileSync(path.join(dir, 'workflows/handlers/lib.ts'), 'export const w = 1;\n');
    writeFileSync(path.join(dir, 'workflows/handlers/h.ts'), "import { w } from './lib.ts';\nexport const handler = async (): Promise<{ v: number; w: number }> => ({ v: 1, w });\n");
    writeFileSync(path.join(dir, 'workflows/w.ts'), "export default { name: 'w', steps: { a: { executor: { type: 'function', module: './handlers/h.ts' } } }, output: 'a' };\n");
    const dev = start(['dev', '--port', '0'], dir);
    const url = await until('the dev server', () => /PutEvents on (http:\S+)/.exec(dev.out.stderr)?.[1]);
    const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const startRun = (runId: string) =>
      client.send(new PutEventsCommand({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 'w', runId }) }] }));
    try {
      await startRun('t1');
      expect(await finished(dir, 't1')).toMatchObject({ status: 'succeeded', output: { v: 1, w: 1 } });
      writeFileSync(path.join(dir, 'workflows/handlers/h.ts'), "import { w } from './lib.ts';\nexport const handler = async (): Promise<{ v: number; w: number }> => ({ v: 2, w });\n");
      await startRun('t2');
      expect(await finished(dir, 't2')).toMatchObject({ status: 'succeeded', output: { v: 2, w: 1 } });
      // A module the handler imports, edited alone: the workers that hold it go.
      const restarts = () => dev.out.stderr.split('handler worker').length - 1;
      // (The edit of h.ts retired the worker t1 had left; t2b starts another, which imports lib.ts.)
      await until('the workers\' restart after the edit of h.ts', () => restarts() > 0);
      await startRun('t2b');
      expect(await finished(dir, 't2b')).toMatchObject({ status: 'succeeded', output: { v: 2, w: 1 } });
      const before = restarts();
      writeFileSync(path.join(dir, 'workflows/handlers/lib.ts'), 'export const w = 2;\n');
      await until('the workers\' restart', () => restarts() > before);
      await startRun('t3');
      expect(await finished(dir, 't3')).toMatchObject({ status: 'succeeded', output: { v: 2, w: 2 } });
    } finally {
      client.destroy();
      dev.child.kill('SIGINT');
    }
    expect(await dev.exited).toBe(0);
  }, 300_000);

  it('continues the runs an earlier dev left unfinished; leaves those of joinflow run, of another directory and of an edited workflow, saying so', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    const slow = (out: string) => `name: slow\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1}\n  b:\n    needs: [a]\n    executor: {type: simulate, durationMs: 1500, output: ${out}}\noutput: b\n`;
    writeFileSync(path.join(dir, 'workflows/slow.yaml'), slow('v1'));
    writeFileSync(path.join(dir, 'workflows/edited.yaml'), slow('v1').replace('name: slow', 'name: edited'));
    const underWay = async (runIds: string[]): Promise<void> => {
      for (;;) {
        const now = await runs(dir);
        if (runIds.every((id) => now.some((x) => x.runId === id && x.status === 'running'))) return;
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    const first = start(['dev', '--port', '0', '--no-watch'], dir);
    const url = await until('the dev server', () => /PutEvents on (http:\S+)/.exec(first.out.stderr)?.[1]);
    const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    try {
      const r = await client.send(new PutEventsCommand({ Entries: ['slow', 'edited'].map((w) => ({ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: w, runId: `${w}-1` }) })) }));
      expect(r.FailedEntryCount).toBe(0);
      await underWay(['slow-1', 'edited-1']);
    } finally {
      client.destroy();
      first.child.kill('SIGKILL');
    }
    await first.exited;
    // A run of `joinflow run`, killed too.
    const other = start(['run', 'workflows/slow.yaml', '--run-id', 'cli-1'], dir);
    await underWay(['cli-1']);
    other.child.kill('SIGKILL');
    await other.exited;
    // A dev of another project sharing the state dir, with the same workflow file: its run is not this project's.
    const far = tmp();
    mkdirSync(path.join(far, 'workflows'));
    writeFileSync(path.join(far, 'workflows/slow.yaml'), slow('v1'));
    const farDev = start(['dev', '--port', '0', '--no-watch', '--state', path.join(dir, '.joinflow')], far);
    const farUrl = await until('the other dev server', () => /PutEvents on (http:\S+)/.exec(farDev.out.stderr)?.[1]);
    const farClient = new EventBridgeClient({ endpoint: farUrl, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    try {
      await farClient.send(new PutEventsCommand({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 'slow', runId: 'far-1' }) }] }));
      await underWay(['far-1']);
    } finally {
      farClient.destroy();
      farDev.child.kill('SIGKILL');
    }
    await farDev.exited;
    writeFileSync(path.join(dir, 'workflows/edited.yaml'), slow('v2').replace('name: slow', 'name: edited'));

    const second = start(['dev', '--port', '0', '--no-watch'], dir);
    try {
      expect(await finished(dir, 'slow-1')).toMatchObject({ status: 'succeeded', output: 'v1' });
      expect(second.out.stderr).toContain('joinflow dev: continuing 1 run(s) an earlier dev left unfinished: slow-1');
      expect(second.out.stderr).toContain('1 unfinished run(s) started with another version of their workflow, left as they are: edited-1 (edited)');
      expect(second.out.stderr).toMatch(/2 unfinished run\(s\) started by 'joinflow run' or in another directory, left as they are \(they keep their own flags and directory\): (cli-1, far-1|far-1, cli-1);/);
      expect((await runs(dir)).filter((x) => x.status === 'running').map((x) => x.runId).sort()).toEqual(['cli-1', 'edited-1', 'far-1']);
    } finally {
      second.child.kill('SIGINT');
    }
    expect(await second.exited).toBe(0);
  }, 300_000);

  it('--memory: the files a run\'s process steps write are marked as the dev process\'s, and gc removes them once it is gone', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'workflows/say.yaml'), `name: say\nsteps:\n  say:\n    executor: {type: process, command: node, args: ["-e", "console.error('said'); console.log(1)"]}\n`);
    const dev = start(['dev', '--memory', '--port', '0', '--no-watch'], dir);
    const url = await until('the dev server', () => /PutEvents on (http:\S+)/.exec(dev.out.stderr)?.[1]);
    const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const runDir = path.join(dir, '.joinflow/runs/mem-1');
    try {
      const r = await client.send(new PutEventsCommand({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 'say', runId: 'mem-1' }) }] }));
      expect(r.FailedEntryCount).toBe(0);
      const marker = await until('the run\'s marker', () => existsSync(path.join(runDir, '.memory-run.json')) && JSON.parse(readFileSync(path.join(runDir, '.memory-run.json'), 'utf8')) as { pid: number });
      expect(marker.pid).toBe(dev.child.pid);
      await until('the step\'s log', () => existsSync(path.join(runDir, 'logs/say.1.err')) && readFileSync(path.join(runDir, 'logs/say.1.err'), 'utf8') === 'said\n');
      // Its process is alive: gc leaves the run's files.
      expect(joinflow(['gc'], { cwd: dir }).stderr).toContain('removed 0 directories of --memory runs');
      expect(existsSync(runDir)).toBe(true);
    } finally {
      client.destroy();
      dev.child.kill('SIGTERM');
    }
    expect(await dev.exited).toBe(0);
    expect(joinflow(['gc'], { cwd: dir }).stderr).toContain('removed 1 directory of --memory runs');
    expect(existsSync(runDir)).toBe(false);
  });
});
