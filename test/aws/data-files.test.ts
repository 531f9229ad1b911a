/**
 * Data files on AWS: the run's prefix s3://<bucket>/data/<runId>/. `joinflow worker` downloads a
 * container step's inputs and uploads its outputs (s3rver + fauxqs, a real tool.mjs process);
 * batch jobs get the prefix and file lists in their environment (SubmitJob request shape); the
 * Batch bridge fails a job that succeeded without uploading a declared output.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { dispatchTask, UndispatchableError } from '../../src/adapters/aws/dispatch.ts';
import { batchState } from '../../src/adapters/aws/handlers/bridges.ts';
import { createS3DataStage, dataKey } from '../../src/adapters/aws/s3-data.ts';
import { createSqsDispatcher } from '../../src/adapters/aws/sqs-executor.ts';
import { createWorker } from '../../src/adapters/aws/worker.ts';
import { resetWiring } from '../../src/adapters/aws/wiring.ts';
import { createFunctionExecutor } from '../../src/adapters/local/function-executor.ts';
import { createProcessExecutor } from '../../src/adapters/local/process-executor.ts';
import type { EventEnvelope } from '../../src/model/events.ts';
import type { EventBus, Task } from '../../src/ports.ts';
import { s3HandlerEnv, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { until as poll } from '../helpers/until.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tool = path.join(root, 'workflows/montage/tool.mjs');
let s3: S3rverHandle;
let fauxqs: FauxqsServer;
let sqs: SQSClient;
let scratch: string;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startS3rver('data-bucket');
  fauxqs = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${fauxqs.port}`, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  scratch = mkdtempSync(path.join(tmpdir(), 'joinflow-data-aws-'));
});
afterAll(async () => {
  process.env = saved;
  resetWiring();
  sqs.destroy();
  await fauxqs.stop();
  await s3.close();
  rmSync(scratch, { recursive: true, force: true });
});

const put = (key: string, body: string) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
const get = async (key: string) => (await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString());

function captureBus(): EventBus & { events: EventEnvelope[] } {
  const events: EventEnvelope[] = [];
  return { events, publish: async (batch) => void events.push(...batch), subscribe: () => () => {} };
}

/** Waits up to 20 s by default (see helpers/until.ts). */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000) => poll(what, probe, ms);

describe('joinflow worker stages a container step\'s files through the run\'s S3 prefix', () => {
  it('downloads inputs, runs the command on them, uploads outputs; a missing input fails naming the prefix', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: `data-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
    const executors = { function: createFunctionExecutor({ threads: 1 }), process: createProcessExecutor({ logDir: () => path.join(scratch, 'logs') }) };
    const bus = captureBus();
    const worker = createWorker({
      sqs, queueUrl: url, bus, executors, visibilityTimeoutSec: 5, waitTimeSec: 1, concurrency: 2,
      data: createS3DataStage({ client: s3.client, bucket: s3.bucket, localRoot: path.join(scratch, 'worker') }),
      logger: { info: () => {}, warn: () => {}, error: () => {} },
    });
    const done = worker.run();
    const runId = randomUUID();
    await put(dataKey(runId, 'raw/a.fits'), 'AAAA');
    await put(dataKey(runId, 'region.hdr'), 'HH');
    const dispatcher = createSqsDispatcher({ client: sqs, queueUrl: () => url });
    const task = (step: string, files: Task['files']): Task => ({
      workflow: 'montage-files', runId, step, attempt: 1, maxAttempts: 1,
      executor: { type: 'container', queue: 'default', export: 'handler', command: process.execPath, args: [tool, 'mProject', '0', '--in', ...files!.inputs, '--out', ...files!.outputs], env: {} },
      event: { input: null, results: {} },
      files,
    });
    await dispatcher.dispatch(task('project', { inputs: ['raw/a.fits', 'region.hdr'], outputs: ['p/a.fits', 'p/a_area.fits'] }));
    await dispatcher.dispatch(task('lost', { inputs: ['nowhere.fits'], outputs: [] }));
    await until('two results', () => bus.events.filter((e) => e['detail-type'] !== 'Step Started').length === 2);
    await worker.stop({ graceMs: 0 });
    await done;
    await Promise.all([executors.function.close(), executors.process.close()]);

    const completed = bus.events.find((e) => e['detail-type'] === 'Step Completed')!.detail as { step: string; output: unknown };
    expect(completed).toMatchObject({ step: 'project', output: { read: 2, bytesRead: 6, wrote: ['p/a.fits', 'p/a_area.fits'] } });
    for (const f of ['p/a.fits', 'p/a_area.fits']) {
      const note = JSON.parse(await get(dataKey(runId, f))) as { step: string; inputs: Record<string, string> };
      expect(note.step).toBe('project');
      expect(Object.keys(note.inputs).sort()).toEqual(['raw/a.fits', 'region.hdr']);
    }
    const failed = bus.events.find((e) => e['detail-type'] === 'Step Failed')!.detail as { step: string; retrying: boolean; error: { type: string; message: string } };
    expect(failed).toMatchObject({ step: 'lost', retrying: false, error: { type: 'MissingInput' } });
    expect(failed.error.message).toContain(`"nowhere.fits" not in the run's data directory`);
    expect(failed.error.message).toContain(`no earlier step uploaded it to s3://data-bucket/data/${runId}/`);
  }, 60_000);
});

describe('batch steps with data files', () => {
  const batchMock = mockClient(BatchClient);
  afterAll(() => batchMock.restore());
  const config = { ...configFromEnv({}), bucket: 'jf-bucket', jobQueues: { cpu: 'q-cpu' }, jobDefinitions: { 'wf/add': 'def-add' } };
  const blobs: Array<[string, string]> = [];
  const deps = {
    config,
    lambda: new LambdaClient({ region: 'us-east-1' }),
    batch: new BatchClient({ region: 'us-east-1' }),
    sendToQueue: async () => {},
    putBlob: async (key: string, body: string) => (blobs.push([key, body]), `s3://jf-bucket/joinflow/${key}`),
  };
  const task = (files: Task['files']): Task => ({
    workflow: 'wf', runId: 'r9', step: 'add', attempt: 1, maxAttempts: 1,
    executor: { type: 'batch', image: 'montage:1', command: ['mAdd'], vcpus: 1, memoryMb: 2048, gpus: 0, env: {} },
    event: { input: null, results: {} },
    files,
  });
  const envOf = () => Object.fromEntries((batchMock.commandCalls(SubmitJobCommand).at(-1)!.args[0].input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));

  it('passes the run\'s data prefix and the file lists in the job environment', async () => {
    batchMock.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'n', jobArn: 'a' });
    await dispatchTask(task({ inputs: ['a.fits', 'b.fits'], outputs: ['mosaic.fits'] }), deps);
    expect(envOf()).toMatchObject({ JOINFLOW_DATA_URI: 's3://jf-bucket/data/r9/', JOINFLOW_INPUTS: 'a.fits\nb.fits', JOINFLOW_OUTPUTS: 'mosaic.fits' });
  });

  it('moves long file lists to S3 (JOINFLOW_FILES_URI), and needs a bucket at all', async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => `tile-${String(i).padStart(4, '0')}.fits`);
    await dispatchTask(task({ inputs, outputs: ['mosaic.fits'] }), deps);
    const env = envOf();
    expect(env['JOINFLOW_INPUTS']).toBeUndefined();
    expect(env['JOINFLOW_FILES_URI']).toBe('s3://jf-bucket/joinflow/runs/r9/files/add.json');
    expect(JSON.parse(blobs.at(-1)![1])).toEqual({ inputs, outputs: ['mosaic.fits'] });
    await expect(dispatchTask(task({ inputs: [], outputs: ['x'] }), { ...deps, config: { ...config, bucket: undefined } })).rejects.toBeInstanceOf(UndispatchableError);
  });
});

describe('Batch bridge and declared outputs', () => {
  const eb = mockClient(EventBridgeClient);
  afterAll(() => eb.restore());

  it('fails a succeeded job whose declared outputs are not under the run\'s prefix, completes it once they are', async () => {
    Object.assign(process.env, s3HandlerEnv(s3, path.join(root, 'triggers')));
    resetWiring();
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    // The montage plan in triggers/ declares mProject_ID0000001's outputs.
    const runId = randomUUID();
    const env = Object.entries({ JOINFLOW_WORKFLOW: 'montage', JOINFLOW_RUN_ID: runId, JOINFLOW_STEP: 'mProject_ID0000001', JOINFLOW_ATTEMPT: '1', JOINFLOW_MAX_ATTEMPTS: '1' }).map(([name, value]) => ({ name, value }));
    const job = { id: 'e', source: 'aws.batch', 'detail-type': 'Batch Job State Change', time: '', detail: { jobName: 'j', status: 'SUCCEEDED', container: { environment: env } } };
    await put(dataKey(runId, 'p2mass-atlas-980914s-j0820044.fits'), 'x');
    await batchState(job);
    await put(dataKey(runId, 'p2mass-atlas-980914s-j0820044_area.fits'), 'x');
    await batchState(job);
    const sent = eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []).map((e) => ({ type: e.DetailType, detail: JSON.parse(e.Detail!) as Record<string, unknown> }));
    expect(sent.map((s) => s.type)).toEqual(['Step Failed', 'Step Completed']);
    expect(sent[0]!.detail).toMatchObject({ retrying: false, error: { type: 'MissingOutput' } });
    expect((sent[0]!.detail['error'] as { message: string }).message).toBe(
      `step "mProject_ID0000001": the Batch job succeeded but did not upload its output file(s) "p2mass-atlas-980914s-j0820044_area.fits" to s3://data-bucket/data/${runId}/`,
    );
  });
});
