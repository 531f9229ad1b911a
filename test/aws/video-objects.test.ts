/**
 * The video-objects example as deployed: the packaged CloudFormation (repository triggers/) runs
 * in the emulated world of aws-world.ts (DynamoDB on dynalite, S3 on s3rver, rules and Lambda
 * handlers in process, every event delivered twice). AWS Batch has no emulator: SubmitJob is
 * mocked, and each submitted job runs its job definition's command in a child process — as the
 * image would, from the repository root — with the environment Batch would give it, against
 * s3rver; its end is reported as the "Batch Job State Change" event AWS sends.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { BatchClient, SubmitJobCommand, type SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/adapters/aws/config.ts';
import { readRunStatus } from '../../src/adapters/aws/run-status.ts';
import { requestRun } from '../../src/adapters/aws/stage.ts';
import { scoreTracks } from '../../workflows/video-objects/lib/score.ts';
import { renderScene, DEFAULT_SCENE } from '../../workflows/video-objects/lib/synth.ts';
import type { Track } from '../../workflows/video-objects/lib/tracker.ts';
import { encodeVideo } from '../../workflows/video-objects/lib/video-format.ts';
import { createAwsWorld, type AwsWorld } from '../helpers/aws-world.ts';
import { cleanPackages, slsPackage, type Template } from '../helpers/serverless.ts';

const root = path.resolve(import.meta.dirname, '../..');
let world: AwsWorld;
let template: Template;
const batch = mockClient(BatchClient);
const submitted: SubmitJobCommandInput[] = [];
const history: SubmitJobCommandInput[] = [];
/** Every job run, with the environment it got and how it ended. */
const ran: Array<{ step: string; env: Record<string, string>; status: number | null; stderr: string }> = [];
const scene = renderScene({ ...DEFAULT_SCENE, seed: 11 });

beforeAll(async () => {
  template = slsPackage({}).template;
  world = await createAwsWorld(template as never, { root, deliveries: 2, triggersDir: path.join(root, 'triggers') });
  batch.on(SubmitJobCommand).callsFake(async (input: SubmitJobCommandInput) => {
    submitted.push(input);
    history.push(input);
    return { jobId: randomUUID(), jobName: input.jobName, jobArn: `arn:aws:batch:us-east-1:000000000000:job/${input.jobName}` };
  });
}, 300_000);

afterAll(async () => {
  batch.restore();
  await world?.close();
  cleanPackages();
});

/** Runs a submitted job as its container would, and reports its end on the default bus. */
async function runJob(job: SubmitJobCommandInput): Promise<void> {
  const definition = Object.values(template.Resources).find((r) => r.Type === 'AWS::Batch::JobDefinition' && r.Properties['JobDefinitionName'] === job.jobDefinition);
  if (!definition) throw new Error(`no job definition ${job.jobDefinition} in the template`);
  const container = definition.Properties['ContainerProperties'] as { Command?: string[]; Environment: Array<{ Name: string; Value: string }> };
  const environment = [
    ...container.Environment.map((e) => ({ name: e.Name, value: e.Value })),
    ...(job.containerOverrides?.environment ?? []).map((e) => ({ name: e.name!, value: e.value! })),
  ];
  const env: Record<string, string> = Object.fromEntries(environment.map((e) => [e.name, e.value]));
  // A container starts with its own environment, not the test's (no JOINFLOW_* or AWS_* leaks in).
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JOINFLOW_') && !k.startsWith('AWS_'))) as Record<string, string>;
  // As Batch does: the job's command (its step's, given at submission) replaces the definition's.
  const [command, ...args] = job.containerOverrides?.command ?? container.Command ?? [];
  // Asynchronously: s3rver answers the job from this very process.
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(command === 'node' ? process.execPath : command!, args, {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...base, ...env, AWS_ENDPOINT_URL_S3: world.s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
  ran.push({ step: env['JOINFLOW_STEP']!, env, status: r.status, stderr: r.stderr });
  await new EventBridgeClient({ region: 'us-east-1' }).send(new PutEventsCommand({
    Entries: [{
      Source: 'aws.batch',
      DetailType: 'Batch Job State Change',
      Detail: JSON.stringify({ jobName: job.jobName, jobQueue: job.jobQueue, status: r.status === 0 ? 'SUCCEEDED' : 'FAILED', container: { environment, exitCode: r.status } }),
    }],
  }));
}

/** The jobs submitted in each round of settle: what was submitted before the jobs of the round before had ended. */
const rounds: string[][] = [];

/** Delivers events and runs submitted jobs until nothing is left to do. */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) {
    await world.drain();
    const jobs = submitted.splice(0);
    if (jobs.length === 0) return;
    rounds.push(jobs.map((j) => j.jobName!));
    for (const job of jobs) await runJob(job);
  }
  throw new Error('the run did not settle in 20 rounds of batch jobs');
}

async function s3Json<T>(uri: string): Promise<T> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri)!;
  const res = await world.s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
  return JSON.parse(await res.Body!.transformToString()) as T;
}

describe('video-objects on (emulated) AWS', () => {
  it('an upload under runs/video-objects/ starts a run: three Batch job kinds, chunks and tracks in S3', async () => {
    const key = 'runs/video-objects/scene-11.jfv';
    const body = encodeVideo(scene.video);
    const put = await world.s3.client.send(new PutObjectCommand({ Bucket: world.s3.bucket, Key: key, Body: body }));
    // What S3 announces on the default bus for an upload (the bucket has EventBridge notifications on).
    await new EventBridgeClient({ region: 'us-east-1' }).send(new PutEventsCommand({
      Entries: [{ Source: 'aws.s3', DetailType: 'Object Created', Detail: JSON.stringify({ bucket: { name: world.s3.bucket }, object: { key, size: body.length, etag: put.ETag!.replace(/"/g, '') } }) }],
    }));
    await settle();
    const failures = ran.filter((j) => j.status !== 0).map((j) => `${j.step}: ${j.stderr}`);
    expect(failures).toEqual([]);
    expect(ran.map((j) => j.step)).toEqual(['split', 'detect', 'detect', 'detect', 'detect', 'merge']);
    // detect asks for a GPU: its jobs go to the GPU queue with a GPU requirement, the others to the CPU queue.
    const queues = history.map((j) => `${j.jobName}@${j.jobQueue}:${j.containerOverrides?.resourceRequirements?.find((r) => r.type === 'GPU')?.value ?? 0}`);
    expect(queues).toEqual([
      'jf-video-objects-split-x-1@CpuJobQueue:0',
      ...[0, 1, 2, 3].map((i) => `jf-video-objects-detect-${i}-1@GpuJobQueue:1`),
      'jf-video-objects-merge-x-1@CpuJobQueue:0',
    ]);
    // detect's maxConcurrency is 2: chunks 2 and 3 are submitted once chunks 0 and 1 have ended,
    // once each though every event (the chunks' Step Completed among them) was delivered twice.
    expect(rounds).toEqual([
      ['jf-video-objects-split-x-1'],
      ['jf-video-objects-detect-0-1', 'jf-video-objects-detect-1-1'],
      ['jf-video-objects-detect-2-1', 'jf-video-objects-detect-3-1'],
      ['jf-video-objects-merge-x-1'],
    ]);
    const runId = ran[0]!.env['JOINFLOW_RUN_ID']!;
    expect(runId).toMatch(/^s3-/);

    const { run, steps } = (await readRunStatus(world.dynamo.client, world.table, runId))!;
    expect(run.status).toBe('succeeded');
    const output = run.output as { tracks: number; tracksFile: string; chunks: number; frames: number };
    expect(output).toMatchObject({ tracks: 5, chunks: 4, frames: 64, tracksFile: `s3://${world.s3.bucket}/outputs/${runId}/video/tracks.json` });
    expect(steps.filter((s) => s.state === 'completed').map((s) => s.step).sort()).toEqual(['detect', 'merge', 'split']);
    const { tracks } = await s3Json<{ tracks: Track[] }>(output.tracksFile);
    const score = scoreTracks(scene.truth, tracks, { radius: 4, minArea: 6 });
    expect(score).toMatchObject({ oneToOne: true, missed: 0, ghosts: 0 });
    expect(score.maxError).toBeLessThanOrEqual(1);

    // Everything the jobs wrote lies under outputs/ (the only prefix the job role may write).
    const listed = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `outputs/${runId}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!.slice(`outputs/${runId}/`.length)).sort();
    expect(keys).toEqual([
      'detect.0.1.json', 'detect.1.1.json', 'detect.2.1.json', 'detect.3.1.json', 'merge.1.json', 'split.1.json',
      ...[0, 1, 2, 3].flatMap((i) => [`video/chunk-00${i}.detections.json`, `video/chunk-00${i}.jfv`]),
      'video/tracks.json',
    ].sort());
  }, 240_000);

  it('a started run with many chunks: merge gets its large event by reference (JOINFLOW_EVENT_URI)', async () => {
    ran.length = 0;
    const video = `s3://${world.s3.bucket}/runs/video-objects/scene-11.jfv`;
    await requestRun(configFromEnv(), { workflow: 'video-objects', runId: 'video-many', input: { video, chunks: 16 } });
    await settle();
    expect(ran.filter((j) => j.status !== 0).map((j) => `${j.step}: ${j.stderr}`)).toEqual([]);
    expect(ran.filter((j) => j.step === 'detect')).toHaveLength(16);
    const merge = ran.find((j) => j.step === 'merge')!;
    expect(merge.env['JOINFLOW_EVENT']).toBeUndefined();
    expect(merge.env['JOINFLOW_EVENT_URI']).toMatch(new RegExp(`^s3://${world.s3.bucket}/joinflow/`));
    const { run } = (await readRunStatus(world.dynamo.client, world.table, 'video-many'))!;
    expect(run.status).toBe('succeeded');
    expect(run.output).toMatchObject({ tracks: 5, chunks: 16, frames: 64 });
    // Only a synthetic video comes with a truth to check against.
    expect(run.output).not.toHaveProperty('check');
  }, 240_000);

  it('packages detect as a GPU job definition and lets jobs read inputs and earlier outputs', () => {
    // One definition per image and platform: the three steps share one image, detect runs on GPU (EC2).
    const defs = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Batch::JobDefinition' && r.Properties['Tags']['joinflow:workflow'] === 'video-objects');
    const byPlatform = new Map(defs.map((d) => [(d.Properties['PlatformCapabilities'] as string[])[0]!, d.Properties]));
    expect(defs).toHaveLength(2);
    expect([...byPlatform.keys()].sort()).toEqual(['EC2', 'FARGATE']);
    expect(byPlatform.get('EC2')!['ContainerProperties'].ResourceRequirements).toContainEqual({ Type: 'GPU', Value: '1' });
    expect(byPlatform.get('EC2')!['ContainerProperties'].Command).toBeUndefined();
    const role = JSON.stringify(template.Resources['BatchJobRole']!.Properties['Policies']);
    for (const prefix of ['joinflow/', 'outputs/', 'runs/']) expect(role).toContain(`\${Bucket.Arn}/${prefix}*`);
    const put = (template.Resources['BatchJobRole']!.Properties['Policies'][0].PolicyDocument.Statement as Array<{ Action: string[]; Resource: unknown }>).find((s) => s.Action.includes('s3:PutObject'))!;
    expect(put.Resource).toEqual({ 'Fn::Sub': '${Bucket.Arn}/outputs/*' });
  });
});
