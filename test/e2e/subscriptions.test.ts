/**
 * Subscriptions end to end: `joinflow run` in a project with joinflow.config.yaml delivers to a
 * webhook (a local HTTP server here), a command and a workflow, retries after a 500, and
 * dead-letters what the last retry could not deliver.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { requestCancel } from '../../src/cli/state.ts';

const tmp = tempDirs('joinflow-subs-');
const bin = path.join(root, 'bin/joinflow.js');

/** The CLI in a child process, without blocking this process's event loop (the server runs here). */
function joinflowAsync(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `workflow` as `runId` and SIGKILLs its engine once a step has started (within 30 s). */
async function killedOnceStarted(workflow: string, runId: string, dir: string): Promise<void> {
  const child = spawn(process.execPath, [bin, 'run', workflow, '--run-id', runId], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const started = async () => {
    const st = await joinflowAsync(['status', runId, '--json'], dir);
    return st.code === 0 && (JSON.parse(st.stdout) as { steps: Array<{ state: string }> }).steps.some((x) => x.state === 'started');
  };
  const end = Date.now() + 30_000;
  while (!(await started()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGKILL');
  await exited;
}

type Received = { path: string; headers: Record<string, unknown>; body: { id: string; 'detail-type': string; detail: Record<string, unknown> }; status: number };

let server: Server;
let url: string;
const received: Received[] = [];
let hookCalls = 0;
/** /later answers 500 until this is set. */
let laterUp = false;
/** Paths that answer 200 once added here (500 before). */
const upPaths = new Set<string>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      // /hook fails once, then accepts; /down is always down.
      const status = req.url === '/hook' ? (hookCalls++ === 0 ? 500 : 200) : (req.url === '/later' && laterUp) || upPaths.has(req.url ?? '') ? 200 : 500;
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function project(): string {
  const dir = tmp();
  mkdirSync(path.join(dir, 'workflows'));
  writeFileSync(
    path.join(dir, 'workflows/ok.yaml'),
    'name: ok\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1, output: {total: 42}}\noutput: a\n',
  );
  writeFileSync(
    path.join(dir, 'workflows/bad.yaml'),
    'name: bad\nsteps:\n  a:\n    executor: {type: process, command: node, args: ["-e", "process.exit(3)"]}\n',
  );
  writeFileSync(
    path.join(dir, 'workflows/report.yaml'),
    'name: report\nsteps:\n  r:\n    executor: {type: process, command: node, args: ["-e", "let s=\'\';process.stdin.on(\'data\',c=>s+=c).on(\'end\',()=>console.log(JSON.stringify({got: JSON.parse(s).input})))"]}\noutput: r\n',
  );
  writeFileSync(
    path.join(dir, 'audit.mjs'),
    "import { appendFileSync } from 'node:fs';\nlet s = '';\nprocess.stdin.on('data', (c) => (s += c)).on('end', () => appendFileSync('audit.log', s + '\\n'));\n",
  );
  writeFileSync(
    path.join(dir, 'joinflow.config.yaml'),
    `subscriptions:
  notify:
    pattern: {source: [joinflow], detail-type: [Run Succeeded], detail: {workflow: [ok]}}
    target: {type: webhook, url: "${url}/hook", headers: {x-team: science}, retry: {maxAttempts: 4, backoffMs: 50}}
  broken:
    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}
    target: {type: webhook, url: "${url}/down", retry: {maxAttempts: 3, backoffMs: 20}}
  audit:
    pattern: {detail-type: [Run Failed]}
    target: {type: command, command: node, args: [audit.mjs]}
  chain:
    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}
    target: {type: workflow, workflow: report, inputPath: $.detail.output}
`,
  );
  return dir;
}

describe('subscriptions on the embedded engine', () => {
  it('deliver Run Succeeded to a webhook (retrying after a 500), dead-letter after the last retry, start a workflow, run a command', async () => {
    const dir = project();
    const ok = await joinflowAsync(['run', 'ok', '--run-id', 'run-ok-1'], dir);
    expect(ok.code, ok.stderr).toBe(0);

    // The webhook: a 500, then the same event again, accepted.
    const hook = received.filter((r) => r.path === '/hook');
    expect(hook.map((r) => r.status)).toEqual([500, 200]);
    expect(hook[0]!.body.id).toBe(hook[1]!.body.id);
    expect(hook[1]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-team': 'science' });
    expect(hook[1]!.body['detail-type']).toBe('Run Succeeded');
    expect(hook[1]!.body.detail).toMatchObject({ workflow: 'ok', runId: 'run-ok-1', output: { total: 42 } });
    expect(ok.stderr).toContain('notify: delivery attempt 1 failed');

    // The receiver that stays down: 3 attempts, then a dead letter that says why.
    expect(received.filter((r) => r.path === '/down')).toHaveLength(3);
    const dlq = await joinflowAsync(['dlq', 'list', '--json'], dir);
    const letters = JSON.parse(dlq.stdout) as Array<{ reason: string; event: { id: string } }>;
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/subscription "broken" \(webhook .*\/down\): gave up after 3 attempts: .*HTTP 500/);
    expect(letters[0]!.event.id).toBe(hook[1]!.body.id);

    // The workflow target started report with ok's output as its input, once.
    const list = await joinflowAsync(['list', '--workflow', 'report', '--json'], dir);
    const runs = JSON.parse(list.stdout) as Array<{ runId: string; status: string; output: unknown }>;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId: `chain:${hook[1]!.body.id}`, status: 'succeeded', output: { got: { total: 42 } } });

    // Nothing matched Run Failed yet.
    expect(existsSync(path.join(dir, 'audit.log'))).toBe(false);

    // A failing run: the command gets Run Failed on stdin; the webhook, whose pattern wants ok's
    // Run Succeeded, gets nothing.
    const before = received.length;
    const bad = await joinflowAsync(['run', 'bad', '--run-id', 'run-bad-1'], dir);
    expect(bad.code).toBe(1);
    expect(received.length).toBe(before);
    const audit = readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ 'detail-type': 'Run Failed', detail: { workflow: 'bad', runId: 'run-bad-1' } });

    // gc forgets finished deliveries: notify, broken and chain (ok's Run Succeeded), audit (bad's Run Failed).
    const gc = await joinflowAsync(['gc'], dir);
    // The webhook delivery that ran out of retries was dead-lettered: gc says it removed that too.
    expect(gc.stderr).toMatch(/removed \d+ finished run\(s\), 1 dead letter and 4 finished subscription deliveries/);
  }, 300_000);

  it('joinflow resume sends the deliveries a stopped run left pending, with no run to continue', async () => {
    const dir = project();
    writeFileSync(
      path.join(dir, 'joinflow.config.yaml'),
      `subscriptions:\n  later:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: webhook, url: "${url}/later", retry: {maxAttempts: 3, backoffMs: 3000}}\n`,
    );
    // The run ends; its delivery fails once and waits 3 s for its retry: Ctrl-C then.
    const child = spawn(process.execPath, [bin, 'run', 'ok', '--run-id', 'later-1'], { cwd: dir, env: { ...process.env, FORCE_COLOR: '0' } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('later: delivery attempt 1 failed')) child.kill('SIGINT');
    });
    await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toContain('waiting for 1 subscription delivery');
    laterUp = true;
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('no run to continue; delivering 1 subscription delivery left pending');
    // The retry keeps its backoff, counted from the failed attempt.
    expect(resumed.stderr).toMatch(/waiting for 1 subscription delivery( \(the next attempt in [1-3] s\))?\n/);
    const later = received.filter((r) => r.path === '/later');
    expect(later.map((r) => [r.status, r.body.detail.runId])).toEqual([[500, 'later-1'], [200, 'later-1']]);
    // Delivered: nothing is left for the next one.
    const again = await joinflowAsync(['resume'], dir);
    expect([again.code, again.stderr]).toEqual([0, expect.not.stringContaining('delivering')]);
  }, 300_000);

  it('joinflow compile writes the config file\'s subscriptions to triggers/@subscriptions.json (defaults applied) and --check follows them', async () => {
    const dir = project();
    expect((await joinflowAsync(['compile'], dir)).code).toBe(0);
    const written = JSON.parse(readFileSync(path.join(dir, 'triggers/@subscriptions.json'), 'utf8'));
    expect(written.version).toBe(1);
    expect(written.subscriptions.map((x: { name: string }) => x.name)).toEqual(['notify', 'broken', 'audit', 'chain']);
    expect(written.subscriptions[2].target).toEqual({ type: 'command', command: 'node', args: ['audit.mjs'], env: {}, timeoutMs: 60_000, retry: { maxAttempts: 5, backoffMs: 1000, factor: 2, maxDelayMs: 60_000 } });
    expect((await joinflowAsync(['compile', '--check'], dir)).code).toBe(0);
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions: {}\n');
    const stale = await joinflowAsync(['compile', '--check'], dir);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('joinflow compile --check: triggers/@subscriptions.json is left from a config file that has no subscriptions now (or is gone)');
    expect((await joinflowAsync(['compile'], dir)).code).toBe(0);
    expect(existsSync(path.join(dir, 'triggers/@subscriptions.json'))).toBe(false);
    expect((await joinflowAsync(['compile', '--check'], dir)).code).toBe(0);
  }, 300_000);

  it('does not let a workflow subscription start its workflow again from the events of a run it started (a loop)', async () => {
    const dir = project();
    writeFileSync(
      path.join(dir, 'joinflow.config.yaml'),
      'subscriptions:\n  loop:\n    pattern: {source: [joinflow], detail-type: [Run Succeeded], detail: {workflow: [ok]}}\n    target: {type: workflow, workflow: ok, inputPath: $.detail.output}\n',
    );
    const r = await joinflowAsync(['run', 'ok', '--json'], dir);
    expect(r.code).toBe(0);
    // The user's run started one run of the subscription; that run's success is not fed back.
    const runs = JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ runId: string }>;
    expect(runs).toHaveLength(2);
    const dlq = (await joinflowAsync(['dlq', 'list'], dir)).stdout;
    expect(dlq).toMatch(/subscription "loop" \(workflow ok\).*the event comes from run "loop:[^"]+", which this subscription started: starting "ok" again would loop/);
  });

  // A command target runs in a process group of its own, which Ctrl-C on the terminal does not reach.
  it('stops a command target under way when Ctrl-C stops the run, so that resume does not run a second copy beside it', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'slow-cmd.mjs'), "import { appendFileSync } from 'node:fs';\nappendFileSync('cmd.log', `start ${process.pid}\\n`);\nsetTimeout(() => appendFileSync('cmd.log', `end ${process.pid}\\n`), 4000);\n");
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  slow:\n    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}\n    target: {type: command, command: node, args: [slow-cmd.mjs]}\n');
    const child = spawn(process.execPath, [bin, 'run', 'ok'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const log = () => (existsSync(path.join(dir, 'cmd.log')) ? readFileSync(path.join(dir, 'cmd.log'), 'utf8') : '');
    const end = Date.now() + 20_000;
    while (!log().startsWith('start') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const first = Number(/^start (\d+)/.exec(log())![1]);
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    expect(stderr).toContain("interrupted (SIGINT) while delivering to subscriptions: 'joinflow resume' sends the deliveries left");
    // The command got SIGTERM with the run: gone within a moment, not 4 s later.
    const gone = Date.now() + 2000;
    const alive = () => { try { process.kill(first, 0); return true; } catch { return false; } };
    while (alive() && Date.now() < gone) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    const lines = log().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('end'))).toEqual([lines.at(-1)]);
    expect(lines.at(-1)).not.toBe(`end ${first}`);
  }, 60_000);

  it('delivers the Run Cancelled of a run that joinflow cancel ends after its engine died, to the config\'s and the workflow\'s own subscriptions', async () => {
    const dir = project();
    writeFileSync(
      path.join(dir, 'workflows/hang.yaml'),
      'name: hang\nsteps:\n  a:\n    executor: {type: process, command: node, args: ["-e", "setTimeout(() => {}, 60000)"]}\n' +
        'subscriptions:\n  own:\n    pattern: {detail-type: [Run Cancelled]}\n    target: {type: command, command: node, args: [audit.mjs]}\n',
    );
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  gone:\n    pattern: {detail-type: [Run Cancelled]}\n    target: {type: command, command: node, args: [audit.mjs]}\n');
    /** Starts a run of hang and kills its engine once its step runs. */
    const killedRun = async (runId: string) => {
      const child = spawn(process.execPath, [bin, 'run', 'hang', '--run-id', runId], { cwd: dir, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const started = async () => {
        const s = await joinflowAsync(['status', runId, '--json'], dir);
        return s.code === 0 && (JSON.parse(s.stdout) as { steps: Array<{ state: string }> }).steps.some((x) => x.state === 'started');
      };
      const end = Date.now() + 30_000;
      while (!(await started()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGKILL');
      await exited;
    };
    await killedRun('hang-1');
    const cancelled = await joinflowAsync(['cancel', 'hang-1'], dir);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain('Run Cancelled waits for 2 subscription deliveries (gone, hang.own)');
    // The next engine on the state dir sends them: here resume, with no run left to continue.
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('delivering 2 subscription deliveries left pending');
    const audit = readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { 'detail-type': string; detail: { runId: string } });
    expect(audit.map((e) => `${e['detail-type']}:${e.detail.runId}`)).toEqual(['Run Cancelled:hang-1', 'Run Cancelled:hang-1']);
    // A cancel its engine never read (it died first), carried out by resume: resume sends its Run Cancelled.
    await killedRun('hang-2');
    requestCancel(path.join(dir, '.joinflow'), 'hang-2');
    const carried = await joinflowAsync(['resume'], dir);
    expect(carried.code).toBe(1);
    expect(carried.stderr).toContain('run hang-2 had been asked to cancel: cancelled, not resumed');
    const after = readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { detail: { runId: string } });
    expect(after.filter((e) => e.detail.runId === 'hang-2')).toHaveLength(2);
  }, 120_000);

  it('delivers what another workflow\'s own subscription left pending when resume continues an unrelated run (it was dead-lettered as no longer declared)', async () => {
    const dir = project();
    writeFileSync(
      path.join(dir, 'workflows/own.yaml'),
      `name: own\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1}\nsubscriptions:\n  tell:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: webhook, url: "${url}/own", retry: {maxAttempts: 3, backoffMs: 1500}}\n`,
    );
    writeFileSync(path.join(dir, 'workflows/pause.yaml'), 'name: pause\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1500}\n');
    // own's run ends; its delivery fails once and waits for its retry: Ctrl-C then.
    const first = spawn(process.execPath, [bin, 'run', 'own', '--run-id', 'own-1'], { cwd: dir, env: { ...process.env, FORCE_COLOR: '0' } });
    let stderr = '';
    first.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('own.tell: delivery attempt 1 failed')) first.kill('SIGINT');
    });
    await new Promise((resolve) => first.on('close', resolve));
    // A run of another workflow, whose engine dies while it runs.
    await killedOnceStarted('pause', 'pause-1', dir);
    upPaths.add('/own');
    // resume continues pause with pause's subscriptions and the config's, and sends own's delivery too.
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    // (pause's run may have tried it once more while it ran, as a run does with what it finds pending.)
    const own = received.filter((r) => r.path === '/own');
    expect(own.map((r) => r.body.detail.runId)).toEqual(own.map(() => 'own-1'));
    expect([own[0]!.status, own.at(-1)!.status]).toEqual([500, 200]);
    expect((await joinflowAsync(['dlq', 'list'], dir)).stdout).not.toContain('no longer declared');
  }, 120_000);

  it('leaves pending, for an engine that has it, a delivery whose target workflow this run\'s engine has not loaded; resume then starts that workflow', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(
      path.join(dir, 'workflows/own.yaml'),
      'name: own\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1}\nsubscriptions:\n  next:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: workflow, workflow: cee}\n',
    );
    writeFileSync(path.join(dir, 'workflows/cee.yaml'), 'name: cee\nsteps:\n  c:\n    executor: {type: simulate, durationMs: 1}\n');
    writeFileSync(path.join(dir, 'workflows/pause.yaml'), 'name: pause\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1}\n');
    const own = await joinflowAsync(['run', 'own', '--run-id', 'own-1'], dir);
    expect(own.code, own.stderr).toBe(0);
    const runsOf = async (workflow: string) => (JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ workflow: string; status: string }>).filter((r) => r.workflow === workflow);
    expect(await runsOf('cee')).toHaveLength(1);
    // An engine left own's delivery pending (it died before it was made): as the outbox holds it.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dir, '.joinflow/state.db'));
    const event = { id: 'left-1', source: 'joinflow', 'detail-type': 'Run Succeeded', time: new Date().toISOString(), detail: { workflow: 'own', runId: 'own-1', output: null } };
    db.prepare(`INSERT INTO deliveries (subscription, event_id, json, status, attempt, due_at, updated_at) VALUES ('own.next', 'left-1', ?, 'pending', 0, 0, 0)`).run(JSON.stringify(event));
    db.close();
    // A run of another workflow: its engine has not loaded cee, and leaves the delivery alone.
    const pause = await joinflowAsync(['run', 'pause'], dir);
    expect(pause.code, pause.stderr).toBe(0);
    expect(pause.stderr).not.toContain('dead letter');
    expect((await joinflowAsync(['dlq', 'list'], dir)).stdout).not.toContain('unknown workflow');
    // resume, with no run to continue, delivers it: cee (compiled from the project) starts.
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('delivering 1 subscription delivery left pending');
    expect(resumed.stderr).not.toContain('dead letter');
    expect((await runsOf('cee')).map((r) => r.status)).toEqual(['succeeded', 'succeeded']);

    // A run resumed after its engine died: its own subscription's target is loaded with it.
    writeFileSync(
      path.join(dir, 'workflows/slow.yaml'),
      'name: slow\nsteps:\n  a:\n    executor: {type: simulate, durationMs: 1500}\nsubscriptions:\n  next:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: workflow, workflow: cee}\n',
    );
    await killedOnceStarted('slow', 'slow-1', dir);
    const continued = await joinflowAsync(['resume'], dir);
    expect(continued.code, continued.stderr).toBe(0);
    expect(continued.stderr).toContain('run slow-1 succeeded');
    expect(continued.stderr).not.toContain('dead letter');
    expect((await runsOf('cee')).map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  }, 120_000);

  it('delivers the events of a run that a workflow target started to that workflow\'s own subscriptions (and starts what they start)', async () => {
    const dir = project();
    const note = (name: string) => `  ${name}:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: command, command: node, args: ["-e", "require('fs').appendFileSync('${name}.log', 'x')"]}\n`;
    writeFileSync(path.join(dir, 'workflows/report.yaml'), `name: report\nsteps:\n  r:\n    executor: {type: simulate, durationMs: 0, output: 1}\nsubscriptions:\n${note('heard')}  next:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: workflow, workflow: final}\n`);
    writeFileSync(path.join(dir, 'workflows/final.yaml'), `name: final\nsteps:\n  f:\n    executor: {type: simulate, durationMs: 0, output: 2}\nsubscriptions:\n${note('last')}`);
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  chain:\n    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}\n    target: {type: workflow, workflow: report}\n');
    const r = await joinflowAsync(['run', 'ok', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const runs = JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ workflow: string; status: string }>;
    expect(runs.map((x) => `${x.workflow}:${x.status}`).sort()).toEqual(['final:succeeded', 'ok:succeeded', 'report:succeeded']);
    expect(readFileSync(path.join(dir, 'heard.log'), 'utf8')).toBe('x');
    expect(readFileSync(path.join(dir, 'last.log'), 'utf8')).toBe('x');
  });

  it('resume loads the workflow a resumed run\'s subscription starts even when one that workflow starts in turn no longer compiles', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'workflows'));
    const chained = (name: string, next: string, duration = 1) =>
      `name: ${name}\nsteps:\n  a:\n    executor: {type: simulate, durationMs: ${duration}}\nsubscriptions:\n  next:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: workflow, workflow: ${next}}\n`;
    writeFileSync(path.join(dir, 'workflows/slow.yaml'), chained('slow', 'mid', 1500));
    writeFileSync(path.join(dir, 'workflows/mid.yaml'), chained('mid', 'far'));
    writeFileSync(path.join(dir, 'workflows/far.yaml'), 'name: far\nsteps:\n  f:\n    executor: {type: simulate, durationMs: 1}\n');
    await killedOnceStarted('slow', 'slow-1', dir);
    // far breaks while slow's engine is gone: mid, which slow's subscription starts, still compiles.
    writeFileSync(path.join(dir, 'workflows/far.yaml'), 'name: far\nsteps:\n  f:\n    executor: {type: simulat}\n');
    const resumed = await joinflowAsync(['resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).not.toContain('unknown workflow "mid"');
    const runs = JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ workflow: string; status: string }>;
    expect(runs.map((x) => `${x.workflow}:${x.status}`).sort()).toEqual(['mid:succeeded', 'slow:succeeded']);
    // far's delivery is dead-lettered naming it.
    expect((await joinflowAsync(['dlq', 'list'], dir)).stdout).toContain('unknown workflow "far"');
  }, 120_000);

  it('stops a chain of subscriptions that start each other\'s workflows (ping -> pong -> ping ...) after 64 runs', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'workflows/pong.yaml'), 'name: pong\nsteps:\n  p:\n    executor: {type: simulate, durationMs: 0, output: 1}\n');
    writeFileSync(
      path.join(dir, 'joinflow.config.yaml'),
      'subscriptions:\n' +
        '  ping:\n    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}\n    target: {type: workflow, workflow: pong}\n' +
        '  pong:\n    pattern: {detail-type: [Run Succeeded], detail: {workflow: [pong]}}\n    target: {type: workflow, workflow: ok}\n',
    );
    const r = await joinflowAsync(['run', 'ok', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    // The user's run, then 64 started by the subscriptions, one from the other.
    const runs = JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ runId: string }>;
    expect(runs).toHaveLength(65);
    const dlq = (await joinflowAsync(['dlq', 'list'], dir)).stdout;
    expect(dlq).toContain('the last of 64 runs that workflow targets started one from the other: subscriptions that start each other\'s workflows would go on without end, so the chain stops here');
  }, 120_000);

  it('refuses a config file with an invalid pattern or an unknown target workflow, naming the path', async () => {
    const dir = project();
    /** `joinflow run ok` with this config: refused (exit 2), with these lines in what it says, and no state written. */
    const refused = async (config: string, ...says: string[]) => {
      writeFileSync(path.join(dir, 'joinflow.config.yaml'), config);
      const r = await joinflowAsync(['run', 'ok'], dir);
      expect(r.code).toBe(2);
      for (const line of says) expect(r.stderr).toContain(line);
      expect(existsSync(path.join(dir, '.joinflow'))).toBe(false);
    };
    // The workflows the project has are named, not only the one being run.
    const unknown = 'subscriptions.x.target.workflow: no workflow named "nope" in workflows/ (known: bad, ok, report)';
    await refused(
      'subscriptions:\n  x:\n    pattern: {detail: {n: [{numeric: [">", "a"]}]}}\n    target: {type: workflow, workflow: nope}\n',
      'joinflow.config.yaml: invalid joinflow config',
      'subscriptions.x.pattern.detail.n',
      unknown,
    );
    // A config that breaks its schema too (a webhook without url) still names the unknown workflow, in the same reading.
    await refused(
      'subscriptions:\n  x:\n    pattern: {detail-type: [Run Succeeded]}\n    target: {type: workflow, workflow: nope}\n  y:\n    pattern: {detail-type: [Run Failed]}\n    target: {type: webhook}\n',
      'joinflow.config.yaml: invalid joinflow config (2 problems)',
      'subscriptions.y.target.url',
      unknown,
    );
  });

  it('starts a target workflow by its name when its file is named otherwise, and says so when given the file\'s name', async () => {
    const dir = project();
    writeFileSync(path.join(dir, 'workflows/make-report.yaml'), 'name: report-maker\nsteps:\n  r: {executor: {type: simulate, durationMs: 1, output: done}}\noutput: r\n');
    const config = (target: string) =>
      writeFileSync(path.join(dir, 'joinflow.config.yaml'), `subscriptions:\n  report:\n    pattern: {detail-type: [Run Succeeded], detail: {workflow: [ok]}}\n    target: {type: workflow, workflow: ${target}}\n`);
    config('report-maker');
    const r = await joinflowAsync(['run', 'ok'], dir);
    expect(r.code, r.stderr).toBe(0);
    const runs = JSON.parse((await joinflowAsync(['list', '--json'], dir)).stdout) as Array<{ workflow: string; status: string }>;
    expect(runs.map((x) => `${x.workflow}:${x.status}`).sort()).toEqual(['ok:succeeded', 'report-maker:succeeded']);
    config('make-report');
    const named = await joinflowAsync(['run', 'ok'], dir);
    expect(named.code).toBe(2);
    expect(named.stderr).toContain('subscriptions.report.target.workflow: no workflow named "make-report" in workflows/ (workflows/make-report.yaml is workflow "report-maker": a subscription starts a workflow by its name)');
  });
});
