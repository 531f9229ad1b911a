/** Subscriptions: the pure rules (runtime), the compiler's scoping, and the delivery loop's durability. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../../src/adapters/local/delivery-outbox.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { createSubscriptionDispatcher, type DeliveryResult } from '../../src/adapters/local/subscription-dispatcher.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import { SubscriptionSchema, type Subscription } from '../../src/model/subscriptions.ts';
import {
  checkSubscriptions,
  createSubscriptionMatcher,
  deliveryDelay,
  deliveryRunId,
  runRequestFor,
  startedBySubscription,
  selectInput,
  webhookVerdict,
} from '../../src/runtime/subscriptions.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-subs-unit-');

const event = (id: string, type = 'Run Succeeded', detail: Record<string, unknown> = { workflow: 'w', runId: 'r1', output: { n: 1 } }): EventEnvelope => ({
  id,
  source: 'joinflow',
  'detail-type': type,
  time: '2026-01-01T00:00:00.000Z',
  detail,
});

const webhook = (name: string, retry = { maxAttempts: 3, backoffMs: 10, factor: 2, maxDelayMs: 1000 }): Subscription => ({
  name,
  pattern: { 'detail-type': ['Run Succeeded'] },
  target: { type: 'webhook', url: 'http://127.0.0.1:1/x', headers: {}, timeoutMs: 1000, retry },
});

describe('subscription rules', () => {
  it('classifies HTTP answers: 2xx delivered, 408/429/5xx retried, other 4xx rejected', () => {
    expect([200, 201, 204, 299].map(webhookVerdict)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect([408, 429, 500, 502, 503].map(webhookVerdict)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry']);
    expect([300, 400, 401, 404, 410].map(webhookVerdict)).toEqual(['reject', 'reject', 'reject', 'reject', 'reject']);
  });

  it('backs off exponentially up to the cap', () => {
    const retry = { maxAttempts: 10, backoffMs: 100, factor: 3, maxDelayMs: 1000 };
    expect([1, 2, 3, 4].map((a) => deliveryDelay(retry, a))).toEqual([100, 300, 900, 1000]);
  });

  it('derives run ids from subscription and event id: readable when valid, hashed otherwise, stable', () => {
    expect(deliveryRunId('chain', 'abc-123')).toBe('chain:abc-123');
    const odd = deliveryRunId('chain', 'a b/c');
    expect(odd).toMatch(/^chain:[0-9a-f]{32}$/);
    expect(deliveryRunId('chain', 'a b/c')).toBe(odd);
    expect(deliveryRunId('chain', 'a b/d')).not.toBe(odd);
    expect(deliveryRunId('chain', 'x'.repeat(200))).toMatch(/^chain:[0-9a-f]{32}$/);
  });

  it('recognises the runs a subscription started by their ids, in either form, also for a name past 64 characters', () => {
    const long = `${'w'.repeat(60)}.${'s'.repeat(45)}`;
    for (const sub of ['chain', long]) {
      for (const id of ['abc-123', 'a b/c', 'x'.repeat(200)]) {
        expect(startedBySubscription(deliveryRunId(sub, id), sub), `${sub} ${id}`).toBe(true);
        expect(startedBySubscription(deliveryRunId(sub, id), 'other')).toBe(false);
      }
    }
    expect(deliveryRunId(long, 'x'.repeat(200))).toMatch(/^w{60}\.s{3}:[0-9a-f]{32}$/);
    expect(startedBySubscription('chain2:abc', 'chain')).toBe(false);
    expect(startedBySubscription('run-1', 'chain')).toBe(false);
  });

  it('selects the input path; absent parts give null', () => {
    const e = event('1');
    expect(selectInput(e, '$')).toBe(e);
    expect(selectInput(e, '$.detail.output')).toEqual({ n: 1 });
    expect(selectInput(e, '$.detail.nope.deeper')).toBeNull();
    const req = runRequestFor('chain', { type: 'workflow', workflow: 'report', inputPath: '$.detail.output' }, e, { id: 'new', time: e.time });
    expect(req).toMatchObject({ source: 'joinflow', 'detail-type': 'Run Requested', detail: { workflow: 'report', runId: 'chain:1', input: { n: 1 } } });
  });

  it('matches in declaration order and reports invalid patterns and duplicate names with their paths', () => {
    const a = webhook('a');
    const b: Subscription = { ...webhook('b'), pattern: { detail: { workflow: [{ prefix: 'w' }] } } };
    const match = createSubscriptionMatcher([a, b]);
    expect(match(event('1')).map((s) => s.name)).toEqual(['a', 'b']);
    expect(match(event('2', 'Run Failed')).map((s) => s.name)).toEqual(['b']);
    const bad: Subscription = { ...webhook('c'), pattern: { detail: { n: [{ numeric: ['>>', 1] }] } } };
    const problems = checkSubscriptions([a, bad, webhook('a')], (s) => `subscriptions.${s.name}`);
    expect(problems.map((p) => p.path)).toEqual(['subscriptions.c.pattern.detail.n[0].numeric[0]', 'subscriptions.a']);
    expect(problems[1]!.message).toContain('named "a"');
  });

  it('validates targets: URL scheme, header names, retry bounds', () => {
    const bad = SubscriptionSchema.safeParse({
      pattern: {},
      target: { type: 'webhook', url: 'ftp://x', headers: { 'bad header': 'v' }, retry: { maxAttempts: 0 } },
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['target.url', 'target.headers.bad header', 'target.retry.maxAttempts']));
    // Credentials in the URL: fetch() refuses such a URL at every attempt, and the DLQ would keep the password.
    const secret = SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url: 'https://user:pass@hooks.example.com/x' } });
    expect(secret.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['target.url: must not carry credentials (user:password@): send them in headers, e.g. Authorization']);
    // What fetch() refuses at every attempt: a line break in a header value, a "bad port".
    const never = SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url: 'http://127.0.0.1:1/x', headers: { 'x-a': 'x\ny' } } });
    expect(never.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'target.url: names a port that fetch() never connects to (a "bad port" of the Fetch standard, such as 1, 22 or 25): use another port',
      'target.headers.x-a: a header value must be text of single-byte characters (Latin-1) without line breaks or NUL',
    ]);
    expect(SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url: 'http://127.0.0.1:8080/x', headers: { 'x-a': 'x y', 'x-b': 'équipe' } } }).success).toBe(true);
    expect(SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url: 'http://127.0.0.1:8080/x', headers: { 'x-a': 'équipe 🚀' } } }).success).toBe(false);
    // Not a URL at all: the URL check's message, not a TypeError from the credentials check.
    for (const url of ['nope', 'http://']) {
      const r = SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url } });
      expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['target.url: must be an http:// or https:// URL']);
    }
    expect(SubscriptionSchema.safeParse({ pattern: {}, target: { type: 'webhook', url: 'https://hooks.example.com/x' } }).success).toBe(true);
  });
});

describe('workflow subscriptions (compiler)', () => {
  it('are scoped to the workflow unless the pattern says otherwise; plans without them are unchanged', () => {
    const steps = { a: { executor: { type: 'simulate', durationMs: 0 } } };
    const plain = compileWorkflow({ name: 'w', steps }, { source: 'w.yaml' });
    expect('subscriptions' in plain).toBe(false);
    const plan = compileWorkflow(
      {
        name: 'w',
        steps,
        subscriptions: {
          done: { pattern: { 'detail-type': ['Run Succeeded'] }, target: { type: 'command', command: 'true' } },
          other: { pattern: { source: ['mine'], detail: { workflow: ['x'] } }, target: { type: 'workflow', workflow: 'x' } },
        },
      },
      { source: 'w.yaml' },
    );
    expect(plan.subscriptions!.map((s) => [s.name, s.pattern])).toEqual([
      ['w.done', { 'detail-type': ['Run Succeeded'], source: ['joinflow'], detail: { workflow: ['w'] } }],
      ['w.other', { source: ['mine'], detail: { workflow: ['x'] } }],
    ]);
  });
  it('`subscriptions:` with nothing under it declares none, in a workflow file and in the config file', async () => {
    const steps = { a: { executor: { type: 'simulate', durationMs: 0 } } };
    expect('subscriptions' in compileWorkflow({ name: 'w', steps, subscriptions: null }, { source: 'w.yaml' })).toBe(false);
    const { loadConfigSubscriptions } = await import('../../src/adapters/local/subscription-files.ts');
    const dir = tmp();
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n#  done: {pattern: {source: [joinflow]}, target: {type: command, command: "true"}}\n');
    expect(loadConfigSubscriptions(dir)).toEqual([]);
  });
});

describe('delivery loop', () => {
  /** A target runner that answers from a script of results, recording each call. */
  function scripted(results: DeliveryResult[]) {
    const calls: string[] = [];
    return {
      calls,
      deliver: async (s: Subscription, e: EventEnvelope): Promise<DeliveryResult> => {
        calls.push(`${s.name}:${e.id}`);
        return results.shift() ?? { status: 'delivered' };
      },
    };
  }

  it('retries with backoff, then dead-letters; a rejected delivery is not retried; a duplicate event is delivered once', async () => {
    const runner = scripted([{ status: 'retry', error: 'HTTP 500' }, { status: 'retry', error: 'HTTP 500' }, { status: 'retry', error: 'HTTP 503' }, { status: 'reject', error: 'HTTP 404' }]);
    const dead: string[] = [];
    const d = createSubscriptionDispatcher({ subscriptions: [webhook('a')], outbox: createMemoryOutbox(), deliver: runner.deliver, onDead: (_d, reason) => dead.push(reason) });
    d.start();
    d.tap([event('e1')]);
    d.tap([event('e1')]);
    await d.settle();
    expect(runner.calls).toEqual(['a:e1', 'a:e1', 'a:e1']);
    expect(dead).toEqual(['subscription "a" (webhook http://127.0.0.1:1/x): gave up after 3 attempts: HTTP 503']);
    d.tap([event('e2')]);
    await d.settle();
    expect(dead[1]).toBe('subscription "a" (webhook http://127.0.0.1:1/x): HTTP 404 (not retried)');
    expect(d.stats).toEqual({ delivered: 0, dead: 2, pending: 0 });
    await d.close();
  });

  it('picks each delivery of a big fan-out without looking at every queued one again (it did: quadratic, 40,000 deliveries took 13 s)', async () => {
    // Each delivery's due time and subscription are read through a counter: how often the loop
    // looks at the deliveries it holds, whatever the machine's speed.
    let reads = 0;
    const counted = (d: { subscription: string; event: EventEnvelope; attempt: number; dueAt: number }) => {
      let { dueAt, subscription } = d;
      return Object.defineProperties({ event: d.event, attempt: d.attempt }, {
        dueAt: { get: () => (reads++, dueAt), set: (v: number) => (dueAt = v), enumerable: true },
        subscription: { get: () => (reads++, subscription), set: (v: string) => (subscription = v), enumerable: true },
      }) as typeof d;
    };
    const inner = createMemoryOutbox();
    const outbox = { ...inner, enqueue: (ds: Parameters<typeof inner.enqueue>[0]) => inner.enqueue(ds).map(counted) };
    let delivered = 0;
    const n = 4000;
    const d = createSubscriptionDispatcher({
      subscriptions: [webhook('a'), webhook('b')],
      outbox,
      deliver: async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        delivered++;
        return { status: 'delivered' };
      },
      onDead: () => {},
    });
    d.start();
    d.tap(Array.from({ length: n }, (_, i) => event(`e${i}`)));
    await d.settle();
    expect(delivered).toBe(2 * n);
    // A heap and a queue per subscription: a few reads per delivery (each scan of the whole
    // list for every pick: thousands).
    expect(reads / (2 * n)).toBeLessThan(100);
    await d.close();
  });

  it('retries a delivery whose due time the clock reaches while the loop looks at it (it once waited forever)', async () => {
    // A clock that ticks a millisecond per reading: the loop reads it once to pick due
    // deliveries and, before, once more to arm its timer, by which time the retry was due.
    let t = 1_000;
    const runner = scripted([{ status: 'retry', error: 'HTTP 500' }]);
    const d = createSubscriptionDispatcher({ subscriptions: [webhook('a', { maxAttempts: 3, backoffMs: 2, factor: 1, maxDelayMs: 2 })], outbox: createMemoryOutbox(), deliver: runner.deliver, onDead: () => {}, now: () => t++ });
    d.start();
    d.tap([event('e1')]);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([d.settle().then(() => 'settled'), new Promise((resolve) => (timer = setTimeout(() => resolve('still pending after 5 s'), 5_000)))]);
    clearTimeout(timer);
    expect(outcome).toBe('settled');
    expect(runner.calls).toEqual(['a:e1', 'a:e1']);
    expect(d.stats).toEqual({ delivered: 1, dead: 0, pending: 0 });
    await d.close();
  });

  it("waits the receiver's Retry-After when it is longer than the backoff (at most an hour)", async () => {
    const t = 1_000_000;
    for (const [afterMs, wait] of [[30_000, 30_000], [5 * 3_600_000, 3_600_000], [10, 100]] as const) {
      const results: DeliveryResult[] = [{ status: 'retry', error: 'HTTP 429', afterMs }];
      const d = createSubscriptionDispatcher({ subscriptions: [webhook('a', { maxAttempts: 5, backoffMs: 100, factor: 1, maxDelayMs: 100 })], outbox: createMemoryOutbox(), deliver: async () => results.shift() ?? { status: 'delivered' }, onDead: () => {}, now: () => t });
      d.start();
      d.tap([event('e1')]);
      // Once the first attempt is over, the delivery waits in the queue for its next one.
      for (let i = 0; i < 50 && d.nextDueAt <= t; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      expect(d.nextDueAt - t, `Retry-After ${afterMs} ms`).toBe(wait);
      await d.close();
    }
  });

  it('tells the deliveries its engine caused from those an earlier process left: `run` waits for its own only', async () => {
    const outbox = createMemoryOutbox();
    // Left by an earlier process: its webhook keeps failing, with a long backoff.
    outbox.enqueue([{ subscription: 'a', event: event('left'), attempt: 0, dueAt: 0 }]);
    const calls: string[] = [];
    const deliver = async (_s: Subscription, e: EventEnvelope): Promise<DeliveryResult> => {
      calls.push(e.id);
      return e.id === 'left' ? { status: 'retry', error: 'HTTP 503' } : { status: 'delivered' };
    };
    const d = createSubscriptionDispatcher({ subscriptions: [webhook('a', { maxAttempts: 5, backoffMs: 60_000, factor: 1, maxDelayMs: 60_000 })], outbox, deliver, onDead: () => {} });
    d.start();
    d.tap([event('mine')]);
    expect(d.caused).toBe(1);
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([d.settleCaused().then(() => 'settled'), new Promise((resolve) => (guard = setTimeout(() => resolve('still waiting after 5 s'), 5_000)))]);
    clearTimeout(guard);
    expect(outcome).toBe('settled');
    expect(calls.sort()).toEqual(['left', 'mine']);
    expect(d.caused).toBe(0);
    // The leftover is still pending, a minute away.
    expect(d.pending).toBe(1);
    await d.close();
    // Closed, nothing is waited for.
    await d.settleCaused();
  });

  it('records the deliveries of events that come after it was closed (an engine stopping while its steps end), for the next one to deliver', async () => {
    const outbox = createMemoryOutbox();
    const runner = scripted([]);
    const first = createSubscriptionDispatcher({ subscriptions: [webhook('a')], outbox, deliver: runner.deliver, onDead: () => {} });
    first.start();
    await first.close();
    // The engine still commits the batch: true says there is something to commit.
    expect(first.tap([event('late')])).toBe(true);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(runner.calls).toEqual([]);
    const next = createSubscriptionDispatcher({ subscriptions: [webhook('a')], outbox, deliver: runner.deliver, onDead: () => {} });
    next.start();
    await next.settle();
    expect(runner.calls).toEqual(['a:late']);
    await next.close();
  });

  it('keeps deliveries in the state file across a crash and delivers them after a restart, once', async () => {
    const dir = tmp();
    let state = openSqliteState({ dir });
    const never = { deliver: () => new Promise<DeliveryResult>(() => {}) };
    const first = createSubscriptionDispatcher({ subscriptions: [webhook('a'), webhook('b')], outbox: state.outbox(), deliver: never.deliver, onDead: () => {}, maxInFlight: 0 });
    first.start();
    first.tap([event('e1'), event('e2', 'Run Failed')]);
    // The engine's batch commit makes the tapped deliveries durable; then the process "dies".
    await state.store.commit();
    state.close();

    state = openSqliteState({ dir });
    const runner = scripted([]);
    const second = createSubscriptionDispatcher({ subscriptions: [webhook('a'), webhook('b')], outbox: state.outbox(), deliver: runner.deliver, onDead: () => {} });
    second.start();
    await second.settle();
    expect(runner.calls.sort()).toEqual(['a:e1', 'b:e1']);
    // A redelivery of the same event after the restart is recognised.
    second.tap([event('e1')]);
    await second.settle();
    expect(runner.calls).toHaveLength(2);
    await second.close();
    state.close();

    state = openSqliteState({ dir });
    expect(state.outbox().pending()).toEqual([]);
    state.close();
  });
});

describe('config file problems', () => {
  it('a subscription name that does not fit says which names fit, at its path', async () => {
    const { loadConfigSubscriptions } = await import('../../src/adapters/local/subscription-files.ts');
    const dir = tmp();
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  "bad name!":\n    pattern: {source: [joinflow]}\n    target: {type: command, command: "true"}\n');
    let message = '';
    try {
      loadConfigSubscriptions(dir);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('subscriptions.bad name!: invalid name: subscription names are 1-64 letters, digits, "_", "." or "-"');
    // A mistyped target type is quoted, with the nearest valid one, as in a workflow file.
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  hook:\n    pattern: {source: [joinflow]}\n    target: {type: webhok, url: "https://example.com/x"}\n');
    expect(() => loadConfigSubscriptions(dir)).toThrowError(/subscriptions\.hook\.target\.type: Invalid discriminator value\. Expected .*; got "webhok" \(did you mean "webhook"\?\)$/);
    // A field left out is required (not "must be a URL"); a number out of its bounds says the bound and the value.
    writeFileSync(path.join(dir, 'joinflow.config.yaml'), 'subscriptions:\n  hook:\n    pattern: {source: [joinflow]}\n    target: {type: webhook, timeoutMs: -5}\n  slow:\n    pattern: {source: [joinflow]}\n    target: {type: webhook, url: "https://example.com/x", timeoutMs: 9000000}\n');
    expect(() => loadConfigSubscriptions(dir)).toThrowError(
      'invalid joinflow config (3 problems):\n  - subscriptions.hook.target.url: is required (must be an http:// or https:// URL)\n  - subscriptions.hook.target.timeoutMs: must be greater than 0 (got -5)\n  - subscriptions.slow.target.timeoutMs: must be at most 300,000 (got 9000000)',
    );
    // Two config files: neither is silently left out.
    writeFileSync(path.join(dir, 'joinflow.config.json'), '{"subscriptions": {}}');
    expect(() => loadConfigSubscriptions(dir)).toThrowError('the project has 2 config files (joinflow.config.yaml, joinflow.config.json): keep one');
    // A workflow file's own subscription is named by the file.
    const { projectSubscriptions } = await import('../../src/adapters/local/subscription-files.ts');
    const own = { ...compileWorkflow({ name: 'sub3', steps: { a: { executor: { type: 'simulate', durationMs: 1 } } }, subscriptions: { x: { pattern: { 'detail-type': ['Run Succeeded'] }, target: { type: 'workflow', workflow: 'nope' } } } }, { source: 'workflows/sub3.yaml' }) };
    expect(() => projectSubscriptions([own], { root: tmp(), knownWorkflows: new Set(['sub3']) })).toThrowError('- workflows/sub3.yaml: subscriptions.x.target.workflow: no workflow named "nope" in workflows/ (known: sub3)');
    // A YAML error: its place once, in front.
    const other = tmp();
    writeFileSync(path.join(other, 'joinflow.config.yaml'), 'subscriptions:\n  a: {}\n  a: {}\n');
    expect(() => loadConfigSubscriptions(other)).toThrowError(/- line 3, column 3: Map keys must be unique$/);
  });

  it('a schema problem does not hide the invalid patterns: one reading names them all', async () => {
    const { ConfigFileError, loadConfigSubscriptions } = await import('../../src/adapters/local/subscription-files.ts');
    const dir = tmp();
    writeFileSync(
      path.join(dir, 'joinflow.config.yaml'),
      [
        'subscriptions:',
        '  notify:',
        '    pattern: {source: [joinflow], detail: {step: [{prefix: 1}]}}',
        '    target: {type: webhook}', // no url: a schema problem
        '  audit:',
        '    pattern: {detail-type: "Step Failed"}', // not an array: a pattern problem
        '    target: {type: command, command: "true"}',
        '',
      ].join('\n'),
    );
    let error: unknown;
    try {
      loadConfigSubscriptions(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    const paths = (error as InstanceType<typeof ConfigFileError>).problems.map((p) => p.path);
    expect(paths).toContain('subscriptions.notify.target.url');
    expect(paths).toContain('subscriptions.notify.pattern.detail.step[0].prefix');
    expect(paths).toContain('subscriptions.audit.pattern.detail-type');
  });
});
