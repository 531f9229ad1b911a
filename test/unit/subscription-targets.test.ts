/** Subscription targets on the embedded engine: webhook redirects, fairness between targets, command timeouts. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../../src/adapters/local/delivery-outbox.ts';
import { createSubscriptionDispatcher } from '../../src/adapters/local/subscription-dispatcher.ts';
import { createTargetRunner, retryAfterMs, stopCommandTargets } from '../../src/adapters/local/subscription-targets.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { deliveryRunId } from '../../src/runtime/subscriptions.ts';
import { SubscriptionSchema, type Subscription } from '../../src/model/subscriptions.ts';

const event: EventEnvelope = { id: 'e1', source: 'joinflow', 'detail-type': 'Run Succeeded', time: '2026-01-01T00:00:00.000Z', detail: { workflow: 'w' } };

function sub(name: string, target: Record<string, unknown>): Subscription {
  const spec = SubscriptionSchema.parse({ pattern: { source: ['joinflow'] }, target });
  return { name, pattern: spec.pattern, target: spec.target };
}

const runner = createTargetRunner({ root: '/tmp', publish: async () => {}, hasWorkflow: () => false });
/** How much of /huge the server wrote before the connection closed. */
let hugeSent = 0;

describe('webhook redirects', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];
  const headersSeen: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      headersSeen.push({ ...req.headers });
      req.resume();
      if (req.url === '/hang') return; // never answers: the delivery waits for its timeout
      if (req.url === '/huge') {
        // A 500 with a body far larger than anyone should read: written as long as it is read.
        res.writeHead(500, { 'content-type': 'text/plain' });
        let sent = 0;
        const more = () => {
          while (sent < 64 * 1024 * 1024) {
            sent += 65_536;
            if (!res.write(`${'x'.repeat(65_535)}\n`)) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('close', () => (hugeSent = sent));
        return more();
      }
      if (req.url === '/busy') return void res.writeHead(429, { 'retry-after': '7' }).end('slow down');
      const m = /^\/redirect\/(\d+)$/.exec(req.url ?? '');
      if (m) res.writeHead(Number(m[1]), { location: '/landing' }).end('moved');
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));

  it.each([301, 302, 303, 307, 308])('a %i answer is not delivered: rejected with the status and the Location, not followed', async (status) => {
    seen.length = 0;
    const result = await runner(sub('hook', { type: 'webhook', url: `${base}/redirect/${status}` }), event);
    expect(result.status).toBe('reject');
    expect(result.status !== 'delivered' && result.error).toContain(`HTTP ${status} (redirect to /landing`);
    expect(seen).toEqual([`POST /redirect/${status}`]);
  });

  it('reads only the start of a failing answer\'s body (a 64 MB error page is not read whole)', async () => {
    const result = await runner(sub('hook', { type: 'webhook', url: `${base}/huge`, retry: { maxAttempts: 1 } }), event);
    expect(result.status).toBe('retry');
    expect(result.status !== 'delivered' && result.error).toMatch(/^POST \S+\/huge: HTTP 500 "x{200}"$/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The server stopped writing well before its 64 MB: the rest was cancelled, not read.
    expect(hugeSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('a hung webhook does not hold up another subscription: per-subscription slots', async () => {
    const slow = sub('slow', { type: 'webhook', url: `${base}/hang`, timeoutMs: 500, retry: { maxAttempts: 1 } });
    const fast = sub('fast', { type: 'webhook', url: `${base}/ok` });
    const outcomes: string[] = [];
    const d = createSubscriptionDispatcher({
      subscriptions: [slow, fast],
      outbox: createMemoryOutbox(),
      deliver: runner,
      onDead: () => {},
      onAttempt: (delivery, result) => outcomes.push(`${delivery.subscription}:${result.status}`),
    });
    d.start();
    // 20 events for the hung target first (more than the old global limit of 16), then one for the other.
    const many = Array.from({ length: 20 }, (_, i) => ({ ...event, id: `s${i}`, source: 'slow' }));
    d.setSubscriptions([{ ...slow, pattern: { source: ['slow'] } }, { ...fast, pattern: { source: ['fast'] } }]);
    d.tap(many);
    d.tap([{ ...event, id: 'f1', source: 'fast' }]);
    await d.settle();
    expect(outcomes[0]).toBe('fast:delivered');
    expect(outcomes.filter((o) => o === 'slow:reject' || o === 'slow:retry')).toHaveLength(20);
    expect(d.stats).toEqual({ delivered: 1, dead: 20, pending: 0 });
    await d.close();
  }, 20_000);

  it('a webhook attempt holds a timer that keeps the process alive until the answer or the time limit, then says which limit', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const attempt = runner(sub('hook', { type: 'webhook', url: `${base}/hang`, timeoutMs: 500 }), event);
    const during = timers();
    expect(await attempt).toEqual({ status: 'retry', error: `POST ${base}/hang: no answer within 500 ms` });
    // AbortSignal.timeout()'s timer is not among the resources that keep the loop alive: this one
    // is ours, there only while the attempt is.
    expect(during).toBeGreaterThan(Math.max(before, timers()));
  });

  // The engine's stop signal lives as long as the engine. Combined with each attempt's deadline by
  // AbortSignal.any(), it kept an entry per attempt for good (Node 20: ~100 bytes, and the whole
  // attempt's signal while fetch listened to it): a dev server leaked with every delivery.
  it('attempts leave nothing on the engine\'s stop signal, which still stops one in flight', async () => {
    const stop = new AbortController();
    const retained = () => {
      // Node's own record of the signals that AbortSignal.any() made from this one.
      const key = Object.getOwnPropertySymbols(stop.signal).find((k) => k.description === 'kDependantSignals');
      return key === undefined ? 0 : ((stop.signal as unknown as Record<symbol, Set<unknown>>)[key]?.size ?? 0);
    };
    for (let i = 0; i < 50; i++) expect(await runner(sub('hook', { type: 'webhook', url: `${base}/ok` }), { ...event, id: `e${i}` }, stop.signal)).toEqual({ status: 'delivered' });
    expect(retained()).toBe(0);
    const hung = runner(sub('hook', { type: 'webhook', url: `${base}/hang`, timeoutMs: 30_000 }), event, stop.signal);
    setTimeout(() => stop.abort(), 50);
    expect(await hung).toEqual({ status: 'retry', error: `POST ${base}/hang: stopped (the engine is shutting down)` });
    expect(retained()).toBe(0);
  });

  it('a 200 still delivers', async () => {
    expect(await runner(sub('hook', { type: 'webhook', url: `${base}/ok` }), event)).toEqual({ status: 'delivered' });
  });

  it("a 429's Retry-After comes back with the retry, in milliseconds (seconds or an HTTP date)", async () => {
    expect(await runner(sub('hook', { type: 'webhook', url: `${base}/busy` }), event)).toEqual({ status: 'retry', error: `POST ${base}/busy: HTTP 429 "slow down"`, afterMs: 7_000 });
    const now = Date.parse('2026-11-24T05:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Tue, 24 Nov 2026 05:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Tue, 24 Nov 2026 04:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('headers given in any case replace the defaults (Content-Type, User-Agent), not join them', async () => {
    headersSeen.length = 0;
    const target = { type: 'webhook', url: `${base}/ok`, headers: { 'Content-Type': 'application/cloudevents+json', 'User-Agent': 'my-agent/1.0', 'X-Token': 't' } };
    expect(await runner(sub('hook', target), event)).toEqual({ status: 'delivered' });
    expect(headersSeen[0]).toMatchObject({ 'content-type': 'application/cloudevents+json', 'user-agent': 'my-agent/1.0', 'x-token': 't' });
  });
});

describe('workflow targets', () => {
  it('do not start their workflow again from an event of a run they started, whatever the length of their name', async () => {
    const started: string[] = [];
    const run = createTargetRunner({ root: '/tmp', publish: async (events) => void started.push(...events.map((e) => (e.detail as { runId: string }).runId)), hasWorkflow: () => true });
    // A subscription of a workflow file is named after the workflow: long names are hashed in run ids.
    const name = `${'w'.repeat(60)}.${'s'.repeat(45)}`;
    const loop = sub(name, { type: 'workflow', workflow: 'w' });
    const from = deliveryRunId(name, `event-${'0'.repeat(40)}`);
    expect(from.startsWith(`${name}:`)).toBe(false);
    const result = await run(loop, { ...event, detail: { workflow: 'w', runId: from } });
    expect(result.status).toBe('reject');
    expect(started).toEqual([]);
  });

  it('reject a Run Requested over the engine\'s size limit before publishing it, naming the workflow and the inputPath', async () => {
    const started: string[] = [];
    const run = createTargetRunner({ root: '/tmp', publish: async (events) => void started.push(...events.map((e) => (e.detail as { runId: string }).runId)), hasWorkflow: () => true, maxPayloadBytes: 4096 });
    const big = { ...event, detail: { workflow: 'a', runId: 'r-1', output: 'x'.repeat(5000) } };
    const result = await run(sub('next', { type: 'workflow', workflow: 'report', inputPath: '$.detail.output' }), big);
    expect(result).toEqual({ status: 'reject', error: expect.stringMatching(/^the Run Requested of "report" would be too large \(event of \d+ bytes exceeds the size limit of 4096 bytes\): its input is the event at inputPath "\$\.detail\.output"$/) });
    expect(started).toEqual([]);
    // Under the limit it is published.
    expect(await run(sub('next', { type: 'workflow', workflow: 'report', inputPath: '$.detail.runId' }), big)).toEqual({ status: 'delivered' });
    expect(started).toHaveLength(1);
  });
});

describe('command targets run in their own process group', () => {
  /** Processes of group `pgid` still running (zombies, which only wait to be reaped, excluded). */
  function groupMembers(pgid: number): string[] {
    const left: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') left.push(`${pid} ${stat.slice(0, stat.lastIndexOf(')') + 1)}`);
    }
    return left;
  }

  async function waitForFile(file: string): Promise<number> {
    for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
    return Number(readFileSync(file, 'utf8').trim());
  }

  it('a command that is not there is rejected at once (it would not be there at the next attempt either)', async () => {
    const result = await runner(sub('gone', { type: 'command', command: './no-such-command.sh' }), event);
    expect(result).toEqual({ status: 'reject', error: expect.stringContaining('command ./no-such-command.sh: spawn') });
  });

  it('a cwd that is not there is named, not reported as the command missing', async () => {
    const result = await runner(sub('nodir', { type: 'command', command: 'true', cwd: 'no-such-dir-jf' }), event);
    expect(result).toEqual({ status: 'reject', error: 'command true: its cwd /tmp/no-such-dir-jf is not a directory' });
  });

  it('a command that exits 0 delivers, though a process it left in the background holds its stderr open', async () => {
    const result = await runner(sub('bg', { type: 'command', command: 'sh', args: ['-c', 'sleep 3 & exit 0'], timeoutMs: 2_000 }), event);
    expect(result).toEqual({ status: 'delivered' });
    // A failure still says what the command wrote on stderr.
    const failed = await runner(sub('bg', { type: 'command', command: 'sh', args: ['-c', 'echo broken >&2; exit 3'], timeoutMs: 2_000 }), event);
    expect(failed).toEqual({ status: 'retry', error: 'command sh exited with status 3: broken' });
  });

  it('a timeout kills the whole group: no `sleep` is left behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-subscription-cmd-'));
    const pidFile = path.join(dir, 'pid');
    const target = { type: 'command', command: 'sh', args: ['-c', `echo $$ > ${pidFile}; sleep 1000 & wait`], timeoutMs: 500 };
    const result = await runner(sub('cmd', target), event);
    expect(result).toEqual({ status: 'retry', error: 'command sh did not finish within 500 ms' });
    const pgid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(groupMembers(pgid)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('on Ctrl-C (stopCommandTargets) a command that ignores SIGTERM is killed before the process ends', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-subscription-cmd-'));
    const pidFile = path.join(dir, 'pid');
    const target = { type: 'command', command: 'sh', args: ['-c', `trap '' TERM; echo $$ > ${pidFile}; sleep 1000 & wait`], timeoutMs: 60_000 };
    const delivery = runner(sub('stubborn', target), event);
    const pgid = await waitForFile(pidFile);
    // Synchronous: nothing of the group may run on once it returns (the process ends right after).
    stopCommandTargets();
    expect(groupMembers(pgid)).toEqual([]);
    expect((await delivery).status).toBe('retry');
    rmSync(dir, { recursive: true, force: true });
  });

  it('closing the dispatcher stops a running command at once; its delivery stays pending', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-subscription-cmd-'));
    const pidFile = path.join(dir, 'pid');
    const outbox = createMemoryOutbox();
    // An hour's command and timeout: only stopping it lets close() resolve within the test's timeout.
    const target = { type: 'command', command: 'sh', args: ['-c', `echo $$ > ${pidFile}; sleep 3600 & wait`], timeoutMs: 3_600_000 };
    const d = createSubscriptionDispatcher({ subscriptions: [sub('cmd', target)], outbox, deliver: runner, onDead: () => {} });
    d.start();
    d.tap([event]);
    const pgid = await waitForFile(pidFile);
    await d.close();
    expect(groupMembers(pgid)).toEqual([]);
    expect(outbox.pending().map((p) => [p.subscription, p.event.id, p.attempt])).toEqual([['cmd', 'e1', 0]]);
    rmSync(dir, { recursive: true, force: true });
  });
});
