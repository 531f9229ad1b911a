/**
 * `joinflow list` and `joinflow cancel` against a stage: runs read from the table's byWorkflowStatus
 * index (dynalite), and a cancellation written to the META item with Run Cancelled put on the bus
 * (EventBridge has no emulator: its client is mocked, and the PutEvents request is checked).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configFromEnv, type AwsConfig } from '../../src/adapters/aws/config.ts';
import { createDynamoDbStore } from '../../src/adapters/aws/dynamodb-store.ts';
import { cancelStageRun, stageRuns } from '../../src/adapters/aws/stage.ts';
import type { TriggerStore } from '../../src/ports.ts';
import { root } from '../helpers/cli.ts';
import { createTable, startDynalite, type DynaliteHandle } from '../helpers/dynalite.ts';

const TABLE = 'joinflow-runs-test';
const KEYS = { AWS_ACCESS_KEY_ID: 'DYNALITE', AWS_SECRET_ACCESS_KEY: 'DYNALITE' };
let db: DynaliteHandle;
let store: TriggerStore;
let config: AwsConfig;
const saved = { ...process.env };
const eb = mockClient(EventBridgeClient);

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  Object.assign(process.env, KEYS);
  config = { ...configFromEnv({}), table: TABLE, bus: 'joinflow-test', endpoint: db.endpoint, region: 'us-east-1' };
  store = createDynamoDbStore({ client: db.client, table: TABLE });
  // Four runs of two workflows, started a second apart: r1 oldest.
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  await store.startRun({ runId: 'r1', workflow: 'diamond', input: { x: 1 }, startedAt: t0 });
  await store.startRun({ runId: 'r2', workflow: 'fanout', input: null, startedAt: t0 + 1000 });
  await store.startRun({ runId: 'r3', workflow: 'diamond', input: null, startedAt: t0 + 2000 });
  await store.startRun({ runId: 'r4', workflow: 'diamond', input: null, startedAt: t0 + 3000 });
  await store.finishRun('r1', { status: 'succeeded', finishedAt: t0 + 500, output: { y: 2 } });
  await store.finishRun('r2', { status: 'failed', finishedAt: t0 + 1500, error: { type: 'Boom', message: 'no' } });
});
afterAll(async () => {
  eb.restore();
  process.env = saved;
  await db.close();
});
beforeEach(() => {
  eb.reset();
  eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] });
});

const ids = (runs: Array<{ runId: string }>) => runs.map((r) => r.runId);

describe('the runs of a stage', () => {
  it('lists them newest first, by workflow, by status, or both', async () => {
    expect(ids(await stageRuns(config, {}))).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect(ids(await stageRuns(config, { workflow: 'diamond' }))).toEqual(['r4', 'r3', 'r1']);
    expect(ids(await stageRuns(config, { status: 'running' }))).toEqual(['r4', 'r3']);
    expect(ids(await stageRuns(config, { workflow: 'diamond', status: 'succeeded' }))).toEqual(['r1']);
    expect(await stageRuns(config, { workflow: 'nosuch' })).toEqual([]);
    const [r1] = await stageRuns(config, { workflow: 'diamond', status: 'succeeded' });
    expect(r1).toMatchObject({ runId: 'r1', workflow: 'diamond', status: 'succeeded', output: { y: 2 }, finishedAt: Date.parse('2026-11-01T00:00:00.500Z') });
  });

  it('cancels a running run: the META item says so and Run Cancelled goes on the bus, once', async () => {
    const now = Date.parse('2026-11-01T01:00:00Z');
    const result = await cancelStageRun(config, 'r3', 'cancelled with joinflow cancel', now);
    expect(result).toMatchObject({ outcome: 'cancelled', run: { runId: 'r3', status: 'cancelled', finishedAt: now } });
    expect(await store.getRun('r3')).toMatchObject({ status: 'cancelled', finishedAt: now, error: { type: 'Cancelled', message: 'cancelled with joinflow cancel' } });
    const puts = eb.commandCalls(PutEventsCommand);
    expect(puts).toHaveLength(1);
    const [entry] = puts[0]!.args[0].input.Entries!;
    expect(entry).toMatchObject({ EventBusName: 'joinflow-test', Source: 'joinflow', DetailType: 'Run Cancelled', Time: new Date(now) });
    // (The bus adds the envelope's id to every detail.)
    expect(JSON.parse(entry!.Detail!)).toEqual({
      workflow: 'diamond', runId: 'r3', reason: 'cancelled with joinflow cancel', error: { type: 'Cancelled', message: 'cancelled with joinflow cancel' }, eventId: expect.any(String),
    });
    // The index follows the status (list reads it).
    expect(ids(await stageRuns(config, { status: 'cancelled' }))).toEqual(['r3']);
    // A second cancel, a finished run and an unknown one change nothing and put no event.
    expect(await cancelStageRun(config, 'r3', 'again')).toMatchObject({ outcome: 'ended', run: { status: 'cancelled' } });
    expect(await cancelStageRun(config, 'r1', 'late')).toMatchObject({ outcome: 'ended', run: { status: 'succeeded' } });
    expect(await cancelStageRun(config, 'nosuch', 'x')).toEqual({ outcome: 'unknown' });
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('says a run that succeeded with an output kept in S3 (claim-checked) has ended, though cancel has no bucket to read it from', async () => {
    const blobs = new Map<string, string>();
    const withBucket = createDynamoDbStore({
      client: db.client,
      table: TABLE,
      blobs: { put: async (key, body) => (blobs.set(`s3://bucket/${key}`, body), `s3://bucket/${key}`), get: async (ref) => blobs.get(ref)! },
    });
    await withBucket.startRun({ runId: 'big-out', workflow: 'big-output', input: null, startedAt: 1 });
    await withBucket.finishRun('big-out', { status: 'succeeded', finishedAt: 2, output: { text: 'o'.repeat(400 * 1024) } });
    expect(blobs.size).toBe(1);
    expect(await cancelStageRun(config, 'big-out', 'late')).toMatchObject({ outcome: 'ended', run: { runId: 'big-out', status: 'succeeded', finishedAt: 2 } });
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('says the run is cancelled but the event was not put when PutEvents fails, and still looks for its Batch jobs', async () => {
    eb.on(PutEventsCommand).rejects(Object.assign(new Error('bus joinflow-test does not exist'), { name: 'ResourceNotFoundException' }));
    const result = await cancelStageRun(config, 'r4', 'x');
    expect(result).toMatchObject({
      outcome: 'cancelled',
      run: { runId: 'r4', status: 'cancelled' },
      eventError: 'PutEvents to bus "joinflow-test" was rejected: ResourceNotFoundException: bus joinflow-test does not exist',
      // The run has no jobs: none stopped, and the list was read (no jobsError).
      jobs: { stopped: [], failed: [], left: 0, unsought: [] },
    });
    expect(result).not.toHaveProperty('jobsError');
    expect((await store.getRun('r4'))?.status).toBe('cancelled');
  });
});

/** The CLI in a child process, asynchronously: dynalite runs in this process and must answer. */
function joinflowAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...Object.fromEntries(Object.entries(saved).filter(([k]) => !k.startsWith('AWS_'))), ...KEYS, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], { cwd: root, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('joinflow list and cancel with --endpoint/--table', () => {
  it('status of a run whose output is kept in S3 says where it is (it printed "output: undefined")', async () => {
    const aws = ['--endpoint', db.endpoint, '--table', TABLE];
    const text = await joinflowAsync(['status', 'big-out', ...aws]);
    expect(text.code, text.stderr).toBe(0);
    const ref = /output: in the bucket, too large for the table: (s3:\/\/bucket\/\S+) \(aws s3 cp \S+ -\)$/m.exec(text.stdout)?.[1];
    expect(ref, text.stdout).toMatch(/^s3:\/\/bucket\/.*\.json$/);
    const json = JSON.parse((await joinflowAsync(['status', 'big-out', ...aws, '--json'])).stdout) as { outputRef?: string };
    expect(json.outputRef).toBe(ref);
  });

  it('lists a stage\'s runs as a table or JSON; cancel reports unknown and ended runs (exit 1)', async () => {
    const aws = ['--endpoint', db.endpoint, '--table', TABLE];
    const table = await joinflowAsync(['list', ...aws, '--workflow', 'diamond']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN ID\s+WORKFLOW\s+STATUS\s+STARTED\s+DURATION$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(['r4 diamond cancelled', 'r3 diamond cancelled', 'r1 diamond succeeded']);
    const json = await joinflowAsync(['list', ...aws, '--status', 'failed', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([{ runId: 'r2', workflow: 'fanout', status: 'failed', startedAt: Date.parse('2026-11-01T00:00:01Z'), finishedAt: Date.parse('2026-11-01T00:00:01.500Z'), error: { type: 'Boom', message: 'no' } }]);
    const unknown = await joinflowAsync(['cancel', 'nosuch', ...aws]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no run "nosuch" in table ${TABLE}`);
    const ended = await joinflowAsync(['cancel', 'r2', ...aws]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain('run r2 already failed');
    const both = await joinflowAsync(['list', ...aws, '--state', '/tmp']);
    expect(both.code).toBe(2);
  });
});
