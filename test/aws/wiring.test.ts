/**
 * AWS wiring end to end: the packaged CloudFormation's rules and InputTransformers route every
 * event (delivered twice) to the real processor and bridge handlers; the DynamoDB store runs on
 * dynalite, S3 on s3rver, SQS on fauxqs; function steps run as "Lambda" async invokes whose
 * destination records come back through the bus. diamond and fanout run to the end.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCommand } from '../../src/cli/start-command.ts';
import { statusCommand } from '../../src/cli/status-command.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { requestRun } from '../../src/adapters/aws/stage.ts';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { createAwsWorld, type AwsWorld } from '../helpers/aws-world.ts';
import { cleanPackages, slsPackage } from '../helpers/serverless.ts';
import { createDynamoResultsTable, resultsTableDefinition } from '../../workflows/classify-documents/results/dynamodb-results-table.ts';

const root = path.resolve(import.meta.dirname, '../..');
let world: AwsWorld;

beforeAll(async () => {
  const pkg = slsPackage({});
  world = await createAwsWorld(pkg.template as never, { root, deliveries: 2, triggersDir: path.join(root, 'triggers') });
}, 240_000);

afterAll(async () => {
  await world?.close();
  cleanPackages();
});

async function runToEnd(workflow: string, runId: string, input: unknown) {
  await requestRun(configFromEnv(), { workflow, runId, input });
  await world.drain();
  const status = await readRunStatus(world.dynamo.client, world.table, runId);
  if (!status) throw new Error(`run ${runId} not found in ${world.table}`);
  return status;
}

function calls(fn: string): Array<Record<string, unknown>> {
  return world.stepCalls.filter((c) => c.function.toLowerCase().includes(fn.toLowerCase())).map((c) => c.payload);
}

describe('AWS wiring (packaged rules, real handlers, emulated services)', () => {
  it('runs diamond: nodeC joins nodeA and nodeB, each step invoked once though every event came twice', async () => {
    const { run, steps } = await runToEnd('diamond', 'wired-diamond-1', { x: 1 });
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ nodeC: { sum: 12 } });
    for (const step of ['nodeA', 'nodeB', 'nodeC']) {
      const mine = calls(`diamond${step}`).filter((p) => (p['joinflow'] as { runId: string }).runId === 'wired-diamond-1');
      expect([step, mine.length]).toEqual([step, 1]);
    }
    const c = calls('diamondnodeC').find((p) => (p['joinflow'] as { runId: string }).runId === 'wired-diamond-1')!;
    expect(c['results']).toEqual({ nodeA: { a: 2 }, nodeB: { b: 10 } });
    expect(steps.map((s) => `${s.step}:${s.state}`).sort()).toEqual(['nodeA:completed', 'nodeB:completed', 'nodeC:completed']);
    // The processor was invoked for every delivery: more than once per trigger.
    const processor = [...world.invocations.entries()].find(([id]) => id.toLowerCase().startsWith('processor'))?.[1] ?? 0;
    expect(processor).toBeGreaterThanOrEqual(2 * 5);
  });

  it('dead-letters a Run Requested for a workflow the stage does not have (the unrouted rule), and only that one', async () => {
    await requestRun(configFromEnv(), { workflow: 'not-deployed', runId: 'unrouted-1', input: null });
    await runToEnd('diamond', 'routed-1', { x: 1 });
    await world.drain();
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: process.env['AWS_ENDPOINT_URL_SQS']!, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    try {
      const letters: Array<{ reason: string; event: { detail: { runId?: string } } }> = [];
      for (;;) {
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: process.env['JOINFLOW_DLQ_URL']!, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (!got.Messages?.length) break;
        letters.push(...got.Messages.map((m) => JSON.parse(m.Body!) as (typeof letters)[number]));
      }
      // Every delivery of it (the world delivers each event twice) is dead-lettered with the reason.
      const mine = letters.filter((l) => l.event.detail.runId === 'unrouted-1');
      expect(mine.length).toBeGreaterThan(0);
      expect(new Set(mine.map((l) => l.reason))).toEqual(new Set(['unknown workflow "not-deployed"']));
      expect(letters.filter((l) => l.event.detail.runId === 'routed-1')).toEqual([]);
    } finally {
      sqs.destroy();
    }
  });

  it('dead-letters an event a rule hands over for a trigger no deployed plan has, or of another workflow, and refuses an input that is no rule\'s', async () => {
    const { handler } = await import('../../src/adapters/aws/handlers/processor.ts');
    const event = { version: '0', id: 'stale-1', source: 'joinflow', 'detail-type': 'Run Requested', account: '000000000000', time: '2026-01-01T00:00:00Z', region: 'us-east-1', resources: [], detail: { workflow: 'diamond', runId: 'stale-run-1', input: null } };
    await expect(handler({ trigger: 'diamond/no-such-trigger', event })).resolves.toEqual({ effects: 0 });
    await expect(handler({ trigger: 'fanout/$succeed', event: { ...event, id: 'stale-2' } })).resolves.toEqual({ effects: 0 });
    await expect(handler(null as never)).rejects.toThrow("processor: its input is {trigger or workflow, event} from a rule's InputTransformer, not null");
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: process.env['AWS_ENDPOINT_URL_SQS']!, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    try {
      const reasons: string[] = [];
      for (;;) {
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: process.env['JOINFLOW_DLQ_URL']!, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (!got.Messages?.length) break;
        for (const m of got.Messages) {
          const l = JSON.parse(m.Body!) as { reason: string; event: { id: string } };
          if (l.event.id.startsWith('stale-')) reasons.push(l.reason);
        }
      }
      expect(reasons.sort()).toEqual([
        'the rule\'s trigger "diamond/no-such-trigger" is not in the deployed plans (a rule left from an earlier deploy?)',
        'the rule\'s trigger "fanout/$succeed" belongs to workflow "fanout", and the event to "diamond"',
      ]);
      // Nothing was started.
      expect(await readRunStatus(world.dynamo.client, world.table, 'stale-run-1')).toBeUndefined();
    } finally {
      sqs.destroy();
    }
  });

  it('runs hedged: steps that wait for some replicas start with those; a failed replica is spared; two failed fail the run', async () => {
    const input = { fail: ['replica-a'], delays: { 'replica-a': 0, 'replica-b': 0, 'replica-c': 0 } };
    const spared = await runToEnd('hedged', 'wired-hedged-1', input);
    expect(spared.run.status).toBe('succeeded');
    const agreed = calls('hedgedagreed').filter((p) => (p['joinflow'] as { runId: string }).runId === 'wired-hedged-1');
    expect(agreed).toHaveLength(1);
    expect(Object.keys(agreed[0]!['results'] as object).sort()).toEqual(['replica-b', 'replica-c']);
    expect((spared.run.output as { agreed: { replicas: string[] } }).agreed.replicas).toEqual(['replica-b', 'replica-c']);

    const lost = await runToEnd('hedged', 'wired-hedged-2', { ...input, fail: ['replica-a', 'replica-b'] });
    expect(lost.run.status).toBe('failed');
    expect(lost.run.error).toMatchObject({ type: 'NonRetriableStepError' });
    // agreed can never get two answers: status says so (its $lost trigger fired).
    expect(lost.steps.filter((s) => s.state === 'lost')).toEqual([{ step: 'agreed', state: 'lost' }]);
    expect(spared.steps.filter((s) => s.state === 'lost')).toEqual([]);
    // Both failures show as failed: the one that failed the run, and the one agreed could do without.
    expect(lost.run.error).toMatchObject({ step: 'replica-b' });
    expect(Object.fromEntries(lost.steps.map((s) => [s.step, s.state]))).toMatchObject({ 'replica-a': 'failed', 'replica-b': 'failed' });
    // In the run that succeeded, the spared failure too.
    expect(spared.steps.filter((s) => s.state === 'failed')).toEqual([expect.objectContaining({ step: 'replica-a', state: 'failed' })]);
    expect(calls('hedgedagreed').filter((p) => (p['joinflow'] as { runId: string }).runId === 'wired-hedged-2')).toEqual([]);
  });

  it('runs quality-gate: the branch whose when matches runs, the other is skipped step by step, status shows which', async () => {
    const runs = { noisy: 'wired-gate-1', clean: 'wired-gate-2' };
    const noisy = await runToEnd('quality-gate', runs.noisy, null);
    const clean = await runToEnd('quality-gate', runs.clean, { readings: [10, 10.1, 10, 10.2, 10.1, 10] });
    expect(noisy.run.status).toBe('succeeded');
    expect(noisy.run.output).toMatchObject({ report: { path: 'republish', denoised: true } });
    expect(clean.run.output).toMatchObject({ report: { path: 'publish', denoised: false } });
    const invoked = (runId: string) => ['measure', 'publish', 'denoise', 'republish', 'report']
      .filter((step) => calls(`qualitygate${step}`).some((p) => (p['joinflow'] as { runId: string }).runId === runId));
    expect(invoked(runs.noisy)).toEqual(['measure', 'denoise', 'republish', 'report']);
    expect(invoked(runs.clean)).toEqual(['measure', 'publish', 'report']);
    // Every event came twice: each step still ran once.
    expect(calls('qualitygatereport').filter((p) => (p['joinflow'] as { runId: string }).runId === runs.clean)).toHaveLength(1);
    const states = (r: typeof noisy) => Object.fromEntries(r.steps.map((s) => [s.step, s.state]));
    expect(states(noisy)).toEqual({ measure: 'completed', publish: 'skipped', denoise: 'completed', republish: 'completed', report: 'completed' });
    expect(states(clean)).toEqual({ measure: 'completed', publish: 'completed', denoise: 'skipped', republish: 'skipped', report: 'completed' });
  });

  it('runs fit-fallback: a failure for good runs the catch step instead of failing the run; no failure skips it', async () => {
    const line = await runToEnd('fit-fallback', 'wired-fit-1', null);
    const flat = await runToEnd('fit-fallback', 'wired-fit-2', { points: [[2, 1], [2, 3], [2, 4]] });
    expect(line.run.output).toEqual({ report: { model: 'line', intercept: 1.1, slope: 1.96 } });
    expect(flat.run.status).toBe('succeeded');
    expect(flat.run.output).toEqual({ report: { model: 'constant', value: 3, because: 'cannot fit a line: all x values are equal' } });
    const mine = (fn: string, runId: string) => calls(`fitfallback${fn}`).filter((p) => (p['joinflow'] as { runId: string }).runId === runId);
    // The catch step got the failed step's needs' results and its error, once, though every event came twice.
    expect(mine('constant', 'wired-fit-2')).toHaveLength(1);
    expect(mine('constant', 'wired-fit-2')[0]).toMatchObject({ results: { load: [[2, 1], [2, 3], [2, 4]] }, error: { step: 'fit', type: 'NonRetriableStepError' } });
    expect(mine('constant', 'wired-fit-1')).toEqual([]);
    expect(Object.fromEntries(line.steps.map((s) => [s.step, s.state]))).toMatchObject({ fit: 'completed', constant: 'skipped', report: 'completed' });
    expect(Object.fromEntries(flat.steps.map((s) => [s.step, s.state]))).toMatchObject({ fit: 'caught', constant: 'completed', report: 'completed' });
  });

  it('runs fanout with n = 5: one invocation per item, the reduce joins all five', async () => {
    const { run, steps } = await runToEnd('fanout', 'wired-fanout-1', { n: 5 });
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ count: 5, sum: 0 + 1 + 4 + 9 + 16 });
    const items = calls('fanoutsquare').filter((p) => (p['joinflow'] as { runId: string }).runId === 'wired-fanout-1');
    expect(items.map((p) => p['item']).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(steps.find((s) => s.step === 'square')?.items).toBe(5);
  });

  it('starts a run with `joinflow start` and reports it with `joinflow status`', async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await startCommand(['fanout', '--input', '{"n": 3}', '--run-id', 'cli-run-1'])).toBe(0);
      expect(out.join('')).toBe('cli-run-1\n');
      await world.drain();
      out.length = 0;
      expect(await statusCommand(['cli-run-1', '--json', '--table', world.table])).toBe(0);
      const status = JSON.parse(out.join(''));
      expect(status.run).toMatchObject({ runId: 'cli-run-1', workflow: 'fanout', status: 'succeeded', output: { count: 3, sum: 5 } });
      expect(status.steps.map((s: { step: string; state: string }) => `${s.step}:${s.state}`).sort()).toEqual(['split:completed', 'square:completed', 'sum:completed']);
      out.length = 0;
      expect(await statusCommand(['no-such-run', '--table', world.table])).toBe(1);
    } finally {
      write.mockRestore();
      err.mockRestore();
    }
  });

  it('`joinflow start` refuses a workflow not in triggers/, a bad name or run id by what is bad, and an input too big for an event, saying how to upload it', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(startCommand(['fanot', '--run-id', 'never-1'])).rejects.toThrow(/^no workflow "fanot" in triggers\/ \(the plans this project deploys\) \(did you mean "fanout"\?\): on the stage its Run Requested would only be dead-lettered/);
      await expect(startCommand(['', '--run-id', 'never-2'])).rejects.toThrow(/^the workflow name: /);
      await expect(startCommand(['fanout', '--run-id', ''])).rejects.toThrow(/^--run-id: /);
      const big = JSON.stringify({ text: 'x'.repeat(300_000) });
      await expect(startCommand(['fanout', '--input', big, '--run-id', 'never-3'])).rejects.toThrow(
        'the run\'s input (300011 bytes of JSON) does not fit in a Run Requested event (joinflow puts at most 200,000 bytes in one EventBridge entry, which takes 256 KB): upload it instead, which starts the run with it: aws s3 cp input.json s3://<the stage\'s bucket>/<its start prefix, runs/ unless custom.joinflow.startPrefix says otherwise>fanout/input.json',
      );
      await world.drain();
      for (const id of ['never-1', 'never-3']) expect(await readRunStatus(world.dynamo.client, world.table, id)).toBeUndefined();
    } finally {
      err.mockRestore();
    }
  });

  it('runs classify-documents: the store step writes one row per phrase to the results table of the stack', async () => {
    // The world creates joinflow's table; the example's own table (its aws.cjs) is created here.
    const table = process.env['CLASSIFY_RESULTS_TABLE']!;
    expect(table).toBe('joinflow-test-classify-results');
    await world.dynamo.client.send(new CreateTableCommand(resultsTableDefinition(table)));
    const doc = JSON.parse(readFileSync(path.join(root, 'workflows/classify-documents/sample-doc.json'), 'utf8')) as { phrases: string[] };
    const { run, steps } = await runToEnd('classify-documents', 'wired-classify-1', doc);
    expect(run.status).toBe('succeeded');
    expect(run.output).toMatchObject({ document: 'sample-doc', table: `dynamodb:${table}`, stored: 12 });
    expect(steps.map((s) => `${s.step}:${s.state}`).sort()).toEqual(['biology', 'classify', 'computer-science', 'math', 'physics', 'store'].map((s) => `${s}:completed`));
    const rows = await createDynamoResultsTable({ table, client: world.dynamo.client }).readDocument('sample-doc');
    expect(rows.map((r) => r.phrase)).toEqual(doc.phrases);
    expect(rows.map((r) => `${r.field}/${r.subfield}`)).toEqual([
      'physics/quantum', 'physics/astrophysics', 'physics/condensed-matter',
      'math/algebra', 'math/analysis', 'math/probability',
      'biology/genetics', 'biology/ecology', 'biology/neuroscience',
      'computer-science/machine-learning', 'computer-science/systems', 'computer-science/theory',
    ]);
    expect(new Set(rows.map((r) => r.runId))).toEqual(new Set(['wired-classify-1']));
    // The store Lambda ran once although every event reached the processor twice.
    expect(calls('classifydocumentsstore').filter((p) => (p['joinflow'] as { runId: string }).runId === 'wired-classify-1')).toHaveLength(1);
  });

  it('treats a repeated start of the same run id as the same run', async () => {
    const before = world.stepCalls.length;
    const { run } = await runToEnd('diamond', 'wired-diamond-1', { x: 99 });
    expect(run.output).toEqual({ nodeC: { sum: 12 } });
    expect(world.stepCalls.length).toBe(before);
  });
});
