/** joinflow dev's reload, driven directly: files reload one by one, and each fact is said once. */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import type { SubscriptionDispatcher } from '../../src/adapters/local/subscription-dispatcher.ts';
import { compileFile, listWorkflowFiles } from '../../src/adapters/local/workflow-files.ts';
import { watchProject } from '../../src/cli/dev-reload.ts';
import { createDevServer } from '../../src/adapters/local/dev-server.ts';
import type { Subscription } from '../../src/model/subscriptions.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-reload-');
const flow = (name: string, output: string, sub = '') =>
  `name: ${name}\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 0, output: ${output}}\noutput: a\n${sub}`;
const SUB = 'subscriptions:\n  note:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: command, command: "true"}\n';

describe('joinflow dev reload', () => {
  it('reloads every file that compiles, keeps the running version (and subscriptions) of one that does not, and says a workflow is gone once', async () => {
    const root = tmp();
    mkdirSync(path.join(root, 'workflows'));
    writeFileSync(path.join(root, 'workflows/a.yaml'), flow('a', 'a1', SUB));
    writeFileSync(path.join(root, 'workflows/b.yaml'), flow('b', 'b1'));
    const plans = await Promise.all(listWorkflowFiles(root).map((f) => compileFile(f, root)));
    const engine = createEngine({ root });
    for (const p of plans) engine.register(p);
    const subs: Subscription[][] = [];
    const dispatcher = { setSubscriptions: (s: Subscription[]) => subs.push(s) } as unknown as SubscriptionDispatcher;
    const lines: string[] = [];
    const watcher = watchProject({ root, engine, dispatcher, plans, log: (l) => lines.push(l), debounceMs: 60_000 });
    try {
      writeFileSync(path.join(root, 'workflows/a.yaml'), 'name: a\nsteps:\n  a:\n    needs: [ghost]\n    executor: {type: simulate, durationMs: 0}\n');
      writeFileSync(path.join(root, 'workflows/b.yaml'), flow('b', 'b2'));
      await watcher.reload();
      expect(lines.some((l) => l.startsWith('workflows/a.yaml: reload failed, keeping the running version:') && l.includes('ghost'))).toBe(true);
      expect(lines).toContain('reloaded workflow b (workflows/b.yaml)');
      // The subscriptions did not change: nothing said about them.
      expect(lines.some((l) => l.startsWith('subscriptions reloaded'))).toBe(false);
      // a's own subscription stays with its running version.
      expect(subs.at(-1)!.map((s) => s.name)).toEqual(['a.note']);
      expect((await engine.run('a', null)).output).toBe('a1');
      expect((await engine.run('b', null)).output).toBe('b2');
      writeFileSync(path.join(root, 'joinflow.config.yaml'), 'subscriptions:\n  audit:\n    pattern: {source: [joinflow]}\n    target: {type: command, command: "true"}\n');
      await watcher.reload();
      expect(lines).toContain('subscriptions reloaded: audit, a.note');
      rmSync(path.join(root, 'workflows/b.yaml'));
      await watcher.reload();
      await watcher.reload();
      expect(lines.filter((l) => l.startsWith('workflow b is no longer in workflows/'))).toHaveLength(1);
      // A second file of a workflow's name is not loaded (the first keeps it), and it is said.
      writeFileSync(path.join(root, 'workflows/c.yaml'), flow('a', 'c1'));
      writeFileSync(path.join(root, 'workflows/a.yaml'), flow('a', 'a3'));
      await watcher.reload();
      expect(lines).toContain('workflows/c.yaml: not loaded: workflow name "a" is already used by workflows/a.yaml');
      expect((await engine.run('a', null)).output).toBe('a3');
      // Also when the newcomer's file name sorts first: the file that holds the name keeps it.
      writeFileSync(path.join(root, 'workflows/0-a.yaml'), flow('a', 'intruder'));
      await watcher.reload();
      expect(lines).toContain('workflows/0-a.yaml: not loaded: workflow name "a" is already used by workflows/a.yaml');
      expect((await engine.run('a', null)).output).toBe('a3');
      // And while the holder does not compile (it keeps its running version, and its name).
      writeFileSync(path.join(root, 'workflows/a.yaml'), 'name: a\nsteps: {}\n');
      await watcher.reload();
      expect((await engine.run('a', null)).output).toBe('a3');
    } finally {
      watcher.close();
      await engine.close();
    }
  });

  it('a changed workflow with running runs refuses new runs (ThrottlingException) until they end, then takes them on its new version', async () => {
    const root = tmp();
    mkdirSync(path.join(root, 'workflows'));
    // v1 runs until cancelled: the reload below always finds it running, however slow the machine.
    const slow = (output: string, ms: number) => `name: s\nsteps:\n  a:\n    executor: {type: simulate, durationMs: ${ms}, output: ${output}}\noutput: a\n`;
    writeFileSync(path.join(root, 'workflows/s.yaml'), slow('v1', 600_000));
    const plans = await Promise.all(listWorkflowFiles(root).map((f) => compileFile(f, root)));
    const engine = createEngine({ root });
    for (const p of plans) engine.register(p);
    const dispatcher = { setSubscriptions: () => {} } as unknown as SubscriptionDispatcher;
    const lines: string[] = [];
    const watcher = watchProject({ root, engine, dispatcher, plans, log: (l) => lines.push(l), debounceMs: 60_000 });
    const server = await createDevServer({ engine, refuse: (e) => watcher.waiting((e.detail as { workflow: string }).workflow) });
    const put = async (runId: string) => {
      const body = JSON.stringify({ Entries: [{ Source: 'joinflow', DetailType: 'Run Requested', Detail: JSON.stringify({ workflow: 's', runId }) }] });
      const res = await fetch(server.url, { method: 'POST', body, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' } });
      return (await res.json()) as { FailedEntryCount: number; Entries: Array<{ ErrorCode?: string; ErrorMessage?: string }> };
    };
    try {
      expect((await put('old-1')).FailedEntryCount).toBe(0);
      await vi.waitUntil(() => engine.activeRuns('s') === 1);
      writeFileSync(path.join(root, 'workflows/s.yaml'), slow('v2', 0));
      await watcher.reload();
      expect(lines).toContain('workflow s changed: the new version starts after its 1 running run; new runs of it are refused until then');
      // Not started on the old version: refused, saying why and what to do.
      const refused = await put('during');
      expect(refused).toEqual({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'workflow s is being reloaded: its new version starts when its 1 running run of the old one has ended; send this run again then' }] });
      await engine.cancel('old-1');
      expect((await engine.wait('old-1')).status).toBe('cancelled');
      await vi.waitUntil(() => lines.includes('reloaded workflow s (workflows/s.yaml)'), { timeout: 5000 });
      expect(watcher.waiting('s')).toBeUndefined();
      expect((await put('after')).FailedEntryCount).toBe(0);
      expect((await engine.wait('after')).output).toBe('v2');
      expect(await engine.store.getRun('during')).toBeUndefined();
    } finally {
      watcher.close();
      await server.close();
      await engine.close();
    }
  });
  it('says when a file that failed to reload compiles again, also when its workflow is unchanged', async () => {
    // The error stayed the last word on the screen: a fix that restored the running version was
    // taken without a line, and looked as if the reload had been missed.
    const root = tmp();
    mkdirSync(path.join(root, 'workflows'));
    writeFileSync(path.join(root, 'workflows/a.yaml'), flow('a', 'a1'));
    const plans = await Promise.all(listWorkflowFiles(root).map((f) => compileFile(f, root)));
    const engine = createEngine({ root });
    for (const p of plans) engine.register(p);
    const dispatcher = { setSubscriptions: () => {} } as unknown as SubscriptionDispatcher;
    const lines: string[] = [];
    const watcher = watchProject({ root, engine, dispatcher, plans, log: (l) => lines.push(l), debounceMs: 60_000 });
    try {
      writeFileSync(path.join(root, 'workflows/a.yaml'), 'name: a\nsteps:\n  a: [\n');
      await watcher.reload();
      expect(lines.some((l) => l.startsWith('workflows/a.yaml: reload failed'))).toBe(true);
      writeFileSync(path.join(root, 'workflows/a.yaml'), flow('a', 'a1'));
      await watcher.reload();
      expect(lines.at(-1)).toBe('workflows/a.yaml: compiles again (workflow a unchanged)');
      // Said once: the next reload of the same file says nothing more of it.
      const count = lines.length;
      await watcher.reload();
      expect(lines).toHaveLength(count);
      // A fix that changes the workflow says so, then reloads it.
      writeFileSync(path.join(root, 'workflows/a.yaml'), 'name: a\nsteps: {}\n');
      await watcher.reload();
      writeFileSync(path.join(root, 'workflows/a.yaml'), flow('a', 'a2'));
      await watcher.reload();
      expect(lines.slice(-2)).toEqual(['workflows/a.yaml: compiles again', 'reloaded workflow a (workflows/a.yaml)']);
      expect((await engine.run('a', null)).output).toBe('a2');
    } finally {
      watcher.close();
      await engine.close();
    }
  });
  it('a change while a reload is stuck importing a handler (an endless loop at its top level) starts over with the new files at once', async () => {
    // The stuck reload held every later one for the minute the import check allows: a fixed
    // handler was not taken, and runs waited on it, until then.
    const root = tmp();
    mkdirSync(path.join(root, 'workflows/handlers'), { recursive: true });
    const handler = path.join(root, 'workflows/handlers/h.mjs');
    const marker = path.join(root, 'importing');
    writeFileSync(handler, 'export const a = async () => 1;\n');
    writeFileSync(path.join(root, 'workflows/w.yaml'), 'name: w\nsteps:\n  a:\n    executor: {type: function, module: ./handlers/h.mjs, export: a}\n');
    const plans = await Promise.all(listWorkflowFiles(root).map((f) => compileFile(f, root)));
    const engine = createEngine({ root });
    for (const p of plans) engine.register(p);
    const dispatcher = { setSubscriptions: () => {} } as unknown as SubscriptionDispatcher;
    const lines: string[] = [];
    const watcher = watchProject({ root, engine, dispatcher, plans, log: (l) => lines.push(l), debounceMs: 60_000 });
    try {
      writeFileSync(handler, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, '');\nwhile (true) {}\nexport const a = async () => 1;\n`);
      const stuck = watcher.reload();
      while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 20));
      writeFileSync(handler, 'export const a = async () => 2;\n');
      await watcher.reload();
      await stuck;
      // The stuck one is dropped without a word; the new one finds nothing wrong.
      expect(lines.filter((l) => l.includes('reload failed'))).toEqual([]);
      expect((await engine.run('w', null)).output).toEqual({ a: 2 });
    } finally {
      watcher.close();
      await engine.close();
    }
  });
});
